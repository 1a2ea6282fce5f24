"""`DelayedCalls`: each row's call once, when its delay is up, in the order the delays end."""

from __future__ import annotations

import threading

from bot.usecases.delayed import DelayedCalls


def test_calls_run_in_the_order_their_delays_end_once_per_row() -> None:
    calls = DelayedCalls()
    ran: list[str] = []
    done = threading.Event()

    def note(row_id: str) -> None:
        ran.append(row_id)
        if len(ran) == 3:
            done.set()

    try:
        calls.call(0.6, note, "late")  # the thread waits for this one…
        calls.call(0.3, note, "middle")  # …and is woken for a sooner one
        calls.call(0.3, note, "middle")  # pending already: not twice
        calls.call(0.1, note, "soon")
        assert calls.rows() == {"late", "middle", "soon"}
        assert done.wait(5)
        assert ran == ["soon", "middle", "late"]
        assert calls.rows() == set()
    finally:
        calls.stop()
