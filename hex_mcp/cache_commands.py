"""`hex-mcp cache ...`: operator and eval-harness commands over the disk cache.

Results go to stdout (they are the command's output); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from hex_mcp.cache import ResponseCache
from hex_mcp.config import Settings
from hex_mcp.errors import HexError
from hex_mcp.service import HexService


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def run_cache_command(settings: Settings, args: argparse.Namespace) -> int:
    action = args.cache_command
    if action == "warm":
        return anyio.run(warm, settings, list(args.names))
    cache = ResponseCache(settings)
    try:
        if action == "stats":
            stats = cache.stats()
            quota = settings.monthly_quota if settings.monthly_quota is not None else "unlimited"
            _out(f"dir: {stats.dir or 'disabled'}")
            _out(f"entries: {stats.entries if stats.entries is not None else '?'}")
            _out(f"size: {stats.size_bytes if stats.size_bytes is not None else '?'} bytes")
            _out(
                f"upstream calls this month ({settings.backend}): {cache.calls_this_month(settings.backend)}"
                f" · quota: {quota}"
            )
            return 0
        if action == "clear":
            _out(f"removed {cache.clear()} entries from {cache.directory}")
            return 0
        if action == "export":
            _out(f"exported {cache.export(args.file)} entries to {args.file}")
            return 0
        if action == "import":
            try:
                count = cache.import_(args.file)
            except ValueError as exc:
                _err(f"hex-mcp: {exc}")
                return 1
            _out(f"imported {count} entries into {cache.directory}")
            return 0
    finally:
        cache.close()
    return 2


async def warm(settings: Settings, names: list[str]) -> int:
    """Fetch package, releases and the latest stable release of each name; one progress line per package."""
    service = HexService(settings)
    failures = 0
    try:
        for index, name in enumerate(names, 1):
            try:
                await service.package(name)
                releases = await service.releases(name, limit=1)
                release = await service.release(name, None)
            except HexError as exc:
                failures += 1
                _err(f"[{index}/{len(names)}] {name}: failed — {exc}")
                continue
            _err(
                f"[{index}/{len(names)}] {name}: ok ({releases.total} releases, latest stable "
                f"{release.release.version})"
            )
    finally:
        await service.aclose()
    _out(f"warmed {len(names) - failures} of {len(names)} packages into {service.cache.directory}")
    return 1 if failures else 0
