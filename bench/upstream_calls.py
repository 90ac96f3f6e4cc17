"""Upstream calls of a full eval run: cold without the registry, cold with it (the default), then warm.

    python -m bench.upstream_calls

Runs every case of `evals/cases.jsonl` against the fake upstream, counting requests with its hit counter: once
cold with HEX_MCP_REGISTRY=off, once cold with the default (auto), then warm (same cache dir, new server
processes). The cache TTL is set generously (`HEX_MCP_CACHE_TTL`) so nothing expires between the runs. Target
for the warm run: 0 calls. Errors are never cached as answers (an unknown package or version is asked again each
time), so the cases that expect an error are counted separately. The API calls left in the cold registry run are
listed by what they fetch: facts only the API has (release documents for the Elixir requirement, build tools and
downloads; package documents; search; meta).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import anyio

from bench._common import machine, markdown_table, replay_upstream, verdict
from evals.runner import REPLAY_TTL_SECONDS, CaseResult, SuiteOptions, api_calls, load_cases, run_suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.upstream_calls", description=__doc__.split("\n\n")[0]
    )
    parser.parse_args(argv)
    cases = load_cases()
    error_ids = {c.id for c in cases if c.expect_error}
    runs: list[tuple[str, list[CaseResult], int, float]] = []
    repo_reads: list[int] = []
    cold_paths: list[str] = []
    with replay_upstream() as fake, tempfile.TemporaryDirectory(prefix="hex-mcp-bench-") as tmp:
        plan = [
            (
                "cold, registry off",
                SuiteOptions(cache_root=Path(tmp, "off"), ttl=REPLAY_TTL_SECONDS, registry="off"),
            ),
            (
                "cold, registry auto (default)",
                SuiteOptions(cache_root=Path(tmp, "auto"), ttl=REPLAY_TTL_SECONDS),
            ),
            (
                "warm, auto (new processes)",
                SuiteOptions(cache_root=Path(tmp, "auto"), ttl=REPLAY_TTL_SECONDS),
            ),
        ]
        for label, options in plan:
            before, started = api_calls(fake), time.perf_counter()
            hits_before, repo_before = len(fake.hits), fake.count("/repo/")
            results = anyio.run(run_suite, cases, options, fake)
            runs.append((label, results, api_calls(fake) - before, time.perf_counter() - started))
            repo_reads.append(fake.count("/repo/") - repo_before)
            if label.startswith("cold, registry auto"):
                cold_paths = [h.path for h in fake.hits[hits_before:] if not h.path.startswith("/repo/")]
    rows: list[list[object]] = []
    for (label, results, calls, seconds), repo in zip(runs, repo_reads, strict=True):
        from_errors = sum(r.upstream_calls or 0 for r in results if r.id in error_ids)
        rows.append(
            [
                label,
                len(results),
                sum(1 for r in results if r.status == "pass"),
                calls,
                repo,
                from_errors,
                calls - from_errors,
                f"{sum(r.latency_ms for r in results):.0f}",
                f"{seconds:.1f}",
            ]
        )
    warm = runs[-1][1]
    warm_answers = sum(r.upstream_calls or 0 for r in warm if r.id not in error_ids)
    print(f"## Upstream calls of a full eval run ({len(cases)} cases, both backends)\n")
    print(
        markdown_table(
            [
                "run",
                "cases",
                "passed",
                "API calls",
                "registry reads",
                "from error cases",
                "from answers",
                "tool ms",
                "wall s",
            ],
            rows,
        )
    )
    repeated = [f"{r.id} ({r.upstream_calls})" for r in warm if r.upstream_calls]
    print(f"\nwarm run, cases that still reached upstream: {', '.join(repeated) or 'none'}")
    print(f"warm calls for answers (target 0): {warm_answers} — {verdict(warm_answers == 0)}")
    print(f"warm calls in total: {runs[-1][2]} (errors are not cached, by design)")
    print(f"cold API calls: {runs[0][2]} with the registry off, {runs[1][2]} with it on")
    kinds = Counter(api_kind(path) for path in cold_paths)
    print(
        "left with the registry on (facts only the API has, and unknown names confirmed): "
        + " · ".join(f"{n} {k}" for k, n in kinds.most_common())
    )
    print(f"machine: {machine()}")
    return 0 if warm_answers == 0 else 1


def api_kind(path: str) -> str:
    """What one API request fetched, by route (hex.pm's and the gateway's)."""
    route = path.split("?", maxsplit=1)[0].rstrip("/")
    if "/releases/" in route or route.endswith("/v1/release"):
        return "release documents"
    if route in ("/api/packages", "/hex-api/v1/search"):
        return "searches"
    if route.endswith("/v1/meta"):
        return "meta"
    if route.endswith("/v1/releases"):
        return "release lists"
    return "package documents"


if __name__ == "__main__":
    raise SystemExit(main())
