"""`bot.server`: what each gunicorn worker does with the app it builds."""

from __future__ import annotations

import gc

import pytest

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


def test_large_buffers_are_mapped_on_their_own_where_glibc_allows() -> None:
    """`serve` pins glibc's mmap threshold before forking (worker peak RSS 126 → 106 MB in
    bench/media.py); where the C library has no `mallopt` it says so and changes nothing."""
    import platform

    from bot.server import pin_mmap_threshold

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt's M_MMAP_THRESHOLD is glibc's")
    assert pin_mmap_threshold() is True
