"""`bot.server`: what each gunicorn worker does with the app it builds."""

from __future__ import annotations

import gc

from bot.server import _Server


def test_a_workers_app_is_frozen_out_of_the_garbage_collectors_reach() -> None:
    """What the app holds for good is never walked by a full collection (`gc.freeze`), whose
    pauses of 50–110 ms were the slowest acknowledgements."""
    built: list[object] = []

    def factory() -> object:
        built.append(object())
        return built[-1]

    before = gc.get_freeze_count()
    try:
        app = _Server(factory, {"workers": 1}).load()  # type: ignore[arg-type]
        assert app is built[0]
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
