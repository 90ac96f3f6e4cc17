"""Latency: warm-cache tool calls to the launched `hex-mcp` over stdio vs a bare MCPServer echo tool.

    python -m bench.latency [-n 100] [--backend hexpm|oanor]

Both servers run at once. After one warm-up call per tool (which fills hex-mcp's cache from the fake
upstream), every round times one echo call (the floor) and then one call of each hex-mcp tool, interleaved, so
background load hits both sides alike. The floor is the echo tool's p50. The measured rounds must not reach
upstream (checked with the fake's hit counter): this is the cache-hit path.

Two clients are measured, one after the other, each with its target for every tool's p50:
- `raw`: newline-delimited JSON-RPC written and read by the benchmark itself: the server and the transport.
  Target: within 1.5x of the floor.
- `sdk`: the official Python MCP client (`Client(..., mode="legacy")`), which also validates each structured
  result against the tool's published output schema with jsonschema, in the client process: what a Python host
  or eval harness pays. Target: within 2x of the floor.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from bench._common import (
    REPLAY_TTL_SECONDS,
    RawStdioClient,
    bare_command,
    hex_mcp_command,
    machine,
    markdown_table,
    percentile,
    replay_upstream,
    repo_env,
    server_env,
    verdict,
)

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("hex_package", {"name": "phoenix"}),
    ("hex_releases", {"name": "phoenix", "limit": 50}),
    ("hex_release", {"name": "phoenix", "version": "1.7.14"}),
    ("hex_search", {"q": "json", "limit": 20}),
    ("hex_meta", {}),
    ("hex_diff", {"name": "phoenix", "from_version": "1.7.14", "to_version": "1.8.7"}),
    ("hex_outdated", {"deps": "jason 1.2.0\nplug 1.14.0\nphoenix ~> 1.7"}),
    (
        "hex_plan",
        {
            "deps": '%{"jason": {:hex, :jason, "1.2.0", "00", [:mix], [], "hexpm", "00"}}',
            "update": "jason",
        },
    ),
]
FLOOR = "echo (floor)"
TARGETS = {"raw": 1.5, "sdk": 2.0}
Caller = Callable[[str, dict[str, Any]], Awaitable[None]]


@asynccontextmanager
async def connect(
    kind: str, command: str, args: list[str], env: dict[str, str] | None
) -> AsyncIterator[Caller]:
    """A `call(tool, arguments)` coroutine over a fresh server process, for either client kind."""
    if kind == "raw":
        async with RawStdioClient.spawn(command, args, env) as raw:
            await raw.initialize()

            async def call_raw(tool: str, arguments: dict[str, Any]) -> None:
                await raw.call_tool(tool, arguments)

            yield call_raw
        return
    params = StdioServerParameters(command=command, args=args, env=env)
    async with Client(params, mode="legacy") as client:

        async def call_sdk(tool: str, arguments: dict[str, Any]) -> None:
            result = await client.call_tool(tool, arguments)
            if result.is_error:
                raise RuntimeError(f"{tool} failed: {result.content}")

        yield call_sdk


async def timed(call: Caller, tool: str, arguments: dict[str, Any]) -> float:
    started = time.perf_counter()
    await call(tool, arguments)
    return (time.perf_counter() - started) * 1000


async def measure(kind: str, rounds: int, backend: str) -> tuple[dict[str, list[float]], int]:
    samples: dict[str, list[float]] = {FLOOR: [], **{tool: [] for tool, _ in CALLS}}
    with replay_upstream() as fake, tempfile.TemporaryDirectory(prefix="hex-mcp-bench-") as tmp:
        base_url = fake.oanor_url if backend == "oanor" else fake.hexpm_url
        env = server_env(backend, Path(tmp), base_url=base_url, ttl=REPLAY_TTL_SECONDS, replay=True)
        env.update(repo_env(fake, Path(tmp)))  # the fake's signed registry: the default data path
        bare, bare_args = bare_command()
        async with AsyncExitStack() as stack:
            hex_mcp = await stack.enter_async_context(connect(kind, hex_mcp_command(), [], env))
            floor = await stack.enter_async_context(connect(kind, bare, bare_args, None))
            for tool, arguments in CALLS:  # warm-up: fills the cache and runs the first-call code paths
                await timed(hex_mcp, tool, arguments)
            await timed(floor, "echo", {"text": "warm-up"})
            before = fake.count()
            for _ in range(rounds):
                for tool, arguments in CALLS:
                    samples[FLOOR].append(await timed(floor, "echo", {"text": "phoenix"}))
                    samples[tool].append(await timed(hex_mcp, tool, arguments))
            upstream = fake.count() - before
    return samples, upstream


def rows_for(kind: str, samples: dict[str, list[float]]) -> tuple[list[list[object]], bool]:
    floor = percentile(samples[FLOOR], 50)
    rows: list[list[object]] = []
    met = True
    for name, values in samples.items():
        ratio = percentile(values, 50) / floor
        ok = name == FLOOR or ratio <= TARGETS[kind]
        met = met and ok
        rows.append(
            [
                kind,
                name,
                len(values),
                f"{percentile(values, 50):.2f}",
                f"{percentile(values, 90):.2f}",
                f"{percentile(values, 99):.2f}",
                f"{ratio:.2f}x",
                "-" if name == FLOOR else verdict(ok),
            ]
        )
    return rows, met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--rounds", type=int, default=100, help="measured rounds (default 100)")
    parser.add_argument("--backend", choices=("hexpm", "oanor"), default="hexpm")
    parser.add_argument("--client", choices=("raw", "sdk", "both"), default="both")
    args = parser.parse_args(argv)
    kinds = ("raw", "sdk") if args.client == "both" else (args.client,)
    rows: list[list[object]] = []
    met, upstream = True, 0
    for kind in kinds:
        samples, calls = anyio.run(measure, kind, args.rounds, args.backend)
        kind_rows, kind_met = rows_for(kind, samples)
        rows += kind_rows
        upstream += calls
        met = met and kind_met
    title = (
        f"## Warm-cache latency over stdio ({args.backend}, {args.rounds} rounds, interleaved with the floor)"
    )
    print(title + "\n")
    print(
        markdown_table(
            ["client", "call", "n", "p50 ms", "p90 ms", "p99 ms", "p50 / floor", "target (raw 1.5x, sdk 2x)"],
            rows,
        )
    )
    print(
        f"\nupstream calls during the measured rounds: {upstream} (expected 0: every answer from the cache)"
    )
    print(f"machine: {machine()}")
    ok = met and upstream == 0
    print("all targets met" if ok else "TARGET MISSED: see the rows marked **no**")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
