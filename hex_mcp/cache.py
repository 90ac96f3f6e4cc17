"""The disk cache: upstream answers with their fetch time and ETag, plus the monthly call counter.

Entries are kept `ttl + stale_for` seconds: fresh for `ttl`, then still able to answer when upstream fails.
Keys hold the backend, base URL, path and sorted parameters, never a credential. diskcache is process-safe, so
several servers may share one directory. A cache that cannot be opened or written logs one warning and the server
carries on without it.

Whoever can write to the cache directory must not be able to run code in the server, nor make it read or write
outside that directory. The layout and the rules that follow from that:

- **Data, never code.** An answer is stored as JSON text, a counter as an SQLite integer, and every key is a str.
  diskcache's own `Disk` pickles any other key or value and unpickles whatever a row's `mode` column claims to
  be; `_DataDisk` replaces it: it refuses to store anything but str and int, and a row whose mode is not "raw
  inline value" (a pickle, a value file) is refused on read without being opened or loaded. A key row that is
  not raw reads as an opaque marker, so listing keys never unpickles either.
- **Values live inline in SQLite, never in value files.** diskcache writes values of 32 KiB and more to files
  named by a `filename` column and opens, reads and deletes `directory/filename` when asked. With no value files
  there is nothing to follow: a row naming a file is refused, and deleting a row never deletes a file (the name
  could be `../../anything`).
- **No symlinks, FIFOs or hard links where the cache opens files.** Python's sqlite3 cannot pass O_NOFOLLOW, and
  SQLite resolves a symlinked `cache.db` and puts its `-wal`/`-shm` files next to the target. So before each
  connection opens, the store directory and `cache.db`, `cache.db-wal`, `cache.db-shm`, `cache.db-journal` are
  checked with lstat (missing is fine; anything but a real directory or a regular single-linked file is
  refused); after it opens, the file SQLite reports must be that very file (same device and inode), or the
  connection is closed and the cache refused. The cache directory itself must not be a symlink either. The
  window between check and open remains; narrowing it further would need a SQLite VFS of our own, and a
  directory we create is private (0700).
- **Settings from the database are not trusted.** diskcache keeps its settings in the database and applies
  every `sqlite_*` row as a `PRAGMA` (formatted into SQL) and every other row as an attribute. `_SafeCache` pins
  the known settings to ours and ignores the rest.
- **One bad entry is dropped alone.** A value that is not ours, not JSON, the wrong shape or over the size bound
  is deleted and read as a miss; only a failure of the store itself (an unreadable database, a full disk)
  disables the cache.
- **Old pickle caches are dropped, never read.** The directory carries a format marker file. Without it (or with
  another format), `responses/` came from a version that pickled answers: it is deleted, with one log notice,
  before anything opens it. The counters are kept: they were always plain SQLite integers under str keys, they
  are what the month has cost, and they are read through `_DataDisk` like everything else. The marker is
  housekeeping, not a defence: a planted marker only means old rows are refused one at a time as they are met.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import diskcache
from diskcache.core import ENOVAL, METADATA, MODE_RAW

from hex_mcp.backends import Endpoint
from hex_mcp.config import Settings

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "hex-mcp-cache/1"
DIR_FORMAT = "hex-mcp-cache-dir/2"  # 2: JSON values inline in SQLite; 1 (no marker): pickled values
FORMAT_FILE = "FORMAT"
_ENTRY_PREFIX = "r|"
_COUNTER_PREFIX = "calls|"
_DB_FILES = ("cache.db", "cache.db-wal", "cache.db-shm", "cache.db-journal")
_MARKER_MAX_BYTES = 256
# Windows has neither flag; there the lstat checks stand alone.
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_COUNTER_VALUE_LIMIT = 64 * 1024  # counter rows hold a short key and an integer
_STORE_SETTINGS: dict[str, Any] = dict(diskcache.DEFAULT_SETTINGS)
# A database's own Settings rows may name only these, and never with a value of their choosing (see _SafeCache).
_KNOWN_SETTINGS = frozenset(_STORE_SETTINGS) | frozenset(METADATA)
_PINNED_SETTINGS = {k: v for k, v in _STORE_SETTINGS.items() if k.startswith(("sqlite_", "disk_"))}


class UnsafeCacheDir(OSError):
    """The cache directory holds something the cache must not open (a symlink, a FIFO, a hard link)."""


class _ForeignValue(ValueError):
    """A row this code did not write: a pickle, a value file, or a value of the wrong type."""


class _ForeignKey:
    """What a non-raw (pickled) key reads as: never unpickled, never equal to a str."""

    def __repr__(self) -> str:
        return "<foreign key>"


_FOREIGN_KEY = _ForeignKey()


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
            or isinstance(raw.get("fetched_at"), bool)
        ):
            return None
        etag = raw.get("etag")
        return cls(raw["data"], float(raw["fetched_at"]), etag if isinstance(etag, str) else None)


@dataclass(frozen=True)
class CacheStats:
    """What `ResponseCache.stats` reports."""

    dir: str | None
    enabled: bool
    entries: int | None
    size_bytes: int | None
    hit_ratio: float | None


def month_key(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime("%Y-%m")


def encode_entry(entry: CacheEntry) -> str:
    """The stored form of an answer: JSON text. Raises TypeError/ValueError for data that is not JSON."""
    return json.dumps(entry.as_json(), ensure_ascii=False, separators=(",", ":"))


def decode_entry(raw: object) -> CacheEntry | None:
    """The answer a stored value holds, or None when it is not one this code wrote."""
    if not isinstance(raw, str):
        return None
    try:
        return CacheEntry.from_json(json.loads(raw))
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        return None


# -- filesystem checks ---------------------------------------------------------------------------------------


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _require_real_dir(path: Path, *, create: bool) -> None:
    """`path` is a directory and not a symlink to one; created private (0700) when missing and `create`."""
    st = _lstat(path)
    if st is None and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another server created it first; checked just below
            path.mkdir(mode=0o700)
        st = _lstat(path)
    if st is None:
        raise FileNotFoundError(f"cache directory {path} does not exist")
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeCacheDir(
            f"{path} is a symbolic link; the cache only uses a real directory, so that nothing planted there can "
            "redirect its reads and writes. Point HEX_MCP_CACHE_DIR (or --cache-dir) at a real directory"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"cache path {path} is not a directory")


def _check_store_files(directory: Path) -> None:
    """Refuse a store whose database files could lead SQLite outside `directory` (see the module docstring)."""
    _require_real_dir(directory, create=False)
    for name in _DB_FILES:
        path = directory / name
        st = _lstat(path)
        if st is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeCacheDir(f"{path} is a symbolic link; remove it (the cache never creates one)")
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeCacheDir(f"{path} is not a regular file; remove it")
        if st.st_nlink > 1:
            raise UnsafeCacheDir(f"{path} is hard-linked elsewhere ({st.st_nlink} links); remove it")


def _check_opened(con: sqlite3.Connection, directory: Path) -> None:
    """SQLite reports the file it really opened: it must be `directory/cache.db` itself, not a symlink's target.

    Compared by identity (device and inode), not by path text, which differs in case or form on some systems.
    """
    expected = directory / "cache.db"
    opened = [row[2] for row in con.execute("PRAGMA database_list").fetchall() if row[1] == "main"]
    try:
        same = len(opened) == 1 and os.path.samestat(os.stat(opened[0]), os.lstat(expected))
    except OSError:
        same = False
    if not same:
        raise UnsafeCacheDir(f"the cache database {expected} resolved to {opened!r}; remove it")


def _read_marker(root: Path) -> str | None:
    """The directory's format marker, read without following a symlink and at most `_MARKER_MAX_BYTES`."""
    path = root / FORMAT_FILE
    st = _lstat(path)
    if st is None:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeCacheDir(f"{path} is not a regular file; remove it")
    # O_NONBLOCK: a FIFO swapped in after the lstat must not hang the server on open.
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeCacheDir(f"{path} is not a regular file; remove it")
        return os.read(fd, _MARKER_MAX_BYTES).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)


def _write_marker(root: Path) -> None:
    # mkstemp creates a new file (O_EXCL) and os.replace swaps the name itself, never a symlink's target.
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".format-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(DIR_FORMAT + "\n")
        os.replace(tmp, root / FORMAT_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _drop_old_format(root: Path) -> None:
    """Delete answers written by a version that pickled them, before anything opens them."""
    marker = _read_marker(root)
    if marker == DIR_FORMAT:
        return
    old = root / "responses"
    st = _lstat(old)
    if st is not None:
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise UnsafeCacheDir(f"{old} is not a real directory; remove it")
        if _read_marker(root) == DIR_FORMAT:
            return  # another server converted the directory meanwhile: `responses/` is already new
        log.warning(
            "cache at %s is in an older format (%s); its cached answers were dropped unread and will be "
            "fetched again",
            root,
            f"format {marker!r}" if marker else "pickled values",
        )
        # rmtree never follows symlinks inside the tree. Errors are left alone: whatever stays behind is
        # still never unpickled (_DataDisk refuses it), only not reclaimed.
        shutil.rmtree(old, ignore_errors=True)
    _write_marker(root)


def cache_dir_problem(directory: Path) -> str | None:
    """Why the cache would refuse `directory` (a symlink, a planted file), or None; creates nothing.

    For `hex-mcp doctor`, which otherwise only sees that the directory is writable.
    """
    try:
        if _lstat(directory) is None:
            return None  # created on first use
        _require_real_dir(directory, create=False)
        _read_marker(directory)
        for name in ("responses", "counters"):
            if _lstat(directory / name) is not None:
                _check_store_files(directory / name)
    except OSError as exc:
        return str(exc)
    return None


# -- diskcache, restricted to data -----------------------------------------------------------------------------


class _DataDisk(diskcache.Disk):  # type: ignore[misc]  # diskcache is untyped
    """diskcache's serializer, limited to str keys and str/int values kept inline in SQLite."""

    def __init__(self, directory: str, **_ignored: Any) -> None:
        # disk_* settings (file threshold, pickle protocol) mean nothing here; a database naming others must not
        # be able to break opening the store.
        super().__init__(directory)

    def put(self, key: Any) -> tuple[str, bool]:
        if type(key) is not str:
            raise TypeError(f"cache keys are str, not {type(key).__name__}")
        return key, True

    def get(self, key: Any, raw: Any) -> Any:
        return key if raw and type(key) is str else _FOREIGN_KEY

    def store(self, value: Any, read: bool, key: Any = None) -> tuple[int, int, None, Any]:
        if read or type(value) not in (str, int):
            raise TypeError(f"the cache stores JSON text and integers, not {type(value).__name__}")
        return 0, MODE_RAW, None, value

    def fetch(self, mode: Any, filename: Any, value: Any, read: bool) -> Any:
        if mode != MODE_RAW or filename is not None or type(value) not in (str, int):
            raise _ForeignValue(
                f"a row this cache did not write (mode {mode!r}, file {filename is not None})"
            )
        return value

    def remove(self, file_path: Any) -> None:
        """Nothing to do: no value files are ever written, and a row's file name is not to be trusted."""

    def filename(self, key: Any = None, value: Any = None) -> tuple[str, str]:
        raise TypeError("the cache keeps every value inline; it never creates value files")


class _SafeCache(diskcache.Cache):  # type: ignore[misc]  # diskcache is untyped
    """A diskcache.Cache that checks its files before every connection and ignores settings stored in the db."""

    def __init__(self, directory: Path, value_limit: int, **settings: Any) -> None:
        self._checked_directory = directory
        self._value_limit = value_limit
        super().__init__(str(directory), disk=_DataDisk, **{**_STORE_SETTINGS, **settings})

    def reset(self, key: str, value: Any = ENOVAL, update: bool = True) -> Any:
        if key not in _KNOWN_SETTINGS:
            return None  # a row planted in the Settings table: never an attribute, never a PRAGMA
        if key in _PINNED_SETTINGS:
            value = _PINNED_SETTINGS[key]
        return super().reset(key, value, update)

    @property
    def _con(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "con", None) is not None and getattr(local, "pid", None) == os.getpid():
            return local.con  # type: ignore[no-any-return]  # set below, always a Connection
        _check_store_files(self._checked_directory)
        con: sqlite3.Connection = super()._con
        try:
            _check_opened(con, self._checked_directory)
            # Bounds every value read or written: a planted multi-GB row fails alone instead of filling memory.
            con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self._value_limit)
        except BaseException:
            self.close()
            raise
        return con


def _require_str_key(key: object) -> None:
    # A caller's mistake, not a disk failure: raise rather than disable the cache (diskcache would pickle it).
    if type(key) is not str:
        raise TypeError(f"cache keys are str (see ResponseCache.key), not {type(key).__name__}")


def _open_store(directory: Path, value_limit: int, **settings: Any) -> _SafeCache:
    _require_real_dir(directory, create=True)
    return _SafeCache(directory, value_limit, **settings)


class ResponseCache:
    """diskcache-backed store of upstream answers; degrades to a no-op when the disk fails."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.directory: Path | None = settings.cache_dir if settings.cache_enabled else None
        self.hits = 0
        self.misses = 0
        self._warned = False
        self._dropped = 0
        self._store: _SafeCache | None = None
        self._counters: _SafeCache | None = None
        self._memory_counters: dict[str, int] = {}
        # JSON re-encoding of a parsed body is never more than twice its size; the rest is the envelope.
        self._value_limit = 2 * settings.max_body_bytes + 64 * 1024
        if self.directory is not None:
            try:
                _require_real_dir(self.directory, create=True)
                _drop_old_format(self.directory)
                self._store = _open_store(
                    self.directory / "responses",
                    self._value_limit,
                    size_limit=settings.cache_size_mb * 1024 * 1024,
                )
                # Counters live apart so that eviction of answers can never reset the month's call count.
                self._counters = _open_store(
                    self.directory / "counters", _COUNTER_VALUE_LIMIT, eviction_policy="none"
                )
            except Exception as exc:
                self._disable(exc)

    @property
    def enabled(self) -> bool:
        return self._store is not None

    def _disable(self, exc: BaseException) -> None:
        if not self._warned:
            log.warning("cache disabled (%s: %s); serving without a cache", type(exc).__name__, exc)
            self._warned = True
        self.close()
        self._store = None
        self._counters = None

    def _drop(self, store: _SafeCache, key: str, reason: str) -> None:
        """Delete one unreadable entry; the rest of the cache carries on."""
        self._dropped += 1
        # The first drop is worth a warning; an old server sharing the directory may cause many more.
        level = logging.WARNING if self._dropped == 1 else logging.DEBUG
        log.log(level, "dropped an unreadable cache entry %s (%s)", key, reason)
        try:
            store.delete(key)
        except Exception as exc:
            self._disable(exc)

    def key(self, endpoint: Endpoint) -> str:
        query = urlencode(sorted(endpoint.params))
        if endpoint.kind in ("registry", "names"):  # one repository serves both backends: keyed by its URL
            return f"{_ENTRY_PREFIX}registry|{self.settings.repo_url}|{endpoint.path}?{query}"
        return f"{_ENTRY_PREFIX}{self.settings.backend}|{self.settings.base_url}|{endpoint.path}?{query}"

    def get(self, key: str) -> CacheEntry | None:
        _require_str_key(key)
        store = self._store
        if store is None:
            return None
        try:
            raw = store.get(key)
        except (_ForeignValue, sqlite3.DataError) as exc:  # DataError: the row is over the size bound
            self._drop(store, key, str(exc))
            return None
        except Exception as exc:
            self._disable(exc)
            return None
        if raw is None:
            return None
        entry = decode_entry(raw)
        if entry is None:
            self._drop(store, key, "not a JSON cache entry")
        return entry

    def record_lookup(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1

    def set(self, key: str, entry: CacheEntry, ttl: int) -> None:
        _require_str_key(key)
        if self._store is None:
            return
        self._put(key, entry, expire=ttl + self.settings.stale_for)

    def _put(self, key: str, entry: CacheEntry, expire: float | None) -> bool:
        """Store one answer; an answer that cannot be stored is skipped, it does not disable the cache."""
        store = self._store
        if store is None:
            return False
        try:
            text = encode_entry(entry)
        except (TypeError, ValueError, RecursionError) as exc:
            log.debug("not caching %s: not JSON data (%s)", key, exc)
            return False
        try:
            store.set(key, text, expire=expire)
        except sqlite3.DataError:
            log.debug("not caching %s: %d characters is over the cache's bound", key, len(text))
            return False
        except Exception as exc:
            self._disable(exc)
            return False
        return True

    # -- monthly upstream call accounting ------------------------------------------------------------

    def _counter_key(self, backend: str, ts: float | None = None) -> str:
        return f"{_COUNTER_PREFIX}{backend}|{month_key(ts)}"

    def count_call(self, backend: str) -> None:
        key = self._counter_key(backend)
        counters = self._counters
        if counters is not None:
            try:
                try:
                    counters.incr(key, default=0)
                except (TypeError, sqlite3.DataError):  # the row holds no integer: restart the count
                    self._drop(counters, key, "not an integer counter")
                    counters.incr(key, default=0)
                return
            except Exception as exc:
                self._disable(exc)
        self._memory_counters[key] = self._memory_counters.get(key, 0) + 1

    def calls_this_month(self, backend: str) -> int:
        key = self._counter_key(backend)
        counters = self._counters
        if counters is not None:
            try:
                value = counters.get(key, default=0)
            except (_ForeignValue, sqlite3.DataError) as exc:
                self._drop(counters, key, str(exc))
                return 0
            except Exception as exc:
                self._disable(exc)
            else:
                return value if type(value) is int else 0
        return self._memory_counters.get(key, 0)

    # -- operator commands -----------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        entries = size = None
        if self._store is not None:
            try:
                # The responses store holds answers only (counters live apart).
                entries, size = len(self._store), int(self._store.volume())
            except (TypeError, ValueError):  # the store's own bookkeeping rows hold garbage: unknown
                entries = size = None
            except Exception as exc:
                self._disable(exc)
        lookups = self.hits + self.misses
        return CacheStats(
            dir=str(self.directory) if self.directory else None,
            enabled=self.enabled,
            entries=entries,
            size_bytes=size,
            hit_ratio=round(self.hits / lookups, 3) if lookups else None,
        )

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
            if self._put(_ENTRY_PREFIX + key, entry, expire=None):
                count += 1
        if self._store is None:
            raise ValueError(
                f"the cache failed while importing, after {count} entries; see the warning above"
            )
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
