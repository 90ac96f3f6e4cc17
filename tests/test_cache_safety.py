"""The disk cache against a hostile cache directory: planted pickles, symlinks, garbage rows and settings."""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import diskcache
import pytest
from diskcache.core import MODE_BINARY, MODE_PICKLE, MODE_RAW, MODE_TEXT

from hex_mcp import cache as cache_module
from hex_mcp.backends import Endpoint
from hex_mcp.cache import DIR_FORMAT, FORMAT_FILE, CacheEntry, ResponseCache, cache_dir_problem, month_key
from hex_mcp.config import Settings

ENDPOINT = Endpoint("package", "/packages/jason")
OTHER = Endpoint("package", "/packages/plug")
THIRD = Endpoint("package", "/packages/ecto")


class Payload:
    """Unpickling this creates the directory `path`: its existence proves code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.path),))


def cache_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hex_mcp.cache"]


def new_format_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / FORMAT_FILE).write_text(DIR_FORMAT + "\n")
    return root


def insert_row(db: Path, key: Any, value: Any, *, mode: int = MODE_RAW, filename: str | None = None) -> None:
    """A row written behind the cache's back, straight into diskcache's table."""
    raw = 1 if isinstance(key, str) else 0
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "INSERT OR REPLACE INTO Cache (key, raw, store_time, expire_time, access_time, access_count, tag,"
            " size, mode, filename, value) VALUES (?, ?, ?, NULL, ?, 0, NULL, 0, ?, ?, ?)",
            (key, raw, time.time(), time.time(), mode, filename, value),
        )
    con.close()


def row_count(db: Path, key: str) -> int:
    con = sqlite3.connect(db)
    try:
        ((count,),) = con.execute("SELECT COUNT(*) FROM Cache WHERE key = ?", (key,)).fetchall()
    finally:
        con.close()
    return int(count)


# -- data, never code ---------------------------------------------------------------------------------------


def test_the_payload_runs_under_plain_diskcache(tmp_path: Path) -> None:
    """The control for the tests below: this payload does create its file when diskcache unpickles it."""
    proof = tmp_path / "pwned"
    plain = diskcache.Cache(str(tmp_path / "plain"))
    plain.set("k", Payload(proof))
    assert not proof.exists()
    plain.get("k")
    plain.close()
    assert proof.exists()


def test_old_pickle_cache_is_dropped_unread_with_one_notice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proof = tmp_path / "pwned"
    root = tmp_path / "cache"
    settings = Settings(cache_dir=root)
    # The format an older version wrote: diskcache's default Disk, answers pickled, counters as integers.
    old = diskcache.Cache(str(root / "responses"))
    old.set("r|hexpm|https://hex.pm/api|/packages/jason?", Payload(proof))  # small: pickled inline
    old.set("r|hexpm|https://hex.pm/api|/packages/plug?", [Payload(proof), "x" * 100_000])  # a value file
    old.close()
    counters = diskcache.Cache(str(root / "counters"), eviction_policy="none")
    counters.incr(f"calls|hexpm|{month_key()}", 7)
    counters.set(f"calls|oanor|{month_key()}", Payload(proof))
    counters.close()

    with caplog.at_level(logging.DEBUG, logger="hex_mcp.cache"):
        cache = ResponseCache(settings)
        assert cache.enabled
        assert cache.get(cache.key(ENDPOINT)) is None
        assert cache.get(cache.key(OTHER)) is None
        assert cache.cached_requests() == []
        assert cache.calls_this_month("hexpm") == 7  # the month's spend survives the upgrade
        assert cache.calls_this_month("oanor") == 0  # a pickled counter is dropped, not loaded
        cache.set(cache.key(ENDPOINT), CacheEntry({"name": "jason"}, 1.0), ttl=60)
        assert cache.get(cache.key(ENDPOINT)) == CacheEntry({"name": "jason"}, 1.0)
        cache.close()
    assert not proof.exists()
    notices = [m for m in cache_records(caplog) if "older format" in m]
    assert notices == [
        f"cache at {root} is in an older format (pickled values); its cached answers were dropped unread and "
        "will be fetched again"
    ]
    assert (root / FORMAT_FILE).read_text() == DIR_FORMAT + "\n"
    assert sorted(p.name for p in (root / "responses").iterdir() if p.suffix == ".val") == []

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="hex_mcp.cache"):
        again = ResponseCache(settings)
        assert again.get(again.key(ENDPOINT)) == CacheEntry({"name": "jason"}, 1.0)
        again.close()
    assert not any("older format" in m for m in cache_records(caplog))


def test_a_foreign_format_marker_also_drops_the_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = new_format_dir(tmp_path / "cache")
    first = ResponseCache(Settings(cache_dir=root))
    first.set(first.key(ENDPOINT), CacheEntry({"name": "jason"}, 1.0), ttl=60)
    first.close()
    (root / FORMAT_FILE).write_text("hex-mcp-cache-dir/99\n")
    with caplog.at_level(logging.WARNING, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=root))
    assert cache.enabled and cache.get(cache.key(ENDPOINT)) is None
    cache.close()
    assert cache_records(caplog) == [
        f"cache at {root} is in an older format (format 'hex-mcp-cache-dir/99'); its cached answers were "
        "dropped unread and will be fetched again"
    ]


def test_pickles_planted_in_a_current_cache_never_run(tmp_path: Path) -> None:
    """A row written after the upgrade (by an old server sharing the directory, or by hand) is refused."""
    proof = tmp_path / "pwned"
    root = tmp_path / "cache"
    settings = Settings(cache_dir=root)
    cache = ResponseCache(settings)
    good = cache.key(OTHER)
    cache.set(good, CacheEntry({"name": "plug"}, 2.0, "e"), ttl=60)
    cache.close()
    planter = diskcache.Cache(str(root / "responses"))  # default Disk: pickles what it is given
    planter.set(cache.key(ENDPOINT), Payload(proof))
    planter.set(("r|tuple", "key"), "value")  # a pickled key
    planter.set(Payload(proof), "value")  # a key that runs code when unpickled
    planter.close()
    counter_planter = diskcache.Cache(str(root / "counters"))
    counter_planter.set(f"calls|hexpm|{month_key()}", Payload(proof))
    counter_planter.close()

    cache = ResponseCache(settings)
    assert cache.get(cache.key(ENDPOINT)) is None
    assert cache.cached_requests() == ["/packages/plug?"]
    export = tmp_path / "snap.json"
    assert cache.export(export) == 1
    assert cache.calls_this_month("hexpm") == 0
    cache.count_call("hexpm")
    assert cache.calls_this_month("hexpm") == 1
    assert cache.get(good) == CacheEntry({"name": "plug"}, 2.0, "e")
    assert cache.enabled
    cache.close()
    assert not proof.exists()
    assert row_count(root / "responses" / "cache.db", cache.key(ENDPOINT)) == 0  # dropped, not kept


def test_keys_must_be_str(tmp_path: Path) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    with pytest.raises(TypeError, match=r"cache keys are str \(see ResponseCache.key\), not tuple"):
        cache.set(("a", "b"), CacheEntry({}, 1.0), ttl=60)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not int"):
        cache.get(1)  # type: ignore[arg-type]
    assert cache.enabled
    cache.close()


@pytest.mark.parametrize(
    "data",
    [
        {"name": "jason", "downloads": {"all": 123}, "meta": {"licenses": ["Apache-2.0"]}},
        [{"version": "1.4.1", "has_docs": True, "retirement": None}],
        [],
        {},
        "a plain string",
        42,
        -1.5,
        True,
        None,
        {"unicode": "é ü 漢字 🙂 \u0000 \u2028", "nested": [[[[1]]]]},
        {"big": "x" * 200_000},  # over diskcache's 32 KiB file threshold: still inline
    ],
)
def test_every_value_kind_round_trips_inline(tmp_path: Path, data: Any) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    key = cache.key(ENDPOINT)
    entry = CacheEntry(data, 1_700_000_000.123456, 'W/"abc"')
    cache.set(key, entry, ttl=60)
    cache.close()
    reopened = ResponseCache(Settings(cache_dir=tmp_path))
    assert reopened.get(key) == entry
    reopened.close()
    assert sorted(p.name for p in (tmp_path / "responses").iterdir()) == ["cache.db"]  # no value files


def test_nan_and_infinity_round_trip(tmp_path: Path) -> None:
    """Upstream JSON is parsed with Python's defaults, which accept NaN and Infinity; they come back."""
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    key = cache.key(ENDPOINT)
    cache.set(key, CacheEntry({"n": math.nan, "i": math.inf}, 1.0), ttl=60)
    got = cache.get(key)
    assert got is not None and math.isnan(got.data["n"]) and got.data["i"] == math.inf
    cache.close()


def test_data_that_is_not_json_is_skipped_not_fatal(tmp_path: Path) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    cache.set(cache.key(ENDPOINT), CacheEntry({"when": object()}, 1.0), ttl=60)
    assert cache.get(cache.key(ENDPOINT)) is None
    cache.set(cache.key(OTHER), CacheEntry({"ok": 1}, 1.0), ttl=60)
    assert cache.get(cache.key(OTHER)) == CacheEntry({"ok": 1}, 1.0)
    assert cache.enabled
    cache.close()


# -- one bad entry is dropped alone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mode", "filename"),
    [
        ("not json {", MODE_RAW, None),
        ('{"fetched_at": 1.0}', MODE_RAW, None),  # JSON, but not an entry
        ('{"data": 1, "fetched_at": "yesterday"}', MODE_RAW, None),
        ('{"data": 1, "fetched_at": true}', MODE_RAW, None),
        ("[" * 100_000 + "]" * 100_000, MODE_RAW, None),  # nesting beyond the parser's stack
        (17, MODE_RAW, None),
        (2.5, MODE_RAW, None),
        (b'{"data": 1, "fetched_at": 1.0}', MODE_RAW, None),  # a blob, not text
        (None, MODE_PICKLE, "ab/cd/value.val"),
        (b"\x80\x04garbage", MODE_PICKLE, None),
        (None, MODE_TEXT, "ab/cd/value.val"),
        (None, MODE_BINARY, "ab/cd/value.val"),
    ],
)
def test_one_garbage_entry_leaves_the_others_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, value: Any, mode: int, filename: str | None
) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    keys = [cache.key(e) for e in (ENDPOINT, OTHER, THIRD)]
    for i, key in enumerate(keys):
        cache.set(key, CacheEntry({"i": i}, float(i)), ttl=60)
    cache.close()
    db = tmp_path / "responses" / "cache.db"
    insert_row(db, keys[1], value, mode=mode, filename=filename)

    cache = ResponseCache(Settings(cache_dir=tmp_path))
    with caplog.at_level(logging.DEBUG, logger="hex_mcp.cache"):
        assert cache.get(keys[1]) is None
        assert cache.get(keys[0]) == CacheEntry({"i": 0}, 0.0)
        assert cache.get(keys[2]) == CacheEntry({"i": 2}, 2.0)
    assert cache.enabled
    assert row_count(db, keys[1]) == 0
    records = cache_records(caplog)
    assert len(records) == 1 and records[0].startswith(f"dropped an unreadable cache entry {keys[1]} (")
    cache.set(keys[1], CacheEntry({"i": 1}, 1.0), ttl=60)
    assert cache.get(keys[1]) == CacheEntry({"i": 1}, 1.0)
    cache.close()


def test_only_the_first_dropped_entry_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    keys = [cache.key(e) for e in (ENDPOINT, OTHER)]
    cache.close()
    for key in keys:
        insert_row(tmp_path / "responses" / "cache.db", key, "garbage")
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    with caplog.at_level(logging.DEBUG, logger="hex_mcp.cache"):
        assert [cache.get(k) for k in keys] == [None, None]
    assert [r.levelno for r in caplog.records if r.name == "hex_mcp.cache"] == [
        logging.WARNING,
        logging.DEBUG,
    ]
    cache.close()


def test_an_oversized_row_is_dropped_without_loading_it(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, max_body_bytes=1024)  # bound: 2 KiB + 64 KiB of envelope
    cache = ResponseCache(settings)
    keys = [cache.key(e) for e in (ENDPOINT, OTHER)]
    cache.set(keys[0], CacheEntry({"ok": True}, 1.0), ttl=60)
    cache.close()
    insert_row(
        tmp_path / "responses" / "cache.db", keys[1], '{"data": "' + "x" * 200_000 + '", "fetched_at": 1}'
    )
    cache = ResponseCache(settings)
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) == CacheEntry({"ok": True}, 1.0)
    assert cache.enabled
    # Writing an answer over the bound skips it and keeps the cache.
    cache.set(keys[1], CacheEntry("y" * 100_000, 1.0), ttl=60)
    assert cache.get(keys[1]) is None and cache.enabled
    cache.close()
    assert row_count(tmp_path / "responses" / "cache.db", keys[1]) == 0


def test_a_garbage_counter_restarts_the_count(tmp_path: Path) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    cache.count_call("hexpm")
    cache.close()
    insert_row(tmp_path / "counters" / "cache.db", f"calls|hexpm|{month_key()}", "lots")
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    assert cache.calls_this_month("hexpm") == 0
    insert_row(tmp_path / "counters" / "cache.db", f"calls|hexpm|{month_key()}", b"blob")
    cache.count_call("hexpm")
    assert cache.calls_this_month("hexpm") == 1
    assert cache.enabled
    cache.close()


def test_settings_planted_in_the_database_are_ignored(tmp_path: Path) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    cache.close()
    db = tmp_path / "responses" / "cache.db"
    con = sqlite3.connect(db)
    with con:
        con.executemany(
            "INSERT OR REPLACE INTO Settings VALUES (?, ?)",
            [
                ("sqlite_user_version", 42),  # an arbitrary PRAGMA
                ("sqlite_journal_mode", "delete"),
                ("disk_min_file_size", 0),  # would push every value to a file
                ("disk__directory", str(tmp_path / "outside")),
                ("_disk", "not a disk"),
                ("eviction_policy", "no such policy"),
            ],
        )
    con.close()
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    key = cache.key(ENDPOINT)
    cache.set(key, CacheEntry({"name": "jason"}, 1.0), ttl=60)
    assert cache.get(key) == CacheEntry({"name": "jason"}, 1.0)
    assert cache.enabled
    cache.close()
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA user_version").fetchall() == [(0,)]
        assert con.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    finally:
        con.close()
    assert not (tmp_path / "outside").exists()
    assert sorted(p.name for p in db.parent.iterdir()) == ["cache.db"]  # no value files


# -- symlinks and other planted files ---------------------------------------------------------------------


def test_a_symlinked_cache_dir_is_refused_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with caplog.at_level(logging.DEBUG, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=link))
        cache.set(cache.key(ENDPOINT), CacheEntry({}, 1.0), ttl=60)
        assert cache.get(cache.key(ENDPOINT)) is None
        cache.count_call("hexpm")
        assert cache.calls_this_month("hexpm") == 1  # counted in memory
        assert cache.stats().enabled is False
    assert not cache.enabled
    assert cache_records(caplog) == [
        f"cache disabled (UnsafeCacheDir: {link} is a symbolic link; the cache only uses a real directory, so "
        "that nothing planted there can redirect its reads and writes. Point HEX_MCP_CACHE_DIR (or "
        "--cache-dir) at a real directory); serving without a cache"
    ]
    assert list(real.iterdir()) == []


def test_a_symlinked_parent_is_fine(tmp_path: Path) -> None:
    """Only the cache directory itself must be real: /tmp or a home directory may well be a symlink."""
    (tmp_path / "real").mkdir()
    (tmp_path / "home").symlink_to(tmp_path / "real")
    cache = ResponseCache(Settings(cache_dir=tmp_path / "home" / "cache"))
    cache.set(cache.key(ENDPOINT), CacheEntry({"a": 1}, 1.0), ttl=60)
    assert cache.get(cache.key(ENDPOINT)) == CacheEntry({"a": 1}, 1.0)
    cache.close()
    assert (tmp_path / "real" / "cache" / "responses" / "cache.db").is_file()


def test_a_created_cache_dir_is_private(tmp_path: Path) -> None:
    ResponseCache(Settings(cache_dir=tmp_path / "new")).close()
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "responses").stat().st_mode & 0o777 == 0o700


def outside_with_victim(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.db"
    victim.write_bytes(b"precious")
    return outside, victim


def assert_untouched(outside: Path, victim: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim.db"]
    assert victim.read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("planted", "target", "message"),
    [
        ("responses/cache.db", "victim.db", "responses/cache.db is a symbolic link; remove it"),
        ("responses/cache.db", "new.db", "responses/cache.db is a symbolic link; remove it"),  # dangling
        ("responses/cache.db-wal", "new.db-wal", "responses/cache.db-wal is a symbolic link; remove it"),
        ("responses/cache.db-shm", "victim.db", "responses/cache.db-shm is a symbolic link; remove it"),
        ("counters/cache.db-journal", "j", "counters/cache.db-journal is a symbolic link; remove it"),
        ("responses", ".", "responses is a symbolic link"),
        ("counters", ".", "counters is a symbolic link"),
        (FORMAT_FILE, "victim.db", f"{FORMAT_FILE} is not a regular file; remove it"),
    ],
)
def test_planted_symlinks_are_refused_and_nothing_outside_is_touched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, planted: str, target: str, message: str
) -> None:
    outside, victim = outside_with_victim(tmp_path)
    root = new_format_dir(tmp_path / "cache")
    (root / "responses").mkdir()
    (root / "counters").mkdir()
    link = root / planted
    if link.is_dir():
        link.rmdir()
    elif link.exists():
        link.unlink()
    link.symlink_to(outside / target)
    with caplog.at_level(logging.WARNING, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=root))
        cache.set(cache.key(ENDPOINT), CacheEntry({"a": 1}, 1.0), ttl=60)
        cache.count_call("hexpm")
        assert cache.get(cache.key(ENDPOINT)) is None
    assert not cache.enabled
    records = cache_records(caplog)
    assert len(records) == 1 and message in records[0] and records[0].startswith("cache disabled (")
    assert_untouched(outside, victim)


def test_a_symlink_planted_while_running_is_refused_by_the_next_connection(tmp_path: Path) -> None:
    """Every new connection (another thread, a forked child) checks again."""
    outside, victim = outside_with_victim(tmp_path)
    cache = ResponseCache(Settings(cache_dir=tmp_path / "cache"))
    cache.set(cache.key(ENDPOINT), CacheEntry({"a": 1}, 1.0), ttl=60)
    cache.close()  # the next call opens a new connection
    db = tmp_path / "cache" / "responses" / "cache.db"
    db.unlink()
    db.symlink_to(victim)
    assert cache.get(cache.key(ENDPOINT)) is None
    assert not cache.enabled
    assert_untouched(outside, victim)


def test_a_hard_linked_database_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outside, victim = outside_with_victim(tmp_path)
    root = new_format_dir(tmp_path / "cache")
    (root / "responses").mkdir()
    os.link(victim, root / "responses" / "cache.db")
    with caplog.at_level(logging.WARNING, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=root))
    assert not cache.enabled
    assert "cache.db is hard-linked elsewhere (2 links); remove it" in cache_records(caplog)[0]
    assert_untouched(outside, victim)


def test_a_fifo_is_refused_without_hanging(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = new_format_dir(tmp_path / "cache")
    (root / "responses").mkdir()
    os.mkfifo(root / "responses" / "cache.db")
    with caplog.at_level(logging.WARNING, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=root))
    assert not cache.enabled
    assert "cache.db is not a regular file; remove it" in cache_records(caplog)[0]


def test_a_fifo_marker_is_refused_without_hanging(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    os.mkfifo(root / FORMAT_FILE)
    with caplog.at_level(logging.WARNING, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=root))
    assert not cache.enabled
    assert f"{FORMAT_FILE} is not a regular file; remove it" in cache_records(caplog)[0]


@pytest.mark.parametrize("mode", [MODE_TEXT, MODE_BINARY, MODE_PICKLE])
def test_a_row_naming_a_file_outside_is_neither_read_nor_deleted(tmp_path: Path, mode: int) -> None:
    outside, victim = outside_with_victim(tmp_path)
    root = tmp_path / "cache"
    cache = ResponseCache(Settings(cache_dir=root))
    keys = [cache.key(e) for e in (ENDPOINT, OTHER, THIRD)]
    cache.set(keys[2], CacheEntry({"kept": True}, 1.0), ttl=60)
    cache.close()
    # One row walks out of the directory by name, the other through a symlink planted among value files.
    (root / "responses" / "ab").mkdir()
    (root / "responses" / "ab" / "link.val").symlink_to(victim)
    db = root / "responses" / "cache.db"
    insert_row(db, keys[0], None, mode=mode, filename="../../outside/victim.db")
    insert_row(db, keys[1], None, mode=mode, filename="ab/link.val")

    cache = ResponseCache(Settings(cache_dir=root))
    assert cache.get(keys[0]) is None
    assert cache.get(keys[1]) is None
    assert cache.get(keys[2]) == CacheEntry({"kept": True}, 1.0)
    assert cache.clear() == 1
    assert cache.enabled
    cache.close()
    assert_untouched(outside, victim)
    assert (root / "responses" / "ab" / "link.val").is_symlink()


def test_plain_diskcache_would_delete_the_outside_file(tmp_path: Path) -> None:
    """The control for the test above: diskcache's own Disk deletes whatever a row's file name points at."""
    _, victim = outside_with_victim(tmp_path)
    plain = diskcache.Cache(str(tmp_path / "plain"))
    plain.close()
    insert_row(tmp_path / "plain" / "cache.db", "k", None, mode=MODE_TEXT, filename="../outside/victim.db")
    plain = diskcache.Cache(str(tmp_path / "plain"))
    assert plain.get("k") == "precious"
    plain.clear()
    plain.close()
    assert not victim.exists()


# -- snapshots keep working ---------------------------------------------------------------------------------


def test_snapshot_round_trip_of_every_kind(tmp_path: Path) -> None:
    source = ResponseCache(Settings(cache_dir=tmp_path / "a"))
    entries = {
        Endpoint("package", "/packages/jason"): CacheEntry({"name": "jason", "ü": "漢字"}, 1.5, '"e1"'),
        Endpoint("releases", "/packages/jason/releases"): CacheEntry([{"version": "1.0.0"}], 2.0),
        Endpoint("search", "/packages", (("search", "json lib"), ("page", "1"))): CacheEntry([], 3.0),
        Endpoint("release", "/packages/jason/releases/1.4.1"): CacheEntry(None, 4.0, None),
    }
    for endpoint, entry in entries.items():
        source.set(source.key(endpoint), entry, ttl=1)
    snapshot = tmp_path / "snap.json"
    assert source.export(snapshot) == 4
    source.close()
    target = ResponseCache(Settings(cache_dir=tmp_path / "b"))
    assert target.import_(snapshot) == 4
    for endpoint, entry in entries.items():
        assert target.get(target.key(endpoint)) == entry
    target.close()


def test_import_skips_entries_over_the_bound(tmp_path: Path) -> None:
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(
        '{"format": "hex-mcp-cache/1", "exported_at": 1, "entries": ['
        '{"key": "hexpm|https://hex.pm/api|/packages/big?", "data": "'
        + "x"
        * 200_000
        + '", "fetched_at": 1},'
        '{"key": "hexpm|https://hex.pm/api|/packages/jason?", "data": {"a": 1}, "fetched_at": 1}]}'
    )
    cache = ResponseCache(Settings(cache_dir=tmp_path / "c", max_body_bytes=1024))
    assert cache.import_(snapshot) == 1
    assert cache.get(cache.key(ENDPOINT)) == CacheEntry({"a": 1}, 1.0)
    cache.close()


def test_a_symlink_that_wins_the_race_is_caught_after_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Were the link planted between the lstat checks and the open, the opened file's identity gives it away."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.db"
    con = sqlite3.connect(victim)
    with con:
        con.execute("CREATE TABLE precious (x)")
    con.close()
    before = victim.read_bytes()
    root = new_format_dir(tmp_path / "cache")
    (root / "responses").mkdir()
    (root / "responses" / "cache.db").symlink_to(victim)
    monkeypatch.setattr(cache_module, "_check_store_files", lambda directory: None)  # the race, simulated
    with caplog.at_level(logging.WARNING, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=root))
    assert not cache.enabled
    assert cache_records(caplog) == [
        f"cache disabled (UnsafeCacheDir: the cache database {root / 'responses' / 'cache.db'} resolved to "
        f"[{str(victim)!r}]; remove it); serving without a cache"
    ]
    assert sorted(p.name for p in outside.iterdir()) == ["victim.db"]
    assert victim.read_bytes() == before


def test_cache_dir_problem_names_what_would_be_refused(tmp_path: Path) -> None:
    assert cache_dir_problem(tmp_path / "missing") is None
    ResponseCache(Settings(cache_dir=tmp_path / "ok")).close()
    assert cache_dir_problem(tmp_path / "ok") is None
    (tmp_path / "link").symlink_to(tmp_path / "ok")
    problem = cache_dir_problem(tmp_path / "link")
    assert problem is not None and problem.startswith(f"{tmp_path / 'link'} is a symbolic link; ")
    db = tmp_path / "ok" / "counters" / "cache.db"
    db.unlink()
    db.symlink_to(tmp_path / "elsewhere.db")
    assert (
        cache_dir_problem(tmp_path / "ok")
        == f"{db} is a symbolic link; remove it (the cache never creates one)"
    )
    (tmp_path / "file").write_text("")
    assert cache_dir_problem(tmp_path / "file") == f"cache path {tmp_path / 'file'} is not a directory"
    assert not (tmp_path / "elsewhere.db").exists()
