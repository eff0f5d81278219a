"""`zoek serve`'s POST /v1/embeddings with the official `openai` client, on loopback: the
vectors equal the package's own (and so `zoek embed --json`'s), for passages and queries,
in the client's default base64 encoding and in floats."""

from __future__ import annotations

import queue
import subprocess
import threading

import numpy as np
import pytest

openai = pytest.importorskip("openai", reason="SKIPPED: the openai package is not installed")

TEXTS = ["Wantrouwen vanuit het dorp belemmerde de samenwerking.", "what hinders cooperation?"]


@pytest.fixture()
def server(zoek_bin, example):
    proc = subprocess.Popen(
        [str(zoek_bin), "--quiet", "serve", "--index", str(example), "--addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    try:
        line = lines.get(timeout=60)  # "zoek: serving N passages on http://ADDR/ ..."
        url = line.split("http://", 1)[1].split("/", 1)[0]
        yield f"http://{url}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_official_client_round_trip(server, engine):
    client = openai.OpenAI(base_url=server, api_key="unused-on-loopback", max_retries=0, timeout=60)
    for kwargs, expected in [
        ({}, engine.embed_passages(TEXTS)),
        ({"encoding_format": "float"}, engine.embed_passages(TEXTS)),
        ({"extra_body": {"input_type": "query"}}, engine.embed_queries(TEXTS)),
    ]:
        r = client.embeddings.create(model="multilingual-e5-small", input=TEXTS, **kwargs)
        got = np.asarray([d.embedding for d in r.data], dtype=np.float32)
        assert got.shape == expected.shape
        assert cosines(got, expected).min() >= 0.99999
        assert r.usage.prompt_tokens > 0
    one = client.embeddings.create(model="e5-query", input="wie betaalt?")
    assert len(one.data) == 1 and len(one.data[0].embedding) == engine.dim
