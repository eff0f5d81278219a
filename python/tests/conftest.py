"""Fixtures shared by the tests: the repository, the zoek CLI built beside the package,
one engine of the default model, and a collection of the example corpus."""

from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

import zoek

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def zoek_bin() -> pathlib.Path:
    """The CLI of the same checkout (python/test builds it; ZOEK_BIN overrides)."""
    path = pathlib.Path(os.environ.get("ZOEK_BIN", ROOT / "target" / "release" / "zoek"))
    if not path.exists():
        pytest.fail(f"the zoek CLI is not at {path}; run python/test or set ZOEK_BIN")
    return path


@pytest.fixture(scope="session")
def engine() -> zoek.Engine:
    return zoek.Engine()


@pytest.fixture(scope="session")
def example(tmp_path_factory, engine) -> pathlib.Path:
    """The example corpus built by the Python package."""
    out = tmp_path_factory.mktemp("example") / "index"
    stats = zoek.build(ROOT / "corpus", out, engine=engine)
    assert stats["documents"] == 2 and stats["passages"] > 0
    return out


def run_cli(zoek_bin: pathlib.Path, *args: str) -> str:
    done = subprocess.run(
        [str(zoek_bin), "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
