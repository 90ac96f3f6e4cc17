"""hex_diff's changelog: time to read a release tarball, honest or hostile, and hex_diff with and without it.

    python -m bench.changelog [-n 7]

Tarball rows time `read_changelog` alone (SHA-256, outer tar, bounded gunzip, inner tar) on tarballs built in
memory: a package of 400 source files (about 1.4 MB unpacked) with its changelog at the end of the archive, the
same with the changelog first, and the hostile ones the tests use (each stops at its bound). Each row is the median
and the fastest of N runs after one warm-up.

hex_diff rows run the in-process server against the fake upstream on loopback: a cold call (fresh cache: registry
or API reads, the tarball, the read, o200k counting) and a warm one (everything from the cache).

Target: reading an honest 400-file package takes at most 100 ms; a warm hex_diff with its changelog at most 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from bench._common import machine, markdown_table, verdict
from fakehex.changelogs import KEEP_A_CHANGELOG
from fakehex.tarballs import Entry, gzip, hex_tarball, many_members_tar, outer_sha256, zero_member_gz
from fakehex.upstream import FakeUpstream
from hex_mcp.config import Settings
from hex_mcp.server import create_server
from hex_mcp.tarball import TarballError, read_changelog

READ_TARGET_MS = 100.0
WARM_DIFF_TARGET_MS = 50.0


def _source_files(count: int) -> list[Entry]:
    rng = random.Random(7)
    words = [
        "def",
        "defp",
        "case",
        "with",
        "end",
        "do",
        "socket",
        "conn",
        "state",
        "opts",
        "{:ok,",
        "}",
        "|>",
    ]
    return [
        Entry(f"lib/mod_{i}.ex", " ".join(rng.choice(words) for _ in range(600)).encode())
        for i in range(count)
    ]


def tarballs() -> dict[str, bytes]:
    files = _source_files(400)
    changelog = Entry("CHANGELOG.md", KEEP_A_CHANGELOG.encode())
    return {
        "400 files, changelog last": hex_tarball([*files, changelog]),
        "400 files, changelog first": hex_tarball([changelog, *files]),
        "gzip bomb (32 MiB of zeros)": hex_tarball(contents_gz=zero_member_gz("big.bin", 32 * 1024 * 1024)),
        "100,000 members": hex_tarball(contents_gz=gzip(many_members_tar(100_000))),
        "20 MB changelog": hex_tarball({"CHANGELOG.md": b"- another line of release notes\n" * 655_360}),
        "symlink named CHANGELOG.md": hex_tarball(
            [Entry("CHANGELOG.md", kind=tarfile.SYMTYPE, linkname="/etc/passwd")]
        ),
    }


def time_read(body: bytes, runs: int) -> tuple[list[float], str]:
    expected = outer_sha256(body)

    def once() -> str:
        try:
            return f"{read_changelog(body, expected_sha256=expected).name}"
        except TarballError as exc:
            return exc.reason

    outcome = once()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append((time.perf_counter() - start) * 1000)
    return times, outcome


async def time_diff(runs: int) -> dict[str, list[float]]:
    cold: list[float] = []
    warm: list[float] = []
    args = {"name": "quillmark", "from_version": "1.6.0", "to_version": "1.8.0"}
    with FakeUpstream() as fake:
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as cache_dir:
                settings = Settings(
                    registry="off", cache_dir=Path(cache_dir), retries=0, repo_url=fake.repo_url
                ).with_backend("hexpm", fake.hexpm_url)
                async with Client(create_server(settings)) as client:
                    for sample in (cold, warm):
                        start = time.perf_counter()
                        result = await client.call_tool("hex_diff", args)
                        sample.append((time.perf_counter() - start) * 1000)
                        assert not result.is_error
    return {"hex_diff cold (registry off)": cold, "hex_diff warm (registry off)": warm}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.changelog")
    parser.add_argument("-n", type=int, default=7, help="timed runs per row (default 7)")
    args = parser.parse_args()
    rows: list[list[object]] = []
    honest_ms = 0.0
    for label, body in tarballs().items():
        times, outcome = time_read(body, args.n)
        rows.append(
            [
                label,
                f"{len(body) / 1024:.0f} KB",
                outcome,
                f"{statistics.median(times):.1f}",
                f"{min(times):.1f}",
            ]
        )
        if label.startswith("400 files, changelog last"):
            honest_ms = statistics.median(times)
    diff = anyio.run(time_diff, args.n)
    for label, times in diff.items():
        rows.append([label, "-", "shown", f"{statistics.median(times):.1f}", f"{min(times):.1f}"])
    print(machine())
    print(markdown_table(["case", "tarball", "outcome", "median ms", "min ms"], rows))
    warm = statistics.median(diff["hex_diff warm (registry off)"])
    met = honest_ms <= READ_TARGET_MS and warm <= WARM_DIFF_TARGET_MS
    print(
        f"\ntarget met: {verdict(met)} (honest read {honest_ms:.1f} ms, target {READ_TARGET_MS:.0f}; "
        f"warm hex_diff {warm:.1f} ms, target {WARM_DIFF_TARGET_MS:.0f})"
    )


if __name__ == "__main__":
    main()
