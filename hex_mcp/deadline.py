"""One deadline for a whole question: queueing (rate governor, single flight, lookup slots) included.

`upstream` bounds each upstream call by HEX_MCP_TIMEOUT, but a call can wait before its request goes out: behind
the rate governor, behind another caller's identical request, for a free lookup slot. `bounded` starts the clock
when the question is asked, so the caller hears back within HEX_MCP_TIMEOUT whatever it waited for.
"""

from __future__ import annotations

import contextvars
import functools
import math
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import anyio

from hex_mcp.errors import UpstreamUnavailable

# The question's own timeout fires this much after its deadline: the upstream call, bounded by the deadline itself,
# times out first, so stale-if-error can still answer; this one catches waits that no upstream call bounds.
GRACE = 0.25
P = ParamSpec("P")
R = TypeVar("R")

# anyio's clock time by which the current question must be answered; inf outside a bounded question.
_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("call_deadline", default=math.inf)


def deadline() -> float:
    """When the current question must be answered (`anyio.current_time()` clock); inf when unbounded."""
    return _deadline.get()


def bounded(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Bound a service method by `self.settings.timeout`, counted from the call; nested calls keep the outer one."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        timeout: float = args[0].settings.timeout  # type: ignore[attr-defined]  # a HexService method's self
        outer = _deadline.get()
        if outer != math.inf:
            return await method(*args, **kwargs)
        ends = anyio.current_time() + timeout
        token = _deadline.set(ends)
        started = time.monotonic()
        try:
            with anyio.fail_after(timeout + GRACE):
                return await method(*args, **kwargs)
        except TimeoutError:
            raise UpstreamUnavailable(
                f"The answer did not come within {timeout:g} s (HEX_MCP_TIMEOUT; "
                f"{time.monotonic() - started:.1f} s spent, waiting for the upstream included). "
                "Try again in a minute; raise HEX_MCP_TIMEOUT if your network is slow."
            ) from None
        finally:
            _deadline.reset(token)

    return wrapper
