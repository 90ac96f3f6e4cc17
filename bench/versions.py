"""Versions: sorting a long release list and resolving the largest requirement against one, in process.

    python -m bench.versions [-n 30]

Workloads, each timed N times after one untimed warm-up run (fastest, median and slowest reported; the
targets apply to the median, the fastest is the figure least disturbed by other load on the machine):

1. `sort_versions` of 10,000 distinct version strings (about a third pre-releases), newest first;
2. `resolve.pick_version` on a package with 2,000 releases and a 1,024-character requirement (the most
   `Requirement.parse` admits; tool inputs are capped lower), three shapes: `==` alternatives none of which
   matches (every clause of both passes, Mix's rule then allow_pre, is evaluated for every release), `~>`
   alternatives of which only the last matches, and only the oldest release, and one long `and` group;
3. `Requirement.parse` of those requirements and `hex_pick` over the same 2,000 releases, for reference.

Versions and requirements are generated from a fixed seed; parsing the release strings is part of each
timed call, as it is in the server (the release list arrives as strings).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
from collections.abc import Callable

from bench._common import machine, markdown_table, verdict
from hex_mcp.errors import ReleaseNotFound
from hex_mcp.models import Package, ReleaseRef
from hex_mcp.resolve import pick_version
from hex_mcp.versions import Requirement, hex_pick, parse_version_arg, sort_versions

SORT_TARGET_MS = 50.0
PICK_TARGET_MS = 100.0
MAX_REQUIREMENT = 1024


def random_versions(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        text = f"{rng.randint(0, 40)}.{rng.randint(0, 40)}.{rng.randint(0, 60)}"
        if rng.random() < 0.33:
            text += "-" + rng.choice(["rc.", "beta.", "alpha.", "dev", "rc", "0.", "pre.1."])
            text = text.rstrip(".") if text.endswith(("dev", "rc")) else text + str(rng.randint(0, 12))
        seen[text] = None
    return list(seen)


def longest(clauses: list[str], joiner: str) -> str:
    """As many clauses as fit in MAX_REQUIREMENT characters."""
    text = clauses[0]
    for clause in clauses[1:]:
        if len(text) + len(joiner) + len(clause) > MAX_REQUIREMENT:
            break
        text += joiner + clause
    return text


def requirements(releases: list[str]) -> dict[str, str]:
    oldest = sort_versions(releases)[-1]
    major, minor = oldest.split(".")[:2]
    return {
        "85 `==` alternatives, no match": longest([f"== 99.0.{i}" for i in range(200)], " or "),
        # The last alternative is the only one that matches, and only the oldest release.
        "`~>` alternatives, oldest matches": " or ".join(
            [*(f"~> {100 + i}.0" for i in range(80)), f"~> {major}.{minor}.0"]
        ),
        "`and` group": longest([">= 0.0.1"] * 200, " and ")[: -len(" and >= 0.0.1")] + " and < 99.0.0",
    }


def timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm-up: imports, regex compilation, first allocations
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versions", description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=30, help="timed runs per workload (default 30)")
    args = parser.parse_args(argv)

    sort_input = random_versions(10_000, seed=1)
    release_list = random_versions(2_000, seed=2)
    package = Package(name="bench", releases=[ReleaseRef(version=v) for v in sort_versions(release_list)])

    rows: list[list[object]] = []
    met = True

    def row(name: str, times: list[float], target: float | None) -> None:
        nonlocal met
        median = statistics.median(times)
        ok = target is None or median < target
        met = met and ok
        rows.append(
            [
                name,
                f"{min(times):.2f}",
                f"{median:.2f}",
                f"{max(times):.2f}",
                "-" if target is None else f"{target:.0f}",
                "(report)" if target is None else verdict(ok),
            ]
        )

    row("sort_versions, 10,000 versions", timed(lambda: sort_versions(sort_input), args.runs), SORT_TARGET_MS)
    for label, text in requirements(release_list).items():
        assert len(text) <= MAX_REQUIREMENT, (label, len(text))
        Requirement.parse(text)  # the workload must be a valid requirement

        def pick(text: str = text) -> None:
            # The no-match shape raises once both passes have run over every release.
            with contextlib.suppress(ReleaseNotFound):
                pick_version(package, "bench", parse_version_arg(text))

        row(
            f"pick_version, 2,000 releases, {label} ({len(text)} chars)",
            timed(pick, args.runs),
            PICK_TARGET_MS,
        )

        def parse(text: str = text) -> None:
            Requirement.parse(text)

        req = Requirement.parse(text)

        def pick_hex(req: Requirement = req) -> None:
            hex_pick(release_list, req)

        row(f"Requirement.parse, {label}", timed(parse, args.runs), None)
        row(f"hex_pick, 2,000 releases, {label}", timed(pick_hex, args.runs), None)

    print(f"## Versions: in-process timings ({args.runs} runs each, milliseconds)\n")
    print(markdown_table(["workload", "min ms", "median ms", "max ms", "target ms", "met"], rows))
    print(f"\n{machine()}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
