"""Repeated identical log records are limited per window, then counted in the next one that passes."""

from __future__ import annotations

import logging

import pytest

from hex_mcp.logs import RepeatFilter


def record(
    msg: str, *args: object, level: int = logging.ERROR, exc: type[BaseException] | None = None
) -> logging.LogRecord:
    exc_info = (exc, exc(), None) if exc is not None else None
    return logging.LogRecord("uvicorn.error", level, __file__, 1, msg, args, exc_info)


def test_a_burst_passes_then_repeats_are_dropped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("hex_mcp.logs.time.monotonic", lambda: now[0])
    flood = RepeatFilter(burst=3, window=60)
    passed = [flood.filter(record("accept failed: %s", i, exc=OSError)) for i in range(1000)]
    assert passed == [True] * 3 + [False] * 997
    # Another message, level or exception type is another key.
    assert flood.filter(record("accept failed: %s", 1, exc=ValueError))
    assert flood.filter(record("something else"))
    assert flood.filter(record("accept failed: %s", 1, level=logging.WARNING, exc=OSError))
    now[0] += 61
    later = record("accept failed: %s", 5, exc=OSError)
    assert flood.filter(later)
    assert later.getMessage() == "accept failed: 5 [997 more like this in the last 60 s were not logged]"


def test_the_filter_sits_on_the_handlers() -> None:
    from hex_mcp.logs import _FILTER, limit_repeats

    handler = logging.StreamHandler()
    logging.getLogger("uvicorn.error").addHandler(handler)
    try:
        limit_repeats()
        assert _FILTER in handler.filters
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)
