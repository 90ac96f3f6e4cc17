"""Shared pieces of the benchmarks: percentiles, markdown tables, the machine line, and server launching.

The launch helpers are the eval runner's (`evals.runner`): benchmarks and evals start `hex-mcp` the same way.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp.client.stdio import get_default_environment

from evals.runner import (
    REPLAY_TTL_SECONDS,
    hex_mcp_command,
    replay_upstream,
    repo_env,
    server_env,
    stdio_client,
)

__all__ = [
    "BARE_SERVER",
    "REPLAY_TTL_SECONDS",
    "RawStdioClient",
    "hex_mcp_command",
    "machine",
    "markdown_table",
    "percentile",
    "replay_upstream",
    "repo_env",
    "server_env",
    "stdio_client",
    "verdict",
]

BARE_SERVER = Path(__file__).resolve().parent / "bare_server.py"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample: a value that was actually measured."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; numbers right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    # A column is numeric when every cell is a number or the "-" placeholder, and one at least is a number.
    numeric = [
        all(_is_number(r[i]) or r[i] == "-" for r in cells) and any(_is_number(r[i]) for r in cells)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def _is_number(text: str) -> bool:
    stripped = text.rstrip("%x").replace(",", "")
    try:
        float(stripped)
    except ValueError:
        return False
    return True


def verdict(met: bool) -> str:
    return "yes" if met else "**no**"


def machine() -> str:
    """`x86_64 · AMD EPYC · 2 CPUs · Python 3.11.7 · load 1.2`: what the numbers were measured on."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    load = ""
    if hasattr(os, "getloadavg"):
        load = f" · load avg {os.getloadavg()[0]:.1f}"
    return (
        f"{platform.machine()} · {cpu} · {os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"{platform.system()}{load}"
    )


def bare_command() -> tuple[str, list[str]]:
    """The floor: the same interpreter running a bare `MCPServer` with one echo tool."""
    return sys.executable, [str(BARE_SERVER)]


class RawStdioClient:
    """A minimal MCP client speaking newline-delimited JSON-RPC to a spawned server's stdin/stdout.

    The SDK client revalidates every structured result against the tool's output schema (jsonschema, in the
    client process); this one does not, so it times the server and the transport alone, for both servers.
    """

    PROTOCOL_VERSION = "2025-11-25"

    def __init__(self, process: Process) -> None:
        if process.stdin is None or process.stdout is None:
            raise ValueError("the process needs piped stdin and stdout")
        self.process = process
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self._next_id = 0

    @classmethod
    @asynccontextmanager
    async def spawn(
        cls, command: str, args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> AsyncIterator[RawStdioClient]:
        """Spawn and hand over the client *before* the handshake, so callers can time it."""
        full_env = {**get_default_environment(), **(env or {})}
        process = await anyio.open_process([command, *args], env=full_env, stderr=subprocess.DEVNULL)
        try:
            yield cls(process)
        finally:
            if process.stdin is not None:
                await process.stdin.aclose()  # EOF on stdin: both servers exit cleanly
            with anyio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params or {}}
        await self._stdin.send(json.dumps(message).encode() + b"\n")
        while True:
            line = await self._stdout.receive_until(b"\n", 64 * 1024 * 1024)
            reply = json.loads(line)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    async def notify(self, method: str) -> None:
        await self._stdin.send(json.dumps({"jsonrpc": "2.0", "method": method}).encode() + b"\n")

    async def initialize(self) -> dict[str, Any]:
        result = await self.request(
            "initialize",
            {
                "protocolVersion": self.PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "hex-mcp-bench", "version": "0"},
            },
        )
        await self.notify("notifications/initialized")
        return result

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.request("tools/call", {"name": name, "arguments": arguments})
        if result.get("isError"):
            raise RuntimeError(f"{name} failed: {result.get('content')}")
        return result
