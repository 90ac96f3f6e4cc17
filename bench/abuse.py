"""Hostile clients against the HTTP server on loopback, and what a legitimate client sees meanwhile.

    python -m bench.abuse [--seconds 4] [--slowloris 400] [--sessions 2000] [--parsers 4]

Starts the fake upstream in-process and `hex-mcp --transport streamable-http` as a subprocess with its default
limits, warms the cache, then runs one phase per attack, each bounded by `--seconds` and a count:

- `baseline`: no attack;
- `slowloris`: `--slowloris` connections that send half a request line and headers, then a byte a second;
- `session flood`: up to `--sessions` bare `initialize` POSTs, 20 at a time, none finishing the handshake;
- `parse flood`: `--parsers` concurrent `hex_outdated` calls with 199,000 characters of worst-case mix.exs,
  over and over.

During each phase a legitimate client does, every 100 ms on a new connection: `GET /healthz`, then a warm
`hex_package` call in its own session. Reported per phase: the attack's volume, legitimate calls made and failed,
p50 and max latency of the call and of `/healthz`, and what `/healthz` said at the end. Exits 1 if a legitimate
request failed or took 1 s or more.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from anyio.abc import SocketStream

from bench._common import hex_mcp_command, machine, markdown_table, percentile, replay_upstream, server_env

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "abuse", "version": "1"},
    },
}
WORST = (
    "defp deps do\n[" + ",".join('{:a, "~> 1.0", only: [:dev, :test], runtime: false}' for _ in range(4000))
)[:199_000]


@dataclass
class Seen:
    calls: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    volume: int = 0


def answer_of(response: httpx2.Response) -> Any:
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    data = [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return json.loads(data[-1])


async def tool_call(base: str, name: str, arguments: dict[str, Any], wait: float = 10) -> Any:
    async with httpx2.AsyncClient(timeout=wait) as http:
        init = await http.post(f"{base}/mcp", json=INITIALIZE, headers=HEADERS)
        init.raise_for_status()
        headers = {
            **HEADERS,
            "mcp-session-id": init.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-06-18",
        }
        await http.post(
            f"{base}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
        )
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
        response = await http.post(f"{base}/mcp", json=call, headers=headers)
        await http.delete(f"{base}/mcp", headers=headers)
        return answer_of(response)


async def legitimate(base: str, seen: Seen, stop: anyio.Event) -> None:
    while not stop.is_set():
        try:
            with anyio.fail_after(5):
                started = time.monotonic()
                async with httpx2.AsyncClient(timeout=5) as http:
                    (await http.get(f"{base}/healthz")).json()
                seen.health.append(time.monotonic() - started)
                started = time.monotonic()
                answer = await tool_call(base, "hex_package", {"name": "jason"})
                seen.calls.append(time.monotonic() - started)
                if not answer["result"]["content"][0]["text"].startswith("jason — "):
                    seen.failures.append("wrong answer")
        except Exception as exc:  # every failure is a data point to report
            seen.failures.append(type(exc).__name__)
        await anyio.sleep(0.1)


async def slowloris(port: int, count: int, seen: Seen, stop: anyio.Event) -> None:
    socks: list[SocketStream] = []
    try:
        for _ in range(count):
            try:
                sock = await anyio.connect_tcp("127.0.0.1", port)
                await sock.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
                socks.append(sock)
                seen.volume += 1
            except OSError:
                pass
        while not stop.is_set():
            for sock in socks:
                with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await sock.send(b"a")
            await anyio.sleep(1)
    finally:
        for sock in socks:
            await sock.aclose()


async def session_flood(base: str, count: int, seen: Seen, stop: anyio.Event) -> None:
    limiter = anyio.CapacityLimiter(20)

    async def one(http: httpx2.AsyncClient) -> None:
        async with limiter:
            if stop.is_set():
                return
            try:
                await http.post(f"{base}/mcp", json=INITIALIZE, headers=HEADERS)
                seen.volume += 1
            except httpx2.HTTPError:
                pass

    async with httpx2.AsyncClient(timeout=5) as http, anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one, http)


async def parse_flood(base: str, parsers: int, seen: Seen, stop: anyio.Event) -> None:
    async def one() -> None:
        while not stop.is_set():
            try:
                await tool_call(base, "hex_outdated", {"deps": WORST}, wait=30)
                seen.volume += 1
            except httpx2.HTTPError:
                pass

    async with anyio.create_task_group() as tg:
        for _ in range(parsers):
            tg.start_soon(one)


async def phase(
    base: str, seconds: float, attack: Callable[[Seen, anyio.Event], Awaitable[None]] | None
) -> tuple[Seen, dict[str, Any]]:
    seen = Seen()
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        if attack is not None:
            tg.start_soon(attack, seen, stop)
            await anyio.sleep(0.5)  # let the attack build up before measuring
        tg.start_soon(legitimate, base, seen, stop)
        await anyio.sleep(seconds)
        async with httpx2.AsyncClient(timeout=5) as http:
            health = (await http.get(f"{base}/healthz")).json()
        stop.set()
    return seen, health


def ms(values: list[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.0f}" if values else "-"


async def run(args: argparse.Namespace, port: int) -> int:
    base = f"http://127.0.0.1:{port}"
    await _wait_up(base)
    await tool_call(base, "hex_package", {"name": "jason"})  # warm
    phases: list[tuple[str, str, Callable[[Seen, anyio.Event], Awaitable[None]] | None]] = [
        ("baseline", "-", None),
        ("slowloris", "connections", lambda s, e: slowloris(port, args.slowloris, s, e)),
        ("session flood", "initialize POSTs", lambda s, e: session_flood(base, args.sessions, s, e)),
        ("parse flood", "200 KB parses", lambda s, e: parse_flood(base, args.parsers, s, e)),
    ]
    rows = []
    bad = False
    for name, unit, attack in phases:
        seen, health = await phase(base, args.seconds, attack)
        slow = [t for t in seen.calls + seen.health if t >= 1.0]
        bad = bad or bool(seen.failures) or bool(slow)
        sessions = health["sessions"]
        rows.append(
            [
                name,
                f"{seen.volume} {unit}" if attack else "-",
                len(seen.calls),
                len(seen.failures),
                ms(seen.calls, 50),
                ms(seen.calls, 100),
                ms(seen.health, 50),
                ms(seen.health, 100),
                f"{'ok' if health['ok'] else 'saturated'}; {health['connections']['open']} conn, "
                f"{sessions['open']} sessions ({sessions['pending']} pending)",
            ]
        )
    print(f"bench.abuse · {args.seconds:g} s per phase · {machine()}")
    print()
    print(
        markdown_table(
            [
                "phase",
                "attack",
                "legit calls",
                "failed",
                "call p50 ms",
                "call max ms",
                "healthz p50 ms",
                "healthz max ms",
                "/healthz at the end",
            ],
            rows,
        )
    )
    return 1 if bad else 0


async def _wait_up(base: str) -> None:
    with anyio.fail_after(20):
        while True:
            try:
                async with httpx2.AsyncClient(timeout=1) as http:
                    if (await http.get(f"{base}/healthz")).status_code == 200:
                        return
            except httpx2.TransportError:
                pass
            await anyio.sleep(0.05)


def _free_port() -> int:
    import socket  # noqa: PLC0415 - only here

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per phase")
    parser.add_argument("--slowloris", type=int, default=400, help="half-open connections")
    parser.add_argument("--sessions", type=int, default=2000, help="bare initialize POSTs at most")
    parser.add_argument("--parsers", type=int, default=4, help="concurrent worst-case hex_outdated calls")
    args = parser.parse_args()
    port = _free_port()
    with replay_upstream() as fake, tempfile.TemporaryDirectory() as cache:
        env = server_env("hexpm", Path(cache), base_url=fake.hexpm_url, ttl=None, replay=True)
        # The API path, and this checkout's code whichever checkout the installed command came from.
        env |= {
            "HEX_MCP_REGISTRY": "off",
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        proc = subprocess.Popen(
            [hex_mcp_command(), "--transport", "streamable-http", "--port", str(port)],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            code = anyio.run(run, args, port)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    sys.exit(code)


if __name__ == "__main__":
    main()
