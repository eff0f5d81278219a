"""examples/python/fastapi_app.py answers over HTTP (FastAPI's in-process test client: no
socket is opened)."""

from __future__ import annotations

import importlib.util

import pytest

fastapi = pytest.importorskip("fastapi", reason="SKIPPED: fastapi is not installed")
from fastapi.testclient import TestClient  # noqa: E402


def test_search_endpoint(root, example, monkeypatch):
    monkeypatch.setenv("ZOEK_INDEX", str(example))
    spec = importlib.util.spec_from_file_location("fastapi_app", root / "examples" / "python" / "fastapi_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    client = TestClient(module.app)
    r = client.get("/search", params={"q": "wat belemmert de samenwerking?", "k": 2})
    assert r.status_code == 200
    body = r.json()
    assert len(body["hits"]) == 2 and body["hits"][0]["highlight"] in body["hits"][0]["text"]
    assert client.get("/search", params={"q": "  "}).status_code == 400
    assert client.get("/search", params={"q": "x", "k": 0}).status_code == 422
    assert client.post("/refresh").json() == {"changed": False, "generation": 1}
