"""hex_plan on a 40-dependency Phoenix lock against the fake upstream's signed registry: time, reads and tokens.

    python -m bench.plan [-n 5]

One in-process service per scenario, fresh cache: the first call reads every registry file the plan needs (cold),
the next N answer from the cache (warm; each disk read is verified again). Scenarios: one package updated from a
lock alone; `--all` over the same lock aged one release per package (nearly every line changes); a target the app
cannot reach (a conflict). Target: cold within the 10 s deadline, answers within their token budgets (900 for a
plan, 300 for a conflict).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from bench._common import machine, markdown_table, verdict
from evals.runner import count_tokens
from fakehex.upstream import FakeUpstream
from hex_mcp import render
from hex_mcp.config import Settings
from hex_mcp.service import HexService
from tests.test_plan_tool import APP, LOCK, _aged

DEADLINE_MS = 10_000.0


async def _run(settings: Settings, deps: str, update: str, target: str | None, runs: int) -> list[object]:
    service = HexService(settings)
    try:
        started = time.perf_counter()
        view = await service.plan(deps, update, target)
        cold = (time.perf_counter() - started) * 1000
        warm = []
        for _ in range(runs):
            started = time.perf_counter()
            view = await service.plan(deps, update, target)
            warm.append((time.perf_counter() - started) * 1000)
        text = render.plan(view)
        budget = 300 if view.outcome == "conflict" else 900
        ok = cold <= DEADLINE_MS and count_tokens(text) <= budget
        return [
            view.outcome,
            len(view.changes),
            view.packages_read,
            f"{cold:.0f}",
            f"{statistics.median(warm):.0f}",
            f"{count_tokens(text)}/{budget}",
            ok,
        ]
    finally:
        await service.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="warm runs per scenario")
    args = parser.parse_args(argv)
    rows: list[list[object]] = []
    with FakeUpstream() as fake, tempfile.TemporaryDirectory(prefix="hex-mcp-bench-") as tmp:
        scenarios = [
            ("update phoenix (lock)", LOCK, "phoenix", None),
            ("--all (aged lock)", _aged(LOCK, fake), "all", None),
            ("target phoenix ~> 1.8", APP, "phoenix", "phoenix ~> 1.8"),
        ]
        for i, (label, deps, update, target) in enumerate(scenarios):
            settings = Settings(
                base_url=fake.hexpm_url,
                cache_dir=Path(tmp) / str(i),
                registry="auto",
                repo_url=fake.repo_url,
                repo_public_key=fake.repo_public_key_pem,
            )
            rows.append([label, *anyio.run(_run, settings, deps, update, target, args.n)])
    print("## hex_plan on a 40-dependency lock (fake upstream, signed registry, fresh cache)\n")
    headers = ["scenario", "outcome", "changes", "files read", "cold ms", "warm ms", "tokens/budget"]
    print(markdown_table(headers, [row[:-1] for row in rows]))
    ok = all(bool(row[-1]) for row in rows)
    print(f"\ncold within {DEADLINE_MS:.0f} ms and answers within budget: {verdict(ok)}")
    print(f"machine: {machine()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
