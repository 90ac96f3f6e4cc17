"""The disk cache on its own: keys, counters, snapshots, and failing or shared directories."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hex_mcp.backends import Endpoint
from hex_mcp.cache import DIR_FORMAT, FORMAT_FILE, SNAPSHOT_FORMAT, CacheEntry, ResponseCache, month_key
from hex_mcp.config import Secret, Settings

ENDPOINT = Endpoint("package", "/packages/jason")


def test_key_has_backend_base_path_and_sorted_params_but_no_secret(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, hex_api_key=Secret("topsecret"))
    cache = ResponseCache(settings)
    key = cache.key(Endpoint("search", "/packages", (("sort", "name"), ("page", "1"), ("search", "a b"))))
    assert key == "r|hexpm|https://hex.pm/api|/packages?page=1&search=a+b&sort=name"
    assert "topsecret" not in key
    cache.close()


def test_roundtrip_and_stats(tmp_path: Path) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    key = cache.key(ENDPOINT)
    assert cache.get(key) is None
    cache.set(key, CacheEntry({"name": "jason"}, 1_700_000_000.0, "etag1"), ttl=60)
    assert cache.get(key) == CacheEntry({"name": "jason"}, 1_700_000_000.0, "etag1")
    cache.record_lookup(hit=True)
    cache.record_lookup(hit=False)
    stats = cache.stats()
    assert stats.entries == 1 and stats.hit_ratio == 0.5 and stats.size_bytes > 0
    assert cache.clear() == 1
    assert cache.stats().entries == 0
    cache.close()


def test_call_counter_persists_and_survives_clear(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    cache = ResponseCache(settings)
    for _ in range(3):
        cache.count_call("oanor")
    cache.count_call("hexpm")
    cache.clear()
    cache.close()
    reopened = ResponseCache(settings)
    assert reopened.calls_this_month("oanor") == 3
    assert reopened.calls_this_month("hexpm") == 1
    reopened.close()
    assert len(month_key()) == 7


def test_export_import_snapshot(tmp_path: Path) -> None:
    source = ResponseCache(Settings(cache_dir=tmp_path / "a"))
    source.set(source.key(ENDPOINT), CacheEntry({"name": "jason"}, 1.0, None), ttl=1)
    source.count_call("hexpm")
    snapshot = tmp_path / "snap.json"
    assert source.export(snapshot) == 1
    source.close()
    raw = json.loads(snapshot.read_text())
    assert raw["format"] == SNAPSHOT_FORMAT
    assert raw["entries"] == [
        {
            "key": "hexpm|https://hex.pm/api|/packages/jason?",
            "data": {"name": "jason"},
            "fetched_at": 1.0,
            "etag": None,
        }
    ]
    target = ResponseCache(Settings(cache_dir=tmp_path / "b"))
    assert target.import_(snapshot) == 1
    assert target.get(target.key(ENDPOINT)) == CacheEntry({"name": "jason"}, 1.0, None)
    target.close()


def test_import_rejects_foreign_files(tmp_path: Path) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path / "c"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="is not a hex-mcp cache snapshot"):
        cache.import_(bad)
    with pytest.raises(ValueError, match="cannot read snapshot"):
        cache.import_(tmp_path / "missing.json")
    cache.close()


def test_unwritable_dir_warns_once_and_serves_uncached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=blocker / "cache"))
    assert not cache.enabled
    cache.set(cache.key(ENDPOINT), CacheEntry({}, 1.0), ttl=1)
    assert cache.get(cache.key(ENDPOINT)) is None
    cache.count_call("hexpm")
    assert cache.calls_this_month("hexpm") == 1  # still counted, in memory
    messages = [r.message for r in caplog.records if r.name == "hex_mcp.cache"]
    assert len(messages) == 1
    assert messages[0].startswith("cache disabled")


def test_corrupt_cache_file_disables_the_cache(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / FORMAT_FILE).write_text(
        DIR_FORMAT + "\n"
    )  # a current-format directory, so nothing is dropped
    (tmp_path / "responses").mkdir()
    (tmp_path / "responses" / "cache.db").write_bytes(b"this is not sqlite" * 100)
    with caplog.at_level(logging.WARNING, logger="hex_mcp.cache"):
        cache = ResponseCache(Settings(cache_dir=tmp_path))
        assert cache.get(cache.key(ENDPOINT)) is None
    assert not cache.enabled
    assert any("cache disabled" in r.message for r in caplog.records)


def test_disabled_cache(tmp_path: Path) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path, cache_enabled=False))
    assert not cache.enabled and cache.stats().dir is None
    assert not any(tmp_path.iterdir())


def test_size_limit_evicts(tmp_path: Path) -> None:
    cache = ResponseCache(Settings(cache_dir=tmp_path, cache_size_mb=1))
    blob = "x" * 100_000
    for i in range(40):  # 4 MB into a 1 MB cache
        cache.set(
            cache.key(Endpoint("package", f"/packages/p{i}")), CacheEntry({"blob": blob}, 1.0), ttl=3600
        )
    stats = cache.stats()
    assert stats.size_bytes < 2 * 1024 * 1024
    assert stats.entries < 40
    cache.close()


def test_two_processes_share_one_cache_dir(tmp_path: Path) -> None:
    """diskcache is process-safe: concurrent writers and counters from two processes add up."""
    script = (
        "import sys; from pathlib import Path\n"
        "from hex_mcp.cache import ResponseCache, CacheEntry\n"
        "from hex_mcp.backends import Endpoint\n"
        "from hex_mcp.config import Settings\n"
        "c = ResponseCache(Settings(cache_dir=Path(sys.argv[1])))\n"
        "for i in range(200):\n"
        "    c.count_call('oanor')\n"
        "    c.set(c.key(Endpoint('package', f'/p/{sys.argv[2]}{i}')), CacheEntry({'i': i}, 1.0), ttl=60)\n"
        "c.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), tag], env=env) for tag in ("a", "b")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    cache = ResponseCache(Settings(cache_dir=tmp_path))
    assert cache.calls_this_month("oanor") == 400
    assert cache.stats().entries == 400
    cache.close()
