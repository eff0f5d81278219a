"""The Spark build (zoek.spark, examples/spark/build.py) on local[2] with 4 partitions,
one partition's first attempt failing after it wrote its segment: the collection holds
every record once, the staging is gone, and it answers exactly as a single-process
`zoek index` of the same records."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli

pyspark = pytest.importorskip("pyspark", reason="python/test installs pyspark")

QUESTIONS = [
    "what hinders cooperation?",
    "wat belemmerde de samenwerking?",
    "wer hat die Initiative ergriffen?",
    "quelles formes de partenariat existent?",
]


def records(path: pathlib.Path) -> int:
    """The example corpus as JSON lines, one record per paragraph."""
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for page in sorted((ROOT / "corpus").glob("*.txt")):
            paragraphs = [p for p in page.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 40]
            for i, text in enumerate(paragraphs):
                out.write(json.dumps({"id": f"{page.stem}#{i}", "text": text, "page": page.stem}) + "\n")
                n += 1
    return n


def answers(zoek_bin, index: pathlib.Path):
    out = []
    for q in QUESTIONS:
        hits = json.loads(run_cli(zoek_bin, "ask", "--json", "--index", str(index), "-k", "5", q))["hits"]
        # Exact ties keep passage-id order, which depends on the segments; normalise them.
        hits = sorted(((h["score"], h["doc"], h["highlight"]) for h in hits), key=lambda h: (-h[0], h[1]))
        out.append(hits)
    return out


def test_spark_build_with_a_failed_attempt_equals_a_single_process_build(tmp_path, zoek_bin):
    data = tmp_path / "records.jsonl"
    n = records(data)
    assert n >= 12
    single = tmp_path / "single"
    run_cli(zoek_bin, "index", "--out", str(single), str(data))
    out = tmp_path / "spark"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/spark/build.py"), "--master", "local[2,2]",
         "--partitions", "4", "--zoek", str(zoek_bin),
         "--fail-first-attempt-of-partition", "1", str(data), str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "injected failure" in done.stderr, "the first attempt of partition 1 failed"
    stats = json.loads(run_cli(zoek_bin, "stats", "--json", "--index", str(out)))
    single_stats = json.loads(run_cli(zoek_bin, "stats", "--json", "--index", str(single)))
    assert stats["live_documents"] == single_stats["live_documents"]
    assert stats["live_passages"] == single_stats["live_passages"], "no passage twice, none missing"
    assert len(stats["segments"]) <= 4
    assert not any((out / "staging").iterdir()), "the run's staging is removed"
    run_cli(zoek_bin, "verify", "--index", str(out))
    for got, want in zip(answers(zoek_bin, out), answers(zoek_bin, single)):
        assert [h[1:] for h in got] == [h[1:] for h in want]
        for g, w in zip(got, want):
            assert abs(g[0] - w[0]) <= 1e-6, (g, w)
