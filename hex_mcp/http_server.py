"""Serving the HTTP app with uvicorn: a header deadline, a connection cap and a shutdown that lets calls finish.

uvicorn (0.54, h11) has no deadline for reading a request's headers: its keep-alive timer starts only after a
first response, so a client that connects and trickles bytes (slowloris) holds a connection, and a file
descriptor, for as long as it likes. `GuardedH11Protocol` adds both missing pieces:

- **Header deadline.** From the moment a connection waits for a request (connected, or done with the previous
  one) its headers must be complete within `header_timeout`, however slowly they arrive; otherwise it is closed.
- **Connection cap.** Past `max_connections`, the connection that has waited longest for headers is closed to
  make room (a legitimate client sends its request at once, so it is rarely the one waiting); when none is
  waiting, the new connection gets `503 Service Unavailable` and is closed. The cap stays below the process's
  file limit, so accept() never fails with "Too many open files".

`GracefulServer` stops accepting on SIGTERM, waits up to `shutdown_grace` for the calls in flight to answer,
and only then closes the event streams (sse-starlette would otherwise close them at once, answers unsent).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

import h11
import uvicorn
from sse_starlette.sse import AppStatus
from uvicorn.protocols.http.h11_impl import H11Protocol

from hex_mcp.http_guard import Saturation

log = logging.getLogger(__name__)

FD_RESERVE = 64  # descriptors kept free for the cache, the upstream clients and logging


def connection_cap(wanted: int) -> int:
    """`wanted`, lowered to fit under the process's open-file limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 41\r\nconnection: close\r\nretry-after: 1\r\n\r\n"
    b"Too many open connections; try again soon"
)


def guarded_protocol(saturation: Saturation, header_timeout: float) -> type[H11Protocol]:
    """An h11 protocol class bound to these limits (uvicorn instantiates it per connection)."""
    waiting: dict[GuardedH11Protocol, float] = {}  # connections waiting for headers, oldest first

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            saturation.connections = len(self.connections)
            if len(self.connections) > saturation.max_connections and not self._evict_one():
                saturation.refused_connections += 1
                transport.write(SERVICE_UNAVAILABLE)
                transport.close()
                return
            self._wait_for_headers()

        def _evict_one(self) -> bool:
            for victim in waiting:
                if victim is not self:
                    log.debug("connection cap reached: closing a connection still waiting for headers")
                    victim._close()
                    return True
            return False

        def _wait_for_headers(self) -> None:
            waiting[self] = time.monotonic()
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _headers_done(self) -> None:
            waiting.pop(self, None)
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            log.debug("closing a connection that sent no complete request headers in %g s", header_timeout)
            self._close()

        def _close(self) -> None:
            waiting.pop(self, None)
            if not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._headers_done()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._wait_for_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._headers_done()
            super().connection_lost(exc)
            saturation.connections = len(self.connections)

    return GuardedH11Protocol


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with a shutdown that waits for calls in flight before closing event streams."""

    def __init__(self, config: uvicorn.Config, saturation: Saturation, grace: float) -> None:
        super().__init__(config)
        self.saturation = saturation
        self.grace = grace

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting; connections already open may still finish their calls
        ends = time.monotonic() + self.grace
        # Polled: the count lives in the guard, and a signal handler is no place to wire events through.
        while self.saturation.calls_in_flight() and time.monotonic() < ends and not self.force_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if self.saturation.calls_in_flight():
            log.warning(
                "shutdown: %d call(s) still in flight after %g s; cutting them",
                self.saturation.calls_in_flight(),
                self.grace,
            )
        AppStatus.should_exit = True  # now end every event stream, so their connections close
        await super().shutdown(sockets)


def build_server(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str,
    saturation: Saturation,
    header_timeout: float,
    grace: float,
) -> GracefulServer:
    """The uvicorn server `hex-mcp --transport sse|streamable-http` runs."""
    # Streams end when GracefulServer says so, not the moment a signal arrives.
    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]  # untyped in sse-starlette
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=guarded_protocol(saturation, header_timeout),
        timeout_graceful_shutdown=2,  # after the grace period: open streams get this long to close
    )
    return GracefulServer(config, saturation, grace)
