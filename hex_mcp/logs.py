"""Logging that cannot flood: the same message repeated is logged a few times per window, then counted.

A hostile client can make a server fail the same way thousands of times a second (refused connections, broken
requests). Each record is keyed by its logger, level, unformatted message and exception type; past `burst`
records of one key in `window` seconds the rest are dropped, and the next record of that key after the window
says how many were.
"""

from __future__ import annotations

import logging
import time

BURST = 5
WINDOW = 60.0


class RepeatFilter(logging.Filter):
    def __init__(self, burst: int = BURST, window: float = WINDOW) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._seen: dict[tuple[object, ...], list[float]] = {}  # key -> [window start, count, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
        key = (record.name, record.levelno, str(record.msg), exc)
        now = time.monotonic()
        state = self._seen.get(key)
        if state is None or now - state[0] >= self.window:
            dropped = int(state[2]) if state is not None else 0
            self._seen[key] = [now, 1, 0]
            if len(self._seen) > 10_000:  # many distinct messages: forget the oldest windows
                self._seen.pop(next(iter(self._seen)))
            if dropped:
                record.msg = (
                    f"{record.msg} [{dropped} more like this in the last {self.window:g} s were not logged]"
                )
            return True
        state[1] += 1
        if state[1] <= self.burst:
            return True
        state[2] += 1
        return False

    def reset(self) -> None:
        self._seen.clear()


_FILTER = RepeatFilter()


def reset_repeats() -> None:
    """Forget what was logged: each test (or embedding program) starts with a fresh window."""
    _FILTER.reset()


def limit_repeats() -> None:
    """Put the repeat filter on every handler of the root logger and of uvicorn's loggers."""
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
