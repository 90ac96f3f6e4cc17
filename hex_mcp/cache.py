"""The disk cache: upstream answers with their fetch time and ETag, plus the monthly call counter.

Entries are kept `ttl + stale_for` seconds: fresh for `ttl`, then still able to answer when upstream fails.
Keys hold the backend, base URL, path and sorted parameters, never a credential. diskcache is process-safe, so
several servers may share one directory. A cache that cannot be opened or written logs one warning and the server
carries on without it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import diskcache

from hex_mcp.backends import Endpoint
from hex_mcp.config import Settings

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "hex-mcp-cache/1"
_ENTRY_PREFIX = "r|"
_COUNTER_PREFIX = "calls|"


@dataclass(frozen=True)
class CacheEntry:
    data: Any
    fetched_at: float
    etag: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"data": self.data, "fetched_at": self.fetched_at, "etag": self.etag}

    @classmethod
    def from_json(cls, raw: Any) -> CacheEntry | None:
        if (
            not isinstance(raw, dict)
            or "data" not in raw
            or not isinstance(raw.get("fetched_at"), int | float)
        ):
            return None
        etag = raw.get("etag")
        return cls(raw["data"], float(raw["fetched_at"]), etag if isinstance(etag, str) else None)


def month_key(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime("%Y-%m")


class ResponseCache:
    """diskcache-backed store of upstream answers; degrades to a no-op when the disk fails."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.directory: Path | None = settings.cache_dir if settings.cache_enabled else None
        self.hits = 0
        self.misses = 0
        self._warned = False
        self._store: diskcache.Cache | None = None
        self._counters: diskcache.Cache | None = None
        self._memory_counters: dict[str, int] = {}
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._store = diskcache.Cache(
                    str(self.directory / "responses"), size_limit=settings.cache_size_mb * 1024 * 1024
                )
                # Counters live apart so that eviction of answers can never reset the month's call count.
                self._counters = diskcache.Cache(str(self.directory / "counters"), eviction_policy="none")
            except Exception as exc:
                self._disable(exc)

    @property
    def enabled(self) -> bool:
        return self._store is not None

    def _disable(self, exc: BaseException) -> None:
        if not self._warned:
            log.warning("cache disabled (%s: %s); serving without a cache", type(exc).__name__, exc)
            self._warned = True
        self._store = None
        self._counters = None

    def key(self, endpoint: Endpoint) -> str:
        query = urlencode(sorted(endpoint.params))
        return f"{_ENTRY_PREFIX}{self.settings.backend}|{self.settings.base_url}|{endpoint.path}?{query}"

    def get(self, key: str) -> CacheEntry | None:
        if self._store is None:
            return None
        try:
            raw = self._store.get(key)
        except Exception as exc:
            self._disable(exc)
            return None
        return CacheEntry.from_json(raw)

    def record_lookup(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1

    def set(self, key: str, entry: CacheEntry, ttl: int) -> None:
        if self._store is None:
            return
        try:
            self._store.set(key, entry.as_json(), expire=ttl + self.settings.stale_for)
        except Exception as exc:
            self._disable(exc)

    # -- monthly upstream call accounting ------------------------------------------------------------

    def _counter_key(self, backend: str, ts: float | None = None) -> str:
        return f"{_COUNTER_PREFIX}{backend}|{month_key(ts)}"

    def count_call(self, backend: str) -> None:
        key = self._counter_key(backend)
        if self._counters is not None:
            try:
                self._counters.incr(key, default=0)
                return
            except Exception as exc:
                self._disable(exc)
        self._memory_counters[key] = self._memory_counters.get(key, 0) + 1

    def calls_this_month(self, backend: str) -> int:
        key = self._counter_key(backend)
        if self._counters is not None:
            try:
                value = self._counters.get(key, default=0)
                return int(value) if isinstance(value, int) else 0
            except Exception as exc:
                self._disable(exc)
        return self._memory_counters.get(key, 0)

    # -- operator commands -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        entries = size = None
        if self._store is not None:
            try:
                entries = len(self._store)  # the responses store holds answers only (counters live apart)
                size = int(self._store.volume())
            except Exception as exc:
                self._disable(exc)
        lookups = self.hits + self.misses
        return {
            "dir": str(self.directory) if self.directory else None,
            "enabled": self.enabled,
            "entries": entries,
            "size_bytes": size,
            "hit_ratio": round(self.hits / lookups, 3) if lookups else None,
        }

    def _iter_keys(self) -> Iterator[str]:
        assert self._store is not None
        for key in self._store.iterkeys():
            if isinstance(key, str) and key.startswith(_ENTRY_PREFIX):
                yield key

    def clear(self) -> int:
        """Remove every cached answer (the call counter stays: it is what the month cost)."""
        if self._store is None:
            return 0
        return int(self._store.clear())

    def export(self, path: Path) -> int:
        """Write every answer to a portable JSON snapshot; returns how many."""
        entries = []
        if self._store is not None:
            for key in sorted(self._iter_keys()):
                entry = self.get(key)
                if entry is not None:
                    entries.append({"key": key[len(_ENTRY_PREFIX) :], **entry.as_json()})
        snapshot = {"format": SNAPSHOT_FORMAT, "exported_at": time.time(), "entries": entries}
        path.write_text(json.dumps(snapshot, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        return len(entries)

    def import_(self, path: Path) -> int:
        """Load a snapshot written by `export`; entries keep their original fetch time."""
        try:
            snapshot = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read snapshot {path}: {exc}") from None
        if not isinstance(snapshot, dict) or snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"{path} is not a hex-mcp cache snapshot (format {SNAPSHOT_FORMAT})")
        if self._store is None:
            raise ValueError("the cache is disabled or unwritable; nothing was imported")
        count = 0
        for raw in snapshot.get("entries") or []:
            entry = CacheEntry.from_json(raw)
            key = raw.get("key") if isinstance(raw, dict) else None
            if entry is None or not isinstance(key, str):
                continue
            # Imported answers must outlive any TTL: a replay harness reads them with --offline.
            self._store.set(_ENTRY_PREFIX + key, entry.as_json(), expire=None)
            count += 1
        return count

    def close(self) -> None:
        for store in (self._store, self._counters):
            if store is not None:
                # Closing a broken store has nothing left to save.
                with contextlib.suppress(Exception):
                    store.close()

    def cached_requests(self, limit: int = 10_000) -> list[str]:
        """`path?query` of up to `limit` answers cached from the configured backend (for completions)."""
        if self._store is None:
            return []
        prefix = f"{_ENTRY_PREFIX}{self.settings.backend}|{self.settings.base_url}|"
        found: list[str] = []
        try:
            for key in self._iter_keys():
                if key.startswith(prefix):
                    found.append(key[len(prefix) :])
                    if len(found) >= limit:
                        break
        except Exception as exc:  # a broken store means "no suggestions", never a failed request
            self._disable(exc)
        return found
