"""`hex-mcp cache ...`: operator and eval-harness commands over the disk cache and, when HEX_MCP_REDIS_URL is set,
the shared Redis store.

Results go to stdout (they are the command's output); progress goes to stderr. With Redis: `stats` adds the
store's state, its answers and the shared call count; `clear` empties both tiers (the call counters stay);
`export` writes the answers of both, the newer copy where both hold one; `import` loads into both, giving the
shared copies the longest TTL plus the stale window so that Redis stays bounded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from hex_mcp.cache import SNAPSHOT_FORMAT, CacheEntry, ResponseCache
from hex_mcp.config import Settings
from hex_mcp.errors import HexError
from hex_mcp.redis_store import RedisStore, open_store
from hex_mcp.service import HexService


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def run_cache_command(settings: Settings, args: argparse.Namespace) -> int:
    action = args.cache_command
    if action == "warm":
        return anyio.run(warm, settings, list(args.names))
    if settings.redis_url is not None:
        return anyio.run(shared_command, settings, args)
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
    into = f"{service.cache.directory}" + (f" and redis {service.shared.where}" if service.shared else "")
    _out(f"warmed {len(names) - failures} of {len(names)} packages into {into}")
    return 1 if failures else 0


async def shared_command(settings: Settings, args: argparse.Namespace) -> int:
    """stats, clear, export and import over both the disk cache and the shared Redis store."""
    store = open_store(settings)
    assert store is not None
    cache = ResponseCache(settings)
    try:
        return await _shared_action(settings, args, cache, store)
    finally:
        await store.aclose()
        cache.close()


async def _shared_action(
    settings: Settings, args: argparse.Namespace, cache: ResponseCache, store: RedisStore
) -> int:
    action = args.cache_command
    down = f"redis {store.where} is unavailable ({{}}); check HEX_MCP_REDIS_URL and that Redis runs"
    if action == "stats":
        stats = cache.stats()
        info = await store.info()
        answers = await store.answer_keys()
        shared_calls = await store.calls(settings.backend)
        quota = settings.monthly_quota if settings.monthly_quota is not None else "unlimited"
        _out(f"dir: {stats.dir or 'disabled'}")
        _out(f"entries: {stats.entries if stats.entries is not None else '?'}")
        _out(f"size: {stats.size_bytes if stats.size_bytes is not None else '?'} bytes")
        _out(f"shared store: {info.text()} under {settings.redis_prefix!r}")
        _out(f"shared answers: {len(answers) if isinstance(answers, list) else '?'}")
        calls = shared_calls if isinstance(shared_calls, int) else "?"
        _out(
            f"upstream calls this month ({settings.backend}): {calls} shared, "
            f"{cache.calls_this_month(settings.backend)} by this host · quota: {quota}"
        )
        return 0 if info.connected else 1
    if action == "clear":
        removed = await store.clear_answers()
        if not isinstance(removed, int):
            _err("hex-mcp: " + down.format(store.last_error))
            return 1
        _out(f"removed {cache.clear()} entries from {cache.directory} and {removed} from redis {store.where}")
        return 0
    if action == "export":
        return await _export(cache, store, args.file, down)
    if action == "import":
        return await _import(settings, cache, store, args.file, down)
    return 2


async def _export(cache: ResponseCache, store: RedisStore, path: Path, down: str) -> int:
    keys = await store.answer_keys()
    if not isinstance(keys, list):
        _err("hex-mcp: " + down.format(store.last_error))
        return 1
    local = cache.export(path)  # the disk cache's answers, then the shared ones merged in
    snapshot = _read_json(path)
    merged: dict[str, dict[str, object]] = {e["key"]: e for e in snapshot["entries"]}
    shared = 0
    for answer_key in keys:
        cache_key = store.cache_key_of(answer_key)
        entry = await store.get_entry(cache_key) if cache_key is not None else None
        if cache_key is None or not isinstance(entry, CacheEntry):
            continue
        short = cache_key[len("r|") :]
        held = merged.get(short)
        if held is None or float(str(held["fetched_at"])) < entry.fetched_at:
            merged[short] = {"key": short, **entry.as_json()}
        shared += 1
    snapshot = {
        "format": SNAPSHOT_FORMAT,
        "exported_at": time.time(),
        "entries": sorted(merged.values(), key=lambda e: str(e["key"])),
    }
    _write_json(path, snapshot)
    _out(f"exported {len(merged)} entries to {path} ({local} from {cache.directory}, {shared} from redis)")
    return 0


async def _import(settings: Settings, cache: ResponseCache, store: RedisStore, path: Path, down: str) -> int:
    try:
        local = cache.import_(path)
    except ValueError as exc:
        _err(f"hex-mcp: {exc}")
        return 1
    snapshot = _read_json(path)
    keep = max(settings.ttls.as_dict().values())
    shared = 0
    for raw in snapshot.get("entries") or []:
        entry = CacheEntry.from_json(raw)
        key = raw.get("key") if isinstance(raw, dict) else None
        if entry is None or not isinstance(key, str):
            continue
        if await store.set_entry("r|" + key, entry, keep + settings.stale_for):
            shared += 1
        elif not store.connected:
            _err("hex-mcp: " + down.format(store.last_error))
            return 1
    _out(f"imported {local} entries into {cache.directory} and {shared} into redis {store.where}")
    return 0


# A one-shot command, not a server: blocking file I/O is fine here (async only to speak to Redis).
def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
