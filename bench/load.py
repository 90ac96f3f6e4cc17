"""Load over Streamable HTTP: hex-mcp against a bare-SDK echo server, measured in the same run.

    python -m bench.load [--sessions 20] [--calls 10] [--rounds 3] [--client raw|sdk]

Starts the fake upstream in-process, `hex-mcp --transport streamable-http` and `bench/echo_server.py` as
subprocesses on free loopback ports, warms hex-mcp's cache (one call per question asked later), then runs
rounds. In a round, `--sessions` MCP sessions are opened first (not timed), then every session launches its
`--calls` tool calls at once: sessions x calls calls in flight together (200 by default). The rounds alternate
between the two servers so background load hits both alike.

Reported per server: calls, errors, lost responses, throughput (calls / wall time of the round, median over
rounds) and p50/p99/max latency of single calls over all rounds. hex-mcp's calls are a mix of hex_package,
hex_releases and hex_search over ten packages, each answer checked against its expected first line; the echo
server's must return their text. The fake's hit counter proves the measured calls never reached upstream.

Clients: `raw` (default) speaks JSON-RPC over httpx2 itself and reads the one SSE event each POST answers
with, so it times the servers and the transport; `sdk` uses the official `mcp.Client`, which also revalidates
every structured result against the tool's output schema in this process. The servers share the machine with
the client: on a 2-CPU machine the figures are a floor for what a server alone could do.

Exits 1 if any call failed, returned a wrong answer or got none, or if a measured call reached upstream.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench._common import (
    REPLAY_TTL_SECONDS,
    hex_mcp_command,
    machine,
    markdown_table,
    percentile,
    replay_upstream,
    server_env,
)

PACKAGES = [
    "phoenix",
    "jason",
    "plug",
    "ecto",
    "telemetry",
    "decimal",
    "mime",
    "plug_cowboy",
    "cowboy",
    "bandit",
]
PROTOCOL_VERSION = "2025-11-25"
ECHO_SERVER = Path(__file__).resolve().parent / "echo_server.py"

Check = Callable[[str], bool]
Caller = Callable[[str, dict[str, Any]], Awaitable[tuple[bool, str]]]  # -> (is_error, first text block)


def starts_with(prefix: str) -> Check:
    return lambda text: text.startswith(prefix)


def equals(expected: str) -> Check:
    return lambda text: text == expected


def hex_calls(count: int) -> list[tuple[str, dict[str, Any], Check]]:
    """`count` calls cycling through three tools and ten packages, each with a check of its answer."""
    calls: list[tuple[str, dict[str, Any], Check]] = []
    for i in range(count):
        name = PACKAGES[i % len(PACKAGES)]
        kind = (i // len(PACKAGES)) % 3
        if kind == 0:
            calls.append(("hex_package", {"name": name}, starts_with(f"{name} — ")))
        elif kind == 1:
            calls.append(("hex_releases", {"name": name, "limit": 5}, starts_with(f"{name}: ")))
        else:
            calls.append(("hex_search", {"q": name, "limit": 5}, starts_with(f'search "{name}"')))
    return calls


def echo_calls(count: int) -> list[tuple[str, dict[str, Any], Check]]:
    return [("echo", {"text": f"echo {i}"}, equals(f"echo {i}")) for i in range(count)]


# -- clients ------------------------------------------------------------------------------------------------


class RawHttpSession:
    """One MCP session over Streamable HTTP, spoken directly: initialize, then POSTed tools/call requests."""

    def __init__(self, http: httpx2.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        self._next_id = 0

    async def _post(self, message: dict[str, Any]) -> dict[str, Any] | None:
        response = await self.http.post(self.url, content=json.dumps(message), headers=self.headers)
        response.raise_for_status()
        if "id" not in message:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            reply: dict[str, Any] = response.json()
            return reply
        for line in response.text.splitlines():  # one SSE event carries the answer
            if line.startswith("data:"):
                event: dict[str, Any] = json.loads(line[5:])
                if event.get("id") == message["id"]:
                    return event
        raise RuntimeError(f"no answer to request {message['id']}")

    async def initialize(self) -> None:
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "load", "version": "0"},
        }
        response = await self.http.post(
            self.url,
            content=json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}),
            headers=self.headers,
        )
        response.raise_for_status()
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = PROTOCOL_VERSION
        await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
        self._next_id += 1
        request = {
            "jsonrpc": "2.0",
            "id": self._next_id,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
        reply = await self._post(request)
        if reply is None or "result" not in reply:
            raise RuntimeError(f"{name}: {reply}")
        result = reply["result"]
        return bool(result.get("isError")), str(result["content"][0]["text"])


@asynccontextmanager
async def open_session(url: str, client: str, calls_per_session: int) -> AsyncIterator[Caller]:
    pool = calls_per_session + 2  # every call of a session in flight at once, each on its own connection
    limits = httpx2.Limits(max_connections=pool, max_keepalive_connections=pool)
    async with httpx2.AsyncClient(timeout=60, limits=limits) as http:
        if client == "raw":
            raw = RawHttpSession(http, url)
            await raw.initialize()
            yield raw.call_tool
            return
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as sdk:

            async def call(name: str, arguments: dict[str, Any]) -> tuple[bool, str]:
                result = await sdk.call_tool(name, arguments)
                return bool(result.is_error), str(getattr(result.content[0], "text", ""))

            yield call


# -- a round ------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    throughputs: list[float] = field(default_factory=list)
    launched: int = 0
    answered: int = 0
    errors: list[str] = field(default_factory=list)


async def run_round(
    url: str, calls: list[tuple[str, dict[str, Any], Check]], sessions: int, client: str, tally: Tally | None
) -> None:
    """Open `sessions` sessions, then fire all calls at once (call i on session i mod sessions)."""
    per_session = -(-len(calls) // sessions)
    async with AsyncExitStack() as stack:
        callers = [
            await stack.enter_async_context(open_session(url, client, per_session)) for _ in range(sessions)
        ]
        latencies: list[float] = []
        errors: list[str] = []
        answered = 0

        async def one(index: int) -> None:
            nonlocal answered
            tool, args, check = calls[index]
            began = time.perf_counter()
            try:
                is_error, text = await callers[index % sessions](tool, args)
            except Exception as exc:
                errors.append(f"{tool} {args}: {type(exc).__name__}: {exc}")
                return
            latencies.append(time.perf_counter() - began)
            answered += 1
            if is_error or not check(text):
                errors.append(f"{tool} {args}: unexpected answer {text[:120]!r}")

        started = time.perf_counter()
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for index in range(len(calls)):
                    tg.start_soon(one, index)
        wall = time.perf_counter() - started
    if tally is not None:
        tally.latencies += latencies
        tally.throughputs.append(len(calls) / wall)
        tally.launched += len(calls)
        tally.answered += answered
        tally.errors += errors


# -- servers ------------------------------------------------------------------------------------------------


def free_port() -> int:
    import socket  # noqa: PLC0415 - only here

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def spawned(args: list[str], env: dict[str, str] | None, health: str) -> Iterator[None]:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log)
        yield from _serving(proc, log, args[0], health)


def _serving(proc: subprocess.Popen[bytes], log: Any, what: str, health: str) -> Iterator[None]:
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{what} exited: {log.read().decode(errors='replace')}")
            try:
                if httpx2.get(health, timeout=0.5).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summary_row(name: str, tally: Tally) -> list[object]:
    ms = [x * 1000 for x in tally.latencies] or [0.0]
    return [
        name,
        tally.launched,
        len(tally.errors),
        tally.launched - tally.answered,
        f"{statistics.median(tally.throughputs):.0f}" if tally.throughputs else "-",
        f"{percentile(ms, 50):.1f}",
        f"{percentile(ms, 99):.1f}",
        f"{max(ms):.1f}",
    ]


async def measure(args: argparse.Namespace, hex_url: str, echo_url: str, hits: Callable[[], int]) -> int:
    total = args.sessions * args.calls
    hex_work, echo_work = hex_calls(total), echo_calls(total)
    # Warm-up: every distinct question once (fills the cache), then one untimed round per server.
    await run_round(hex_url, hex_work[: len(PACKAGES) * 3], 1, args.client, None)
    await run_round(hex_url, hex_work, args.sessions, args.client, None)
    await run_round(echo_url, echo_work, args.sessions, args.client, None)
    before = hits()
    tallies = {"hex-mcp": Tally(), "bare SDK echo": Tally()}
    for _ in range(args.rounds):
        await run_round(hex_url, hex_work, args.sessions, args.client, tallies["hex-mcp"])
        await run_round(echo_url, echo_work, args.sessions, args.client, tallies["bare SDK echo"])
    upstream = hits() - before

    headers = ["server", "calls", "errors", "lost", "calls/s", "p50 ms", "p99 ms", "max ms"]
    print(
        f"Streamable HTTP, {args.sessions} sessions x {args.calls} concurrent calls = {total} in flight, "
        f"{args.rounds} rounds per server, client: {args.client}\n"
    )
    print(markdown_table(headers, [summary_row(name, tally) for name, tally in tallies.items()]))
    hex_p50 = percentile(tallies["hex-mcp"].latencies, 50)
    echo_p50 = percentile(tallies["bare SDK echo"].latencies, 50)
    ratio = hex_p50 / echo_p50
    print(f"\nhex-mcp p50 / echo p50: {ratio:.2f}x · upstream requests while measuring: {upstream}")
    print(f"machine: {machine()}")
    failures = [e for t in tallies.values() for e in t.errors]
    lost = sum(t.launched - t.answered for t in tallies.values())
    for error in failures[:10]:
        print(f"error: {error}", file=sys.stderr)
    if failures or lost or upstream:
        summary = f"{len(failures)} errors, {lost} lost responses, {upstream} upstream requests"
        print(f"FAILED: {summary}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="MCP sessions per round (default 20)")
    parser.add_argument("--calls", type=int, default=10, help="concurrent calls per session (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per server (default 3)")
    parser.add_argument("--client", choices=["raw", "sdk"], default="raw")
    args = parser.parse_args(argv)
    with replay_upstream() as fake, tempfile.TemporaryDirectory(prefix="hex-mcp-load-") as cache_dir:
        hex_port, echo_port = free_port(), free_port()
        cache = Path(cache_dir)
        env = server_env("hexpm", cache, base_url=fake.hexpm_url, ttl=REPLAY_TTL_SECONDS, replay=True)
        # Popen passes the environment as is: keep the user's, minus any hex-mcp setting or key of theirs.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HEX_", "OANOR_"))} | env
        hex_args = [hex_mcp_command(), "--transport", "streamable-http", "--port", str(hex_port)]
        echo_args = [sys.executable, str(ECHO_SERVER), "--port", str(echo_port)]
        with (
            spawned(hex_args, env, f"http://127.0.0.1:{hex_port}/healthz"),
            spawned(echo_args, None, f"http://127.0.0.1:{echo_port}/healthz"),
        ):
            hex_url, echo_url = f"http://127.0.0.1:{hex_port}/mcp", f"http://127.0.0.1:{echo_port}/mcp"
            return anyio.run(measure, args, hex_url, echo_url, fake.count)


if __name__ == "__main__":
    raise SystemExit(main())
