"""Cache: tool-call latency and upstream calls per run, cold vs warm, for the launched `hex-mcp` over stdio.

    python -m bench.cache [-r 5] [--backend hexpm|oanor|both]

Each round starts with an empty cache directory and makes the same 8 calls four times:

1. cold: new process, empty cache: every distinct request goes upstream;
2. warm: the same process again: answers from the cache (and this process's parsed-entry memo);
3. warm, restarted: a new process on the same cache directory: answers from disk;
4. expired: a new process with `HEX_MCP_CACHE_TTL=0`: every entry is stale, so each request is revalidated
   (hex.pm: `If-None-Match` with the stored ETag, answered 304 without a body; the gateway has no ETags and
   sends the full answer again).

Upstream calls come from the fake upstream's hit counter; latency is timed with the benchmark's own JSON-RPC
client (server + transport only). The fake answers on loopback in about a millisecond, so the cold figures are
a lower bound: against hex.pm each upstream call adds a network round trip (typically 50-300 ms).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from bench._common import (
    REPLAY_TTL_SECONDS,
    RawStdioClient,
    hex_mcp_command,
    machine,
    markdown_table,
    percentile,
    replay_upstream,
    repo_env,
    server_env,
)

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("hex_package", {"name": "phoenix"}),
    ("hex_releases", {"name": "phoenix", "limit": 50}),
    ("hex_release", {"name": "phoenix", "version": "1.7.14"}),
    ("hex_package", {"name": "ecto"}),
    ("hex_release", {"name": "hackney", "version": "1.23.0"}),
    ("hex_package", {"name": "jason"}),
    ("hex_search", {"q": "json", "limit": 20}),
    ("hex_search", {"q": "depends:plug", "limit": 20}),
]
RUNS = ("cold", "warm", "warm, restarted", "expired (TTL 0)")


async def one_pass(client: RawStdioClient) -> list[float]:
    times = []
    for tool, arguments in CALLS:
        started = time.perf_counter()
        await client.call_tool(tool, arguments)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def measure(backend: str, rounds: int) -> dict[str, tuple[list[float], list[int]]]:
    """run -> (per-call latencies over all rounds, upstream calls of each round)."""
    data: dict[str, tuple[list[float], list[int]]] = {run: ([], []) for run in RUNS}
    with replay_upstream() as fake:
        base_url = fake.oanor_url if backend == "oanor" else fake.hexpm_url
        for _ in range(rounds):
            fake.reset()  # also restores the fake's rate-limit window, so no round waits for a reset
            with tempfile.TemporaryDirectory(prefix="hex-mcp-bench-") as tmp:
                env = server_env(backend, Path(tmp), base_url=base_url, ttl=REPLAY_TTL_SECONDS, replay=True)
                env.update(repo_env(fake, Path(tmp) / "key"))  # the fake's signed registry: the default path
                expired = {**env, "HEX_MCP_CACHE_TTL": "0"}

                async def record(run: str, client: RawStdioClient) -> None:
                    before = fake.count()
                    data[run][0].extend(await one_pass(client))
                    data[run][1].append(fake.count() - before)

                async with RawStdioClient.spawn(hex_mcp_command(), [], env) as client:
                    await client.initialize()
                    await record("cold", client)
                    await record("warm", client)
                async with RawStdioClient.spawn(hex_mcp_command(), [], env) as client:
                    await client.initialize()
                    await record("warm, restarted", client)
                async with RawStdioClient.spawn(hex_mcp_command(), [], expired) as client:
                    await client.initialize()
                    await record("expired (TTL 0)", client)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cache", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-r", "--rounds", type=int, default=5, help="rounds, each from an empty cache (default 5)"
    )
    parser.add_argument("--backend", choices=("hexpm", "oanor", "both"), default="both")
    args = parser.parse_args(argv)
    backends = ("hexpm", "oanor") if args.backend == "both" else (args.backend,)
    rows: list[list[object]] = []
    for backend in backends:
        data = anyio.run(measure, backend, args.rounds)
        cold_p50 = percentile(data["cold"][0], 50)
        for run in RUNS:
            latencies, upstream = data[run]
            p50 = percentile(latencies, 50)
            rows.append(
                [
                    backend,
                    run,
                    len(CALLS),
                    f"{statistics.mean(upstream):.1f}",
                    f"{p50:.2f}",
                    f"{percentile(latencies, 90):.2f}",
                    f"{statistics.mean(latencies) * len(CALLS):.1f}",
                    f"{cold_p50 / p50:.1f}x",
                ]
            )
    print(f"## Cache: cold vs warm over stdio ({args.rounds} rounds of {len(CALLS)} calls per run)\n")
    print(
        markdown_table(
            ["backend", "run", "calls", "upstream calls", "p50 ms", "p90 ms", "ms per run", "speed-up"],
            rows,
        )
    )
    print("\nupstream calls: mean per run of 8 calls (hex.pm: package and releases share one request, so a")
    print("cold run needs 7); speed-up: cold p50 / this run's p50")
    print(f"machine: {machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
