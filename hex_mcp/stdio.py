"""Serving MCP on stdin/stdout: until the host closes stdin, or SIGTERM/SIGINT arrives, with a clean exit.

The SDK's own stdio loop reads stdin in a worker thread that cancellation must wait for, so a signal with the
host's pipe still open would hang the server. Here stdin is read by a daemon thread instead, and a signal cancels
the session at once; either way the server's lifespan closes the cache.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server


async def _run_until_signal(run: Callable[[], Awaitable[None]]) -> None:
    """Serve until the client closes stdin or SIGTERM/SIGINT arrives; either way the lifespan closes the cache."""
    async with anyio.create_task_group() as tg:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch_signals)
        await run()
        tg.cancel_scope.cancel()


async def serve_stdio(mcp: MCPServer[Any]) -> None:
    """Serve `mcp` on stdin/stdout until stdin closes or SIGTERM/SIGINT arrives."""
    await _run_until_signal(lambda: _serve(mcp))


async def _serve(mcp: MCPServer[Any]) -> None:
    """`mcp.run_stdio_async()`, except that stdin is read by `_StdinLines`."""
    lowlevel = mcp._lowlevel_server  # the SDK offers no public way to serve on streams of our choosing
    lines = _StdinLines(sys.stdin.fileno())
    try:
        # stdio_server types stdin as an AsyncFile, but only iterates it line by line.
        async with stdio_server(stdin=lines) as (read, write):  # type: ignore[arg-type]
            await lowlevel.run(read, write, lowlevel.create_initialization_options())
    finally:
        lines.close()


class _StdinLines:
    """The host's stdin, line by line, read by a daemon thread.

    The SDK reads stdin in an anyio worker thread, which cancellation must wait for: on SIGTERM with the
    host's pipe still open, the server would hang until the next line arrived. A daemon thread is left behind;
    it reads the descriptor with `os.read`, so it holds no lock that interpreter shutdown would wait for.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._send, self._receive = anyio.create_memory_object_stream[str](16)

    def __aiter__(self) -> _StdinLines:
        token = anyio.lowlevel.current_token()
        threading.Thread(target=self._pump, args=(token,), name="hex-mcp stdin", daemon=True).start()
        return self

    async def __anext__(self) -> str:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._send.close()
        self._receive.close()

    def _pump(self, token: anyio.lowlevel.EventLoopToken) -> None:
        stopped = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.RunFinishedError)
        try:
            for raw in _split_lines(self._fd):
                anyio.from_thread.run(self._send.send, raw.decode("utf-8", errors="replace"), token=token)
        except (*stopped, OSError, ValueError):
            return  # the server stopped listening, or stdin broke: nothing more to deliver
        with contextlib.suppress(*stopped):
            anyio.from_thread.run_sync(self._send.close, token=token)  # EOF: end the session


def _split_lines(fd: int) -> Iterator[bytes]:
    """The lines read from `fd` until EOF, each with its newline (the last one may lack it)."""
    pending = bytearray()
    while chunk := os.read(fd, 65536):
        pending += chunk
        while (end := pending.find(b"\n")) >= 0:
            yield bytes(pending[: end + 1])
            del pending[: end + 1]
    if pending:
        yield bytes(pending)
