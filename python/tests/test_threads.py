"""The GIL is released while zoek works, and Python threads sharing collections get the
answers one thread gets.

No speed bar here: how much faster four threads answer is measured by
`python/bench/threads.py`, not asserted in a unit test on a shared machine."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

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


def test_threads_share_collections_and_get_one_threads_answers(example):
    collections = [zoek.Collection(example, zoek.Engine(threads=1)) for _ in range(2)]
    expected = [[(h.doc, h.passage) for h in collections[0].ask(q)] for q in QUESTIONS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(
            pool.map(
                lambda iq: [(h.doc, h.passage) for h in collections[iq[0] % 2].ask(iq[1])],
                enumerate(QUESTIONS),
            )
        )
    assert got == expected


def _python_progress_during(call) -> tuple[float, float]:
    """Runs `call` while another Python thread counts, and returns (increments per second
    during the call, increments per second with the main thread asleep)."""
    count = 0
    stop = threading.Event()

    def counter() -> None:
        nonlocal count
        while not stop.is_set():
            count += 1

    worker = threading.Thread(target=counter)
    worker.start()
    try:
        # Alone: the main thread sleeps, which releases the GIL.
        c0, t0 = count, time.perf_counter()
        time.sleep(0.3)
        alone = (count - c0) / (time.perf_counter() - t0)
        c0, t0 = count, time.perf_counter()
        call()
        during = (count - c0) / (time.perf_counter() - t0)
    finally:
        stop.set()
        worker.join()
    return during, alone


def test_the_gil_is_released_during_native_work():
    # A call that holds the GIL stops every other Python thread for its whole length (the
    # interpreter can only switch threads between bytecodes of the holder); one that
    # releases it lets a counting thread run at close to its own speed. The margin between
    # the two is some fifty-fold, so this does not hang on the machine's speed.
    engine = zoek.Engine(threads=1)
    texts = [f"passage {i}: de vrijwilligers van de zorgcoöperatie werken samen met de gemeente." for i in range(48)]
    engine.embed_passages(texts[:2])  # warm the pool
    during, alone = _python_progress_during(lambda: engine.embed_passages(texts))
    print(f"counting thread: {during:.0f}/s during embed_passages, {alone:.0f}/s alone")
    assert during > 0.2 * alone, f"Python ran at {during / alone:.3f}× its speed during the call"
