"""How much sooner four Python threads answer than one, same questions, same run.

    python python/bench/threads.py [--rounds 5] [--index DIR]

Two engines of one embedder thread each, so the only parallelism is Python threads running
zoek calls at once (which they can because every call releases the GIL). Without --index the
example corpus is built into a temporary directory first. Rounds interleave the two ways;
best-of and medians are printed as JSON with the CPU's model name.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import zoek

ROOT = pathlib.Path(__file__).resolve().parents[2]
QUESTIONS = [
    "what hinders cooperation?",
    "wat belemmert de samenwerking?",
    "Was behindert die Zusammenarbeit?",
    "qu'est-ce qui freine la coopération ?",
    "wie nam het initiatief?",
    "how many care cooperatives are there?",
    "waarom werken zorgcoöperaties samen?",
    "welche Rolle spielt die Gemeinde?",
] * 4


def cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--index", type=pathlib.Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index
        if index is None:
            index = pathlib.Path(tmp) / "index"
            zoek.build(ROOT / "corpus", index)
        collections = [zoek.Collection(index, zoek.Engine(threads=1)) for _ in range(2)]

        def sequential() -> float:
            start = time.perf_counter()
            for q in QUESTIONS:
                collections[0].ask(q)
            return time.perf_counter() - start

        def threaded() -> float:
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda iq: collections[iq[0] % 2].ask(iq[1]), enumerate(QUESTIONS)))
            return time.perf_counter() - start

        sequential(), threaded()  # warm
        one, four = [], []
        for _ in range(args.rounds):
            one.append(sequential())
            four.append(threaded())
    print(
        json.dumps(
            {
                "cpu": cpu_name(),
                "questions": len(QUESTIONS),
                "one_thread_ms": {"best": min(one) * 1e3, "median": statistics.median(one) * 1e3},
                "four_threads_ms": {"best": min(four) * 1e3, "median": statistics.median(four) * 1e3},
                "ratio_best": min(four) / min(one),
                "ratio_median": statistics.median(four) / statistics.median(one),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
