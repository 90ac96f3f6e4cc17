"""Cold start: spawn → `initialize` → first `tools/list` answer, `hex-mcp` vs a bare MCPServer, median of N.

    python -m bench.cold_start [-n 15] [--profile]

Runs alternate between the two servers so background load hits both alike; one untimed run of each comes first
(it fills the OS file cache and creates hex-mcp's cache directory, as on a machine where it already ran). The
client is the benchmark's own newline-delimited JSON-RPC writer, so client-side imports and validation are not
counted. Target: hex-mcp's median within 1.3x of the bare server's.

`--profile` adds `python -X importtime` for both: which imports dominate hex-mcp's extra start time.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from bench._common import (
    RawStdioClient,
    bare_command,
    hex_mcp_command,
    machine,
    markdown_table,
    median,
    percentile,
    server_env,
    verdict,
)

TARGET = 1.3


async def one_start(command: str, args: list[str], env: dict[str, str] | None) -> float:
    started = time.perf_counter()
    async with RawStdioClient.spawn(command, args, env) as client:
        await client.initialize()
        tools = await client.request("tools/list")
        elapsed = (time.perf_counter() - started) * 1000
        if not tools.get("tools"):
            raise RuntimeError(f"{command}: tools/list answered no tools")
    return elapsed


async def measure(runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"hex-mcp": [], "bare MCPServer": []}
    bare, bare_args = bare_command()
    with tempfile.TemporaryDirectory(prefix="hex-mcp-bench-") as tmp:
        # No upstream is needed to list tools; an unroutable base URL proves no call is made at start.
        env = server_env("hexpm", Path(tmp), base_url="http://127.0.0.1:9/api", ttl=None, replay=True)
        await one_start(hex_mcp_command(), [], env)
        await one_start(bare, bare_args, None)
        for _ in range(runs):
            times["hex-mcp"].append(await one_start(hex_mcp_command(), [], env))
            times["bare MCPServer"].append(await one_start(bare, bare_args, None))
    return times


def import_times(code: str) -> dict[str, int]:
    """module -> self import time (µs) from `python -X importtime -c code`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    times: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            times[match.group(2)] = int(match.group(1))
    return times


def extra_imports(top: int = 12) -> tuple[list[list[object]], float, float]:
    """What hex-mcp imports beyond the bare server, by top-level package: (rows, extra ms, bare ms)."""
    hex_mcp = import_times("import hex_mcp.cli, hex_mcp.server")
    bare = import_times("import mcp.server.mcpserver")
    groups: dict[str, tuple[int, int]] = {}
    for module, micros in hex_mcp.items():
        if module not in bare:
            package = module.split(".")[0]
            total, count = groups.get(package, (0, 0))
            groups[package] = (total + micros, count + 1)
    ordered = sorted(groups.items(), key=lambda item: -item[1][0])
    rows: list[list[object]] = [[p, n, f"{us / 1000:.1f}"] for p, (us, n) in ordered[:top]]
    return rows, sum(us for us, _ in groups.values()) / 1000, sum(bare.values()) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="timed runs of each server (default 15)")
    parser.add_argument("--profile", action="store_true", help="also show the slowest imports of each")
    args = parser.parse_args(argv)
    times = anyio.run(measure, args.runs)
    floor = median(times["bare MCPServer"])
    ratio = median(times["hex-mcp"]) / floor
    met = ratio <= TARGET
    rows = [
        [
            name,
            len(values),
            f"{median(values):.0f}",
            f"{min(values):.0f}",
            f"{percentile(values, 90):.0f}",
            f"{median(values) / floor:.2f}x",
            "-" if name != "hex-mcp" else verdict(met),
        ]
        for name, values in times.items()
    ]
    print(
        f"## Cold start: spawn to first tools/list answer over stdio ({args.runs} runs each, alternating)\n"
    )
    print(
        markdown_table(["server", "runs", "median ms", "min ms", "p90 ms", "median / bare", "<= 1.3x"], rows)
    )
    if args.profile:
        rows_extra, extra_ms, bare_ms = extra_imports()
        print(
            f"\nimports hex-mcp adds to the bare server's ({bare_ms:.0f} ms of imports): {extra_ms:.0f} ms, "
            "by package (self time, one `python -X importtime` run):\n"
        )
        print(markdown_table(["package", "modules", "ms"], rows_extra))
    print(f"\nmachine: {machine()}")
    print(
        "all targets met"
        if met
        else "TARGET MISSED: hex-mcp starts more than 1.3x slower than the bare server"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
