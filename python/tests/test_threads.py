"""The GIL is released while zoek works: Python threads asking at once finish sooner than
one thread asking the same questions in turn."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import zoek

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


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="SKIPPED: needs two cores")
def test_four_threads_answer_faster_than_one(example):
    # Two engines of one embedder thread each: an engine's own pool runs one forward pass
    # at a time (with the default thread count a single question already uses every
    # core), so parallelism here can only come from Python threads running zoek calls at
    # the same time, which they do only if every call releases the GIL.
    collections = [zoek.Collection(example, zoek.Engine(threads=1)) for _ in range(2)]
    expected = [[h.doc for h in collections[0].ask(q)] for q in QUESTIONS]

    def sequential() -> float:
        start = time.perf_counter()
        got = [[h.doc for h in collections[0].ask(q)] for q in QUESTIONS]
        assert got == expected
        return time.perf_counter() - start

    def threaded() -> float:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            got = list(
                pool.map(lambda iq: [h.doc for h in collections[iq[0] % 2].ask(iq[1])], enumerate(QUESTIONS))
            )
        assert got == expected
        return time.perf_counter() - start

    # Best of three of each, interleaved, against the machine's noise.
    one, four = [], []
    for _ in range(3):
        one.append(sequential())
        four.append(threaded())
    ratio = min(four) / min(one)
    print(f"1 thread {min(one) * 1e3:.1f} ms, 4 threads {min(four) * 1e3:.1f} ms, ratio {ratio:.2f}")
    assert ratio < 0.8, f"4 threads took {ratio:.2f}× the time of one"
