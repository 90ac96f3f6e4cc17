"""Many replicas, one Redis: shared answers, one quota, and Redis failures that cost no call.

    python -m bench.replicas [--replicas 3] [--calls 300] [--packages 20] [--delay 0.2]

Starts the fake upstream in-process (every API answer delayed by `--delay` seconds, so concurrent questions
really overlap), a redis-server on a free loopback port (no persistence), and `--replicas` hex-mcp processes
serving Streamable HTTP on loopback, each with its own disk cache and all on that Redis. Then three phases,
each firing `--calls` tool calls at once, spread round-robin over the replicas:

1. shared: hex_package for `--packages` distinct packages. Expected: exactly one upstream call per package, and
   the shared quota counter equal to the upstream calls.
2. redis killed: hex_release (latest) for the same packages; Redis is killed once a quarter of the questions
   have reached upstream, while the other calls are in flight. Expected: 0 failed calls (each replica falls
   back to its own cache and counters, so up to one upstream call per question per replica).
3. redis restarted: Redis comes back empty; after the replicas' retry interval, hex_search for each package
   name. Expected: exactly one upstream call per question again (shared again), 0 failed calls. The quota
   counter then holds these calls plus those the replicas made while Redis was away (added when it returned).

Prints one markdown table. Exits 1 if an expectation fails; exits 0 with one line when redis-server or the redis
client is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio

from bench._common import hex_mcp_command, machine, markdown_table, replay_upstream
from bench.load import Tally, _serving, free_port, run_round
from fakehex.redis_server import RedisServer, redis_binary
from fakehex.upstream import FakeUpstream, Fault

PASSWORD = "bench-redis-password"
PREFIX = "bench:"
RETRY_WAIT = 2.5  # a little over hex_mcp.redis_store.RETRY_SECONDS: every replica has probed Redis again
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "fakehex" / "fixtures" / "packages"


def packages(count: int) -> list[str]:
    """The first `count` fixture packages that have a stable release (hex_release asks for the latest)."""
    names = sorted(
        p.stem
        for p in PACKAGE_DIR.glob("*.json")
        if json.loads(p.read_text(encoding="utf-8")).get("latest_stable_version")
    )
    if len(names) < count:
        raise SystemExit(f"the fake upstream knows {len(names)} packages; ask for at most that many")
    return names[:count]


def replica_env(fake: FakeUpstream, redis: RedisServer, cache_dir: Path, quota: int) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HEX_MCP_BACKEND": "hexpm",
        "HEX_MCP_BASE_URL": fake.hexpm_url,
        "HEX_MCP_REGISTRY": "off",
        "HEX_MCP_CACHE_DIR": str(cache_dir),
        "HEX_MCP_MAX_RPS": "0",
        "HEX_MCP_MONTHLY_QUOTA": str(quota),
        "HEX_MCP_REDIS_URL": redis.url_without_password,
        "HEX_MCP_REDIS_PASSWORD": PASSWORD,
        "HEX_MCP_REDIS_PREFIX": PREFIX,
        "HEX_MCP_LOG_LEVEL": "WARNING",
    }


@contextmanager
def replicas(
    fake: FakeUpstream, redis: RedisServer, count: int, quota: int, tmp: Path
) -> Iterator[list[str]]:
    """`count` hex-mcp processes; their stderr goes to tmp/replicaN.log (see `warnings`)."""
    urls: list[str] = []
    with ExitStack() as stack:
        for index in range(count):
            port = free_port()
            env = replica_env(fake, redis, tmp / f"cache{index}", quota)
            args = [hex_mcp_command(), "--transport", "streamable-http", "--port", str(port)]
            log = stack.enter_context((tmp / f"replica{index}.log").open("wb"))
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log)
            health = f"http://127.0.0.1:{port}/healthz"
            stack.enter_context(contextmanager(_serving)(proc, log, "hex-mcp", health))
            urls.append(f"http://127.0.0.1:{port}/mcp")
        yield urls


def warnings(tmp: Path) -> list[str]:
    """Distinct warning lines the replicas logged (the Redis fallback says so, once a minute per replica)."""
    lines: set[str] = set()
    for log in sorted(tmp.glob("replica*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if " WARNING " in line or " ERROR " in line:
                lines.add(line.split(" ", 3)[-1][:200])
    return sorted(lines)


def shared_calls(redis: RedisServer) -> int | None:
    import redis as redis_client  # noqa: PLC0415 - checked in main

    try:
        value = redis_client.Redis.from_url(redis.url).get(
            f"{PREFIX}hexpm:calls:{time.strftime('%Y-%m', time.gmtime())}"
        )
    except redis_client.RedisError:
        return None
    return int(value) if value is not None else 0


async def phase(
    urls: list[str],
    calls: list[tuple[str, dict[str, Any]]],
    sessions_per_replica: int,
    during: Callable[[], None] | None = None,
    when: Callable[[], bool] = lambda: True,
) -> Tally:
    """All calls at once, call i on replica i mod N; `during` runs once `when` holds, while calls are in flight."""
    tally = Tally()
    per_replica: list[list[tuple[str, dict[str, Any], Callable[[str], bool]]]] = [[] for _ in urls]
    for index, (tool, args) in enumerate(calls):
        per_replica[index % len(urls)].append((tool, args, bool))

    async def fire(url: str, batch: list[tuple[str, dict[str, Any], Callable[[str], bool]]]) -> None:
        await run_round(url, batch, sessions_per_replica, "raw", tally)

    async with anyio.create_task_group() as tg:
        for url, batch in zip(urls, per_replica, strict=True):
            tg.start_soon(fire, url, batch)
        if during is not None:
            # The condition is the fake upstream's hit count, kept by its own threads: nothing to await but time.
            while not when():  # noqa: ASYNC110
                await anyio.sleep(0.01)
            during()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--packages", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=5, help="MCP sessions per replica")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the fake upstream takes per answer")
    args = parser.parse_args(argv)
    try:
        import redis  # noqa: PLC0415
    except ImportError:
        print("bench.replicas: skipped (the redis client is not installed: pip install -e '.[dev]')")
        return 0
    if redis_binary() is None:
        print("bench.replicas: skipped (redis-server is not installed; Debian: apt-get install redis-server)")
        return 0
    names = packages(args.packages)
    quota = 10 * args.calls
    rows: list[list[object]] = []
    problems: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="hexmcp-replicas-") as tmp,
        replay_upstream() as fake,
        RedisServer(password=PASSWORD) as redis,
        replicas(fake, redis, args.replicas, quota, Path(tmp)) as urls,
    ):
        fake.add_fault(Fault("delay", "/api/", seconds=args.delay))

        def record(
            name: str, tally: Tally, upstream: int, counter: object, expected_upstream: int | None
        ) -> None:
            failed = tally.launched - tally.answered + len(tally.errors)
            rows.append(
                [name, tally.launched, failed, upstream, counter, f"{max(tally.throughputs or [0]):.0f}"]
            )
            if failed:
                problems.append(f"{name}: {failed} failed calls, e.g. {tally.errors[:2]}")
            if expected_upstream is not None and upstream != expected_upstream:
                problems.append(f"{name}: {upstream} upstream calls, expected {expected_upstream}")

        def calls_for(tool: str, make: Callable[[str], dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
            return [(tool, make(names[i % len(names)])) for i in range(args.calls)]

        before = fake.count("/api/")
        tally = anyio.run(phase, urls, calls_for("hex_package", lambda n: {"name": n}), args.sessions)
        upstream = fake.count("/api/") - before
        counter = shared_calls(redis)
        record("1. shared", tally, upstream, counter, len(names))
        if counter != upstream:
            problems.append(f"1. shared: quota counter {counter} != {upstream} upstream calls")

        before = fake.count("/api/")
        killed_at: list[int] = []

        def kill() -> None:
            killed_at.append(fake.count("/api/") - before)
            redis.stop()

        tally = anyio.run(
            phase,
            urls,
            calls_for("hex_release", lambda n: {"name": n}),
            args.sessions,
            kill,
            lambda: (
                fake.count("/api/") - before >= len(names) // 4
            ),  # a quarter of the questions reached upstream
        )
        record("2. redis killed mid-run", tally, fake.count("/api/") - before, "(down)", None)
        rows[-1][0] = f"2. redis killed after {killed_at[0]} upstream calls"

        redis.start()
        time.sleep(RETRY_WAIT)
        before = fake.count("/api/")
        tally = anyio.run(phase, urls, calls_for("hex_search", lambda n: {"q": n}), args.sessions)
        upstream = fake.count("/api/") - before
        record("3. redis restarted", tally, upstream, shared_calls(redis), len(names))
        logged = warnings(Path(tmp))

    print(
        f"{args.replicas} replicas · {args.calls} concurrent calls per phase · {len(names)} packages · "
        f"upstream answers delayed {args.delay:g} s · {machine()}"
    )
    print()
    print(markdown_table(["phase", "calls", "failed", "upstream calls", "quota counter", "calls/s"], rows))
    if logged:
        print()
        print("replica warnings (distinct):")
        print("\n".join(f"  {line}" for line in logged))
    if problems:
        print()
        print("\n".join(f"FAIL {p}" for p in problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
