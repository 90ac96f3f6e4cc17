"""Upstream calls of a full eval run: cold (empty cache), then warm (same cache dir, new server processes).

    python -m bench.upstream_calls

Runs every case of `evals/cases.jsonl` twice against the fake upstream, counting requests with its hit
counter. The cache TTL is set generously (`HEX_MCP_CACHE_TTL`) so nothing expires between the runs. Target for
the warm run: 0 calls. Errors are never cached as answers (an unknown package or version is asked again each
time), so the cases that expect an error are counted separately.
"""

from __future__ import annotations

import argparse
import tempfile
import time
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
    with replay_upstream() as fake, tempfile.TemporaryDirectory(prefix="hex-mcp-bench-") as tmp:
        options = SuiteOptions(cache_root=Path(tmp), ttl=REPLAY_TTL_SECONDS)
        for label in ("cold (empty cache)", "warm (same cache, new processes)"):
            before, started = api_calls(fake), time.perf_counter()
            repo_before = fake.count("/repo/")
            results = anyio.run(run_suite, cases, options, fake)
            runs.append((label, results, api_calls(fake) - before, time.perf_counter() - started))
            repo_reads.append(fake.count("/repo/") - repo_before)
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
    cold_calls = runs[0][2]
    print(f"cold API calls (target ≤ 15, registry on): {cold_calls} — {verdict(cold_calls <= 15)}")
    print(f"machine: {machine()}")
    return 0 if warm_answers == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
