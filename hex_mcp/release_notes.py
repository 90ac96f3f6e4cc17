"""The changelog shipped in a release: fetched from the Hex repository, verified, read in memory, cached.

`ReleaseNotes.changelog(name, version, checksum)` downloads `/tarballs/NAME-VERSION.tar` from the repository
(HEX_MCP_REPO_URL or HEX_MIRROR, the same as registry files), checks its SHA-256 against `checksum` (the signed
registry's outer checksum, or the API's `checksum` when the registry is off) before anything in it is read, and
reads the changelog with `hex_mcp.tarball` under its bounds, in a worker thread so a large package does not stall
other requests.

What was read is cached per (name, version, checksum) in the disk cache as JSON: the changelog text, or the
reason the release has none. A release's bytes never change once its checksum is published, so the entry is
kept long. The tarball itself is never cached and never written to disk. A checksum mismatch and a failed
download are not cached: both may be passing faults of a mirror or the network.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import httpx2

from hex_mcp.backends import segment
from hex_mcp.cache import CacheEntry, ResponseCache
from hex_mcp.config import Settings
from hex_mcp.errors import HexError, NotFound
from hex_mcp.fetch import SingleFlight
from hex_mcp.tarball import ChangelogFile, TarballError, read_changelog
from hex_mcp.text import first_sentence
from hex_mcp.upstream import TarballClient

__all__ = ["CHANGELOG_TTL_SECONDS", "READER_VERSION", "ReleaseNotes"]

log = logging.getLogger(__name__)

# What a verified tarball holds never changes; eviction by size still applies.
CHANGELOG_TTL_SECONDS = 90 * 86_400
# Bump when hex_mcp.tarball finds changelogs differently or its bounds change, so cached outcomes are re-read.
READER_VERSION = 1
# Checksum mismatches are not cached: the next call fetches again.
_UNCACHED = frozenset({"checksum_mismatch"})

Outcome = tuple[ChangelogFile | None, str | None]


class ReleaseNotes:
    """Reads changelogs from verified release tarballs for one server; owns its HTTP client once used."""

    def __init__(
        self,
        settings: Settings,
        cache: ResponseCache,
        *,
        http_transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self._http_transport = http_transport
        self._client: TarballClient | None = None  # built on first use: most calls never read a tarball
        self._flight: SingleFlight[Outcome] = SingleFlight()
        self.fetched = 0  # tarballs downloaded by this process (for hex_meta)
        self.rejected = 0  # of those, refused: checksum mismatch or a read bound tripped

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _key(self, name: str, version: str, checksum: str) -> str:
        # Keyed by content, not by repository: the checksum pins the bytes whichever mirror served them. The
        # reader's own version is in the key too: a change to what it finds or to its bounds re-reads everything.
        return f"r|changelog|{READER_VERSION}|{name}|{version}|{checksum.lower()}"

    async def changelog(self, name: str, version: str, checksum: str | None) -> Outcome:
        """(the changelog, None) or (None, one line saying why there is none)."""
        if not checksum:
            return None, f"no checksum is published for {name} {version}, so its tarball cannot be verified"
        key = self._key(name, version, checksum)
        cached = _decode(self.cache.get(key))
        if cached is not None:
            self.cache.record_lookup(hit=True)
            return cached
        self.cache.record_lookup(hit=False)
        if self.settings.offline:
            return None, "offline mode is on and this release's changelog is not in the cache"
        return await self._flight.run(key, lambda: self._read(name, version, checksum, key))

    async def _read(self, name: str, version: str, checksum: str, key: str) -> Outcome:
        if self._client is None:
            self._client = TarballClient(self.settings, http_transport=self._http_transport)
        try:
            response = await self._client.get(f"/tarballs/{segment(name)}-{segment(version)}.tar")
        except NotFound:
            note = f"the Hex repository has no tarball for {name} {version}"
            if self.settings.not_found_ttl > 0:  # remembered like any 404, so a repeated diff asks no more
                self.cache.set(key, CacheEntry({"note": note}, time.time()), int(self.settings.not_found_ttl))
            return None, note
        except HexError as exc:
            return None, f"the release tarball could not be fetched: {first_sentence(str(exc))}"
        body: bytes = response.data
        self.fetched += 1
        try:
            found = await anyio.to_thread.run_sync(lambda: read_changelog(body, expected_sha256=checksum))
        except ValueError:  # the published checksum itself is malformed: nothing to verify against
            return (
                None,
                f"the checksum published for {name} {version} is not a SHA-256, so the tarball was not read",
            )
        except TarballError as exc:
            self.rejected += 1
            note = first_sentence(str(exc))
            log.info("changelog of %s %s: %s", name, version, note)
            if exc.reason not in _UNCACHED:
                self._store(key, {"reason": exc.reason, "note": note})
            return None, note
        self._store(key, {"file": found.name, "text": found.text})
        return found, None

    def _store(self, key: str, data: dict[str, str]) -> None:
        self.cache.set(key, CacheEntry(data, time.time()), CHANGELOG_TTL_SECONDS)


def _decode(entry: CacheEntry | None) -> Outcome | None:
    """A cached outcome, or None when there is none or it is not one this module wrote."""
    if entry is None:
        return None
    data: Any = entry.data
    if not isinstance(data, dict):
        return None
    file, text, note = data.get("file"), data.get("text"), data.get("note")
    if isinstance(file, str) and isinstance(text, str):
        return ChangelogFile(name=file, text=text), None
    if isinstance(note, str):
        return None, note
    return None
