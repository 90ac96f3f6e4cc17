"""A real HTTP server on 127.0.0.1 that imitates both upstreams: hex.pm's JSON API and the oanor gateway.

The client stack (connection handling, timeouts, headers, caching, size limits) is exercised over real
sockets, exactly as in production, and every failure mode a test needs can be injected with a `Fault`.

hexpm routes live under `/api`, gateway routes under `/hex-api`. Gateway bodies are *derived* from the hexpm
fixtures, so both backends always describe the same registry.

Standalone use (eval runner, benchmarks, end-to-end tests in another process):

    python -m fakehex --port 0 --fixtures fakehex/fixtures

prints `http://127.0.0.1:PORT` on its first stdout line and serves until killed. A process that does not
share memory with the server can steer it through the `/__fake__/` control routes (see `_control`).
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import functools
import hashlib
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from fakehex import changelogs

DEFAULT_FIXTURES = Path(__file__).resolve().parent / "fixtures"

HEXPM_PREFIX = "/api"
OANOR_PREFIX = "/hex-api"
REPO_PREFIX = "/repo"  # the Hex repository (repo.hex.pm): signed registry files
CONTROL_PREFIX = "/__fake__"
REDIRECT_TARGET = "http://evil.example.invalid/steal"
MALFORMED_BODY = b'{"name": "jas'
DEFAULT_OVERSIZED_BYTES = 11 * 1024 * 1024

# Fixed so that gateway replays are byte-identical; the value comes from the gateway's published examples.
GATEWAY_TIMESTAMP = "2026-05-31T12:44:32.515Z"
GATEWAY_META_DATA: dict[str, Any] = {
    "note": (
        "Live hex.pm registry data. /v1/package = metadata (description, licenses, links, owners, downloads, "
        "recent releases); /v1/releases = full version history; /v1/release = a single release's "
        "dependencies, Elixir constraint and build tools; /v1/search = search the registry."
    ),
    "source": "Hex \u2014 the Elixir / Erlang package registry (hex.pm)",
    "endpoints": ["/v1/package", "/v1/releases", "/v1/release", "/v1/search", "/v1/meta"],
}
GATEWAY_UNAUTHORIZED = "Missing or invalid x-oanor-key header"
GATEWAY_RATE_LIMITED = "Rate-limit or monthly quota reached"

# Registry faults: the normal signed file, altered the way a broken or hostile mirror might alter it.
REGISTRY_FAULTS = frozenset(
    {
        "registry_bad_signature",
        "registry_no_signature",
        "registry_wrong_repository",
        "registry_wrong_name",
        "registry_truncated_gzip",
        "registry_not_gzip",
    }
)
FAULT_KINDS = REGISTRY_FAULTS | frozenset(
    {
        "status",
        "ratelimited",
        "ratelimited_bare",
        "delay",
        "stall_body",
        "malformed",
        "truncated",
        "wrong_shape",
        "oversized",
        "redirect",
        "drop",
    }
)

# hexpm's ErrorView default messages; any other code renders `null` unless a message is passed.
_HEXPM_MESSAGES = {
    400: "Bad request",
    401: "invalid API key",
    403: "Blocked",
    404: "Page not found",
    408: "Request timeout",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation error(s)",
    429: "API rate limit exceeded for IP 127.0.0.1",
    500: "Internal server error",
}
_GATEWAY_MESSAGES = {
    400: "Bad request",
    401: GATEWAY_UNAUTHORIZED,
    402: "Active subscription required",
    404: "Package not found",
    429: GATEWAY_RATE_LIMITED,
    500: "Internal server error",
    502: "Upstream did not respond",
    503: "Service unavailable",
    504: "Upstream did not respond",
}
_APEX_DOCS_NAMES = frozenset({"api", "assets", "docs", "preview", "search", "staging", "stats", "static"})
_DOWNLOAD_SORTS = {"recent_downloads": "recent", "total_downloads": "all", "downloads": "all"}
# Postgres' english dictionary drops these, so they never match on their own.
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be but by for from if in into is it no not of on or such that the their then "
        "there these they this to was will with",
    )
)


# --------------------------------------------------------------------------------------------- versions


_ID = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    rf"(?:-({_ID}(?:\.{_ID})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)

VersionKey = tuple[int, int, int, tuple[Any, ...]]


def parse_version(version: str) -> tuple[int, int, int, tuple[str, ...]] | None:
    """Parse strict SemVer the way Elixir's `Version.parse/1` does; `None` when it would fail."""
    match = _SEMVER_RE.match(version)
    if match is None:
        return None
    pre = tuple(match.group(4).split(".")) if match.group(4) else ()
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), pre


def version_key(version: str) -> VersionKey:
    """SemVer precedence as a sortable key (numeric pre-release ids compare as numbers: rc.10 > rc.2)."""
    parsed = parse_version(version)
    if parsed is None:
        raise ValueError(f"not a SemVer version: {version!r}")
    major, minor, patch, pre = parsed
    if not pre:
        return major, minor, patch, (1,)
    ids = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre)
    return major, minor, patch, (0, ids)


def is_prerelease(version: str) -> bool:
    parsed = parse_version(version)
    return bool(parsed and parsed[3])


def matches_requirement(version: str, requirement: str) -> bool:
    """Elixir requirement matching, for the forms advisories use (`< 1.2.0`, `>= 1.0.0 and < 1.2.0`)."""
    for alternative in re.split(r"\s+or\s+", requirement.strip()):
        clauses = re.split(r"\s+and\s+", alternative.strip())
        if all(_matches_clause(version, clause) for clause in clauses):
            return True
    return False


def _matches_clause(version: str, clause: str) -> bool:
    match = re.match(r"^(==|!=|>=|<=|~>|>|<)?\s*(\S+)$", clause.strip())
    if match is None:
        return False
    op, target = match.group(1) or "==", match.group(2)
    parts = target.split("-", 1)[0].split(".")
    if op == "~>":
        if len(parts) == 2:
            lower, upper = f"{parts[0]}.{parts[1]}.0", f"{int(parts[0]) + 1}.0.0-0"
        else:
            lower, upper = target, f"{parts[0]}.{int(parts[1]) + 1}.0-0"
        return version_key(lower) <= version_key(version) < version_key(upper)
    if len(parts) < 3:
        target = ".".join(parts + ["0"] * (3 - len(parts)))
    have, want = version_key(version), version_key(target)
    return {
        "==": have == want,
        "!=": have != want,
        ">=": have >= want,
        "<=": have <= want,
        ">": have > want,
        "<": have < want,
    }[op]


# ------------------------------------------------------------------------------------- hexpm views


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_timestamp(value: datetime) -> str:
    """hexpm's `utc_datetime_usec` rendering: always 6 fractional digits and `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def docs_url(name: str, version: str | None = None) -> str:
    # hexdocs moved to per-package subdomains in 2026; a few reserved names keep the apex form.
    base = (
        f"https://hexdocs.pm/{name}/"
        if name in _APEX_DOCS_NAMES
        else f"https://{name.replace('_', '-')}.hexdocs.pm/"
    )
    return f"{base}{version}/" if version else base


def api_package_url(name: str) -> str:
    return f"https://hex.pm/api/packages/{name}"


def api_release_url(name: str, version: str) -> str:
    return f"https://hex.pm/api/packages/{name}/releases/{version}"


def user_url(username: str) -> str:
    return f"https://hex.pm/api/users/{username}"


def dep_snippets(name: str, app: str, version: str) -> dict[str, str]:
    """The three `configs` snippets hexpm renders (`PackageView.dep_snippet/3`)."""
    parsed = parse_version(version)
    assert parsed is not None, version
    major, minor, _patch, pre = parsed
    requirement = f"~> {version}" if pre or major == 0 else f"~> {major}.{minor}"
    if app == name:
        mix = f'{{:{name}, "{requirement}"}}'
        rebar = f'{{{name}, "{version}"}}'
    else:
        mix = f'{{:{app}, "{requirement}", hex: :{name}}}'
        rebar = f'{{{app}, "{version}", {{pkg, {name}}}}}'
    return {"erlang.mk": f"dep_{name} = hex {version}", "mix.exs": mix, "rebar.config": rebar}


def _digest(*parts: str) -> int:
    return int(hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12], 16)


def synthetic_checksum(name: str, version: str) -> str:
    """Checksum of a release that has no recorded fixture: sha256 of name + version, or, for a package whose
    releases ship a tarball (fakehex.changelogs), the SHA-256 of that tarball."""
    if changelogs.has_tarballs(name):
        return changelogs.checksum(name, version)
    return hashlib.sha256(f"{name}{version}".encode()).hexdigest()


def synthetic_downloads(package: dict[str, Any], version: str) -> int:
    """A believable, deterministic per-release download total derived from the package's all-time count."""
    total = int(package.get("downloads", {}).get("all", 0))
    share = total // max(len(package["releases"]), 1)
    count = share * (25 + _digest(package["name"], version) % 150) // 100
    if is_prerelease(version):
        count //= 25
    return max(count, 1)


def default_retired_at(package: dict[str, Any], version: str) -> datetime:
    """When a release without an explicit retirement time was retired: 10 minutes after its successor."""
    releases = package["releases"]
    index = next(i for i, item in enumerate(releases) if item["version"] == version)
    anchor = parse_timestamp((releases[index - 1] if index > 0 else releases[index])["inserted_at"])
    usec = 0 if anchor.microsecond == 0 else _digest(version) % 999_999
    return anchor + timedelta(minutes=10, microseconds=usec)


def synthesize_release(
    package: dict[str, Any],
    version: str,
    *,
    meta: dict[str, Any],
    requirements: dict[str, Any],
    publisher: dict[str, Any] | None,
) -> dict[str, Any]:
    """Build a release show view for a listed version from package data plus a template's meta and deps."""
    name = package["name"]
    entry = next(item for item in package["releases"] if item["version"] == version)
    inserted = parse_timestamp(entry["inserted_at"])
    retirement = package.get("retirements", {}).get(version)
    if retirement is not None:
        updated = default_retired_at(package, version)
    else:
        updated = inserted + timedelta(
            seconds=2 + _digest(name, version) % 7, microseconds=_digest(version) % 999_999
        )
    if inserted.microsecond == 0:
        # Rows from before hexpm stored microseconds keep a zero fraction on every timestamp.
        updated = updated.replace(microsecond=0)
    advisories = [
        advisory
        for advisory in package.get("security_advisories", [])
        if any(matches_requirement(version, req) for req in advisory.get("affected", []))
    ]
    return {
        "checksum": synthetic_checksum(name, version),
        "configs": dep_snippets(name, meta["app"], version),
        "docs_html_url": docs_url(name, version) if entry["has_docs"] else None,
        "downloads": synthetic_downloads(package, version),
        "has_docs": entry["has_docs"],
        "html_url": f"https://hex.pm/packages/{name}/{version}",
        "inserted_at": entry["inserted_at"],
        "meta": dict(meta),
        "package_url": api_package_url(name),
        "publisher": publisher,
        "requirements": requirements,
        "retirement": retirement,
        "security_advisories": advisories,
        "updated_at": format_timestamp(updated),
        "url": api_release_url(name, version),
        "version": version,
    }


def list_view(package: dict[str, Any]) -> dict[str, Any]:
    """The search-list item: the show view without owners/advisories, configs keyed by the package name."""
    item = {key: value for key, value in package.items() if key not in ("owners", "security_advisories")}
    # The list endpoint loads releases without `meta`, so the snippet always uses the package name as the app.
    item["configs"] = dep_snippets(package["name"], package["name"], _config_version(package))
    return item


def _config_version(package: dict[str, Any]) -> str:
    return str(package.get("latest_stable_version") or package["latest_version"])


def hexpm_json(value: Any) -> bytes:
    # Elixir maps with <= 32 keys iterate in key order, so hexpm's Jason output has sorted keys.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ------------------------------------------------------------------------------------------ search


@dataclass
class SearchQuery:
    words: list[str] = field(default_factory=list)
    filters: list[tuple[str, str]] = field(default_factory=list)


def parse_search(text: str) -> SearchQuery:
    """hexpm's tokenizer: `key:value` filters (first `:` before any whitespace, not at 0) vs free words."""
    query = SearchQuery()
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and not text[i].isspace() and text[i] != ":":
            i += 1
        if i < n and text[i] == ":" and i > start:
            key = text[start:i].lower()
            i += 1
            if i < n and text[i] == '"':
                end = text.find('"', i + 1)
                end = n if end == -1 else end
                value, i = text[i + 1 : end], end + 1
            else:
                value_start = i
                while i < n and not text[i].isspace():
                    i += 1
                value = text[value_start:i]
            query.filters.append((key, value))
        else:
            while i < n and not text[i].isspace():
                i += 1
            query.words.append(text[start:i])
    # `extra:` without a comma fails to parse upstream, and the whole string becomes free text.
    if any(key == "extra" and "," not in value for key, value in query.filters):
        return SearchQuery(words=text.split())
    return query


def _fulltext_terms(text: str) -> set[str]:
    return {_stem(word) for word in re.split(r"[^0-9a-z]+", text.lower().replace("/", " ")) if word}


def _stem(word: str) -> str:
    # A crude stand-in for the english stemmer: enough for plurals ("parsers" finds "parser").
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _name_pattern_matches(name: str, pattern: str) -> bool:
    if "/" in pattern:
        repository, _, pattern = pattern.partition("/")
        if repository != "hexpm":
            return False
    if pattern == "*":
        return True
    starts, ends = pattern.startswith("*"), pattern.endswith("*")
    core = pattern[1 if starts else 0 : len(pattern) - 1 if ends else len(pattern)]
    if starts and ends:
        return core in name
    if starts:
        return name.endswith(core)
    if ends:
        return name.startswith(core)
    return name == pattern


# ------------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class Fault:
    """An injected failure for requests whose path starts with `path_prefix`.

    `times=None` keeps it forever; an int is decremented on every match and the fault retires at 0.
    Extra keyword arguments are the kind's parameters (`status`, `headers`, `body`, `seconds`, `size`, ...).
    """

    def __init__(self, kind: str, path_prefix: str = "", times: int | None = None, **params: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        self.kind = kind
        self.path_prefix = path_prefix
        self.times = times
        self.params: dict[str, Any] = params

    def __repr__(self) -> str:
        return (
            f"Fault({self.kind!r}, path_prefix={self.path_prefix!r}, times={self.times!r}, **{self.params!r})"
        )


class _Request(NamedTuple):
    method: str
    raw: str  # the request target as sent, still percent-encoded
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    # Set by the hexpm routes so fault kinds that need "the normal answer" can reuse it.
    upstream: str = "hexpm"


@functools.lru_cache(maxsize=8)
def load_registry(fixtures_dir: Path) -> _Registry:
    """Parse a fixtures directory once per process; the registry is read-only, so servers can share it."""
    return _Registry(fixtures_dir)


class _Registry:
    """The fixture data set, loaded once: package show views, release show views and derived indexes."""

    def __init__(self, fixtures_dir: Path) -> None:
        root = fixtures_dir / "hexpm" if (fixtures_dir / "hexpm" / "packages").is_dir() else fixtures_dir
        if not (root / "packages").is_dir():
            raise FileNotFoundError(f"no packages/ directory under {fixtures_dir}")
        self.packages: dict[str, dict[str, Any]] = {}
        for path in sorted((root / "packages").glob("*.json")):
            package = json.loads(path.read_text(encoding="utf-8"))
            self.packages[package["name"]] = package
        self.releases: dict[str, dict[str, dict[str, Any]]] = {}
        for path in sorted((root / "releases").glob("*/*.json")):
            release = json.loads(path.read_text(encoding="utf-8"))
            self.releases.setdefault(path.parent.name, {})[release["version"]] = release
        # `depends:` is answered from a dependants table upstream; here it is every recorded release's deps.
        self.dependants: dict[str, set[str]] = {}
        self.build_tools: dict[str, set[str]] = {}
        for name, by_version in self.releases.items():
            for release in by_version.values():
                for dep in release.get("requirements", {}):
                    self.dependants.setdefault(dep, set()).add(name)
                self.build_tools.setdefault(name, set()).update(release["meta"].get("build_tools", []))
        self.list_views = {name: list_view(package) for name, package in self.packages.items()}
        # Memoised wire encodings; a benign race at worst encodes the same bytes twice.
        self._encoded_packages: dict[str, bytes] = {}
        self._encoded_list_views: dict[str, bytes] = {}
        self.fulltext = {
            name: _fulltext_terms(package.get("meta", {}).get("description") or "")
            for name, package in self.packages.items()
        }

    def encoded_package(self, name: str) -> bytes:
        if name not in self._encoded_packages:
            self._encoded_packages[name] = hexpm_json(self.packages[name])
        return self._encoded_packages[name]

    def encoded_list_view(self, name: str) -> bytes:
        if name not in self._encoded_list_views:
            self._encoded_list_views[name] = hexpm_json(self.list_views[name])
        return self._encoded_list_views[name]

    def release(self, name: str, version: str) -> dict[str, Any] | None:
        package = self.packages.get(name)
        if package is None:
            return None
        recorded = self.releases.get(name, {})
        if version in recorded:
            if changelogs.has_tarballs(name):  # the bytes served decide, whichever zlib built the fixtures
                return {**recorded[version], "checksum": changelogs.checksum(name, version)}
            return recorded[version]
        if all(item["version"] != version for item in package["releases"]):
            return None
        template = self._nearest_recorded(name, version)
        if template is None:
            return None
        return synthesize_release(
            package,
            version,
            meta=template["meta"],
            requirements=template["requirements"],
            publisher=template["publisher"],
        )

    def _nearest_recorded(self, name: str, version: str) -> dict[str, Any] | None:
        """The recorded release closest below `version` (else the lowest one above it)."""
        recorded = sorted(self.releases.get(name, {}).values(), key=lambda r: version_key(r["version"]))
        if not recorded:
            return None
        key = version_key(version)
        below = [release for release in recorded if version_key(release["version"]) <= key]
        return below[-1] if below else recorded[0]

    def search(self, text: str, sort: str | None, page: int, per_page: int) -> list[dict[str, Any]]:
        query = parse_search(text.strip())
        updated_after: datetime | None = None
        matches = []
        for package in self.packages.values():
            if not self._free_text_matches(package, query.words):
                continue
            ok = True
            for key, value in query.filters:
                if key == "updated_after":
                    updated_after = _parse_updated_after(value) or updated_after
                    continue
                ok = ok and self._filter_matches(package, key, value)
            if ok:
                matches.append(package)
        if updated_after is not None:
            matches = [p for p in matches if parse_timestamp(p["updated_at"]) >= updated_after]
        if per_page <= 0:
            return []
        start = (page - 1) * per_page
        if updated_after is not None:
            # Incremental-sync mode: pages are cut in updated_at ASC order, then re-sorted by downloads.
            matches.sort(key=lambda p: p["updated_at"])
            window = matches[start : start + per_page]
            if sort in _DOWNLOAD_SORTS:
                window = _sort_packages(window, sort)
            return [self.list_views[p["name"]] for p in window]
        ordered = _sort_packages(matches, sort)
        return [self.list_views[p["name"]] for p in ordered[start : start + per_page]]

    def _free_text_matches(self, package: dict[str, Any], words: list[str]) -> bool:
        if not words:
            return True
        text = " ".join(words)
        needle = text.lower()
        name_hit = needle in package["name"] if len(text) >= 3 else package["name"] == needle
        return name_hit or self._description_matches(package, text)

    def _description_matches(self, package: dict[str, Any], text: str) -> bool:
        wanted = _fulltext_terms(text) - _STOPWORDS
        return bool(wanted & self.fulltext[package["name"]])

    def _filter_matches(self, package: dict[str, Any], key: str, value: str) -> bool:
        name = package["name"]
        if key == "name":
            return _name_pattern_matches(name, value)
        if key == "description":
            return self._description_matches(package, value)
        if key == "depends":
            repository, _, dep = value.rpartition(":")
            if repository not in ("", "hexpm"):
                return False
            return name in self.dependants.get(dep, set())
        if key == "build_tool":
            return value in self.build_tools.get(name, set())
        # No fixture carries `meta.extra`, so an `extra:` containment query matches nothing;
        # unknown keys are silently ignored upstream.
        return key != "extra"


def _parse_updated_after(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.utcoffset() != timedelta(0):
        return None
    return parsed


def _sort_packages(packages: list[dict[str, Any]], sort: str | None) -> list[dict[str, Any]]:
    by_name = sorted(packages, key=lambda p: p["name"])
    if sort is None or sort == "name":
        return by_name
    if sort in _DOWNLOAD_SORTS:
        window = _DOWNLOAD_SORTS[sort]
        # Descending with NULLs (a missing window) last; ties keep name order so pages are stable.
        return sorted(by_name, key=lambda p: (window not in p["downloads"], -p["downloads"].get(window, 0)))
    if sort in ("inserted_at", "updated_at"):
        return sorted(by_name, key=lambda p: p[sort], reverse=True)
    # An unknown sort gets no ORDER BY upstream (undefined order); name order is one valid outcome.
    return by_name


# ------------------------------------------------------------------------------------------ server


class FakeUpstream:
    """Both upstreams on one real HTTP server; see the module docstring."""

    def __init__(
        self,
        fixtures_dir: Path = DEFAULT_FIXTURES,
        *,
        oanor_key: str = "test-oanor-key",
        hex_api_key: str | None = None,
        port: int = 0,
    ) -> None:
        self.registry = load_registry(Path(fixtures_dir).resolve())
        self.oanor_key = oanor_key
        self.hex_api_key = hex_api_key
        self.hits: list[Hit] = []
        self.ratelimit: dict[str, int] = self._fresh_ratelimit()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.hexpm_url = ""
        self.oanor_url = ""
        self.repo_url = ""
        self._repo_key: Any = None  # an RSA private key, made on first use (fakehex.registry_files)
        self._repo_files: dict[str, bytes] = {}
        # (name, version) -> (tarball served, checksum published): hostile or altered tarballs set by tests.
        self._tarballs: dict[tuple[str, str], tuple[bytes, str]] = {}
        # Releases whose registry entry lacks the outer checksum, as in files written before it existed.
        self._no_outer_checksum: set[tuple[str, str]] = set()

    # ---- the Hex repository

    @property
    def repo_key(self) -> Any:
        """The test key the fake signs registry files with, generated once per fake."""
        # Imported here: fakehex.registry_files imports this module.
        from fakehex.registry_files import new_test_key

        with self._lock:
            if self._repo_key is None:
                self._repo_key = new_test_key()
            return self._repo_key

    @property
    def repo_public_key_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.repo_key.public_key().public_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def write_repo_public_key(self, path: Path) -> Path:
        """Write the test key's PEM to `path`, for HEX_MCP_REPO_PUBLIC_KEY."""
        path.write_bytes(self.repo_public_key_pem)
        return path

    def set_tarball(self, name: str, version: str, body: bytes, *, checksum: str | None = None) -> None:
        """Serve `body` as the tarball of `name` `version` and publish `checksum` for it (default: its SHA-256)
        in the API's release document and the registry file, until `reset`."""
        with self._lock:
            self._tarballs[(name, version)] = (body, checksum or hashlib.sha256(body).hexdigest())
            self._repo_files.pop(name, None)

    def drop_registry_checksum(self, name: str, version: str) -> None:
        """Leave the outer checksum out of `version`'s entry in the registry file of `name`, until `reset`."""
        with self._lock:
            self._no_outer_checksum.add((name, version))
            self._repo_files.pop(name, None)

    def tarball(self, name: str, version: str) -> bytes | None:
        """The tarball served for a release: one set by a test, else the package's own, else None."""
        with self._lock:
            override = self._tarballs.get((name, version))
        if override is not None:
            return override[0]
        package = self.registry.packages.get(name)
        if package is None or not changelogs.has_tarballs(name):
            return None
        if all(item["version"] != version for item in package["releases"]):
            return None
        return changelogs.tarball(name, version)

    def release_doc(self, name: str, version: str) -> dict[str, Any] | None:
        """The release document served, with the checksum a test published for an altered tarball."""
        release = self.registry.release(name, version)
        with self._lock:
            override = self._tarballs.get((name, version))
        if release is None or override is None:
            return release
        return {**release, "checksum": override[1]}

    def registry_package(self, name: str, *, repository: str = "hexpm", as_name: str | None = None) -> Any:
        """The registry view of a fixture package (a `RegistryPackage`), optionally renamed or re-homed."""
        import dataclasses

        from fakehex.registry_files import package_from_api

        package = self.registry.packages[name]
        pkg = package_from_api(package, lambda v: self.release_doc(name, v), repository=repository)
        with self._lock:
            dropped = {version for (package_name, version) in self._no_outer_checksum if package_name == name}
        if dropped:
            releases = tuple(
                dataclasses.replace(r, outer_checksum=None) if r.version in dropped else r
                for r in pkg.releases
            )
            pkg = dataclasses.replace(pkg, releases=releases)
        return dataclasses.replace(pkg, name=as_name) if as_name is not None else pkg

    def repo_file(self, name: str) -> bytes:
        """`/packages/NAME` as the repository serves it: gzip(Signed{Package}), signed with the test key."""
        from fakehex.registry_files import package_file

        cached = self._repo_files.get(name)
        if cached is None:
            cached = package_file(self.registry_package(name), self.repo_key)
            self._repo_files[name] = cached  # a benign race at worst signs the same bytes twice
        return cached

    def names_file(self) -> bytes:
        """The signed `/names` index of every fixture package, built once."""
        from fakehex.registry_files import names_file, names_from_api

        cached = self._repo_files.get("/names")  # no package name contains a slash
        if cached is None:
            cached = names_file(names_from_api(self.registry.packages.values()), self.repo_key)
            self._repo_files["/names"] = cached
        return cached

    def _repo(self, method: str, path: str, headers: dict[str, str], fault: str | None = None) -> _Response:
        segments = path.split("/")[1:]
        if method in ("GET", "HEAD") and len(segments) == 2 and segments[0] == "tarballs" and not fault:
            name, _, version = segments[1].removesuffix(".tar").partition("-")
            body = self.tarball(name, version) if segments[1].endswith(".tar") else None
            if body is None:
                return _Response(403, [("content-type", "application/xml")], b"<Error>AccessDenied</Error>")
            return _Response(200, [("content-type", "application/octet-stream")], body)
        if method not in ("GET", "HEAD"):
            return _Response(404, [("content-type", "text/plain")], b"not found")
        if segments == ["names"]:
            body = self.names_file()
        elif len(segments) != 2 or segments[0] != "packages":
            return _Response(404, [("content-type", "text/plain")], b"not found")
        elif segments[1] not in self.registry.packages:
            # S3 behind repo.hex.pm answers 403 for a missing object.
            return _Response(403, [("content-type", "application/xml")], b"<Error>AccessDenied</Error>")
        else:
            name = segments[1]
            body = self._faulty_repo_file(name, fault) if fault else self.repo_file(name)
        etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        base = [("content-type", "application/octet-stream"), ("etag", etag)]
        if headers.get("if-none-match") == etag:
            return _Response(304, base)
        return _Response(200, base, body)

    def _faulty_repo_file(self, name: str, kind: str) -> bytes:
        from fakehex import registry_files as rf

        if kind == "registry_bad_signature":
            other = rf.new_test_key()  # a well-formed file signed by a key the client does not trust
            return rf.package_file(self.registry_package(name), other)
        if kind == "registry_no_signature":
            return rf.signed_file(rf.encode_package(self.registry_package(name)), None)
        if kind == "registry_wrong_repository":
            return rf.package_file(self.registry_package(name, repository="acme"), self.repo_key)
        if kind == "registry_wrong_name":
            other = next(n for n in sorted(self.registry.packages) if n != name)
            return rf.package_file(self.registry_package(other), self.repo_key)
        good = self.repo_file(name)
        if kind == "registry_truncated_gzip":
            return good[: len(good) // 2]
        return b"<html>503 Service Unavailable</html>"  # registry_not_gzip: an error page served as 200

    # ---- lifecycle

    def start(self) -> FakeUpstream:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self, self._port)
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self.hexpm_url = self.url + HEXPM_PREFIX
        self.oanor_url = self.url + OANOR_PREFIX
        self.repo_url = self.url + REPO_PREFIX
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-upstream", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        # Wake handlers sleeping in delay/stall faults so they do not outlive the server.
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- test knobs

    def count(self, prefix: str = "") -> int:
        with self._lock:
            return sum(1 for hit in self.hits if hit.path.startswith(prefix))

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()
            self._faults.clear()
            self.ratelimit = self._fresh_ratelimit()
            for name, _version in {*self._tarballs, *self._no_outer_checksum}:
                self._repo_files.pop(name, None)
            self._tarballs.clear()
            self._no_outer_checksum.clear()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    @staticmethod
    def _fresh_ratelimit() -> dict[str, int]:
        # hexpm windows are fixed 60-second windows aligned to the epoch minute.
        return {"limit": 100, "remaining": 97, "reset": (int(time.time()) // 60 + 1) * 60}

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _consume_ratelimit(self) -> dict[str, int]:
        with self._lock:
            state = self.ratelimit
            state["remaining"] = max(0, int(state.get("remaining", 0)) - 1)
            return {
                "limit": int(state["limit"]),
                "remaining": state["remaining"],
                "reset": int(state["reset"]),
            }

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(max(0.0, float(seconds)))

    # ---- request handling

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        raw_path = split.path
        path = unquote(raw_path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {key.lower(): value for key, value in handler.headers.items()}
        method = handler.command
        if path.startswith(CONTROL_PREFIX + "/"):
            self._send(handler, method, self._control(method, path, handler))
            return
        with self._lock:
            self.hits.append(Hit(method, path, query, headers))
        fault = self._take_fault(path)
        if fault is not None and fault.kind == "delay":
            self._sleep(fault.params.get("seconds", 1.0))
            fault = None
        request = _Request(method, handler.path, path, query, headers)
        if fault is None:
            self._send(handler, method, self._route(request))
            return
        self._apply_fault(handler, fault, request)

    def _route(self, request: _Request) -> _Response:
        method, raw, path, query, headers = request
        if path.startswith(REPO_PREFIX + "/"):
            return self._repo(method, path[len(REPO_PREFIX) :], headers)
        if path == HEXPM_PREFIX or path.startswith(HEXPM_PREFIX + "/"):
            return self._hexpm(method, raw, path[len(HEXPM_PREFIX) :], query, headers)
        if path == OANOR_PREFIX or path.startswith(OANOR_PREFIX + "/"):
            return self._gateway(method, path[len(OANOR_PREFIX) :], query, headers)
        return _Response(
            404, [("content-type", "application/json; charset=utf-8")], hexpm_json(_hexpm_error(404))
        )

    # ---- hexpm

    def _hexpm(
        self, method: str, raw: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> _Response:
        # hexpm's `:api` pipeline order: accepts, user_agent, authenticate, validate_url, rate limit.
        if not _accepts_json(headers.get("accept")):
            return _hexpm_plain(406, None, [])
        if not headers.get("user-agent"):
            return _hexpm_plain(400, "User-Agent header is required", [])
        authorization = headers.get("authorization")
        keys = (self.hex_api_key, f"Bearer {self.hex_api_key}")
        if self.hex_api_key is not None and authorization is not None and authorization not in keys:
            return _hexpm_plain(401, "invalid API key", [("www-authenticate", "Basic realm=hex")])
        if "%00" in raw.lower():
            return _hexpm_plain(400, "Bad request", [])
        rate = _ratelimit_headers(self._consume_ratelimit())
        if method not in ("GET", "HEAD"):
            return _hexpm_plain(404, None, rate)
        segments = [unquote(part) for part in urlsplit(raw).path.split("/")[2:]]
        if segments[:2] == ["repos", "hexpm"]:
            segments = segments[2:]
        if segments == ["packages"]:
            items = self._hexpm_search(query)
            # Joining cached per-item encodings gives the same bytes as encoding the list, much faster.
            body = b"[" + b",".join(self.registry.encoded_list_view(item["name"]) for item in items) + b"]"
            return _hexpm_ok(body, None, headers, rate)
        if len(segments) == 2 and segments[0] == "packages":
            package = self.registry.packages.get(segments[1])
            if package is None:
                return _hexpm_plain(404, None, rate)
            return _hexpm_ok(
                self.registry.encoded_package(package["name"]), package["updated_at"], headers, rate
            )
        if len(segments) == 4 and segments[0] == "packages" and segments[2] == "releases":
            if parse_version(segments[3]) is None:
                return _hexpm_plain(400, f"invalid version: {segments[3]}", rate)
            release = self.release_doc(segments[1], segments[3])
            if release is None:
                return _hexpm_plain(404, None, rate)
            return _hexpm_ok(hexpm_json(release), release["updated_at"], headers, rate)
        return _hexpm_plain(404, None, rate)

    def _hexpm_search(self, query: dict[str, str]) -> list[dict[str, Any]]:
        page = _int_param(query.get("page"), 1)
        per_page = _int_param(query.get("per_page"), 100, minimum=None)
        per_page = 100 if per_page < 0 else min(per_page, 100)
        return self.registry.search(
            query.get("search", ""), query.get("sort") or None, max(page, 1), per_page
        )

    # ---- oanor gateway

    def _gateway(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> _Response:
        if headers.get("x-oanor-key") != self.oanor_key:
            return _gateway_error(401, GATEWAY_UNAUTHORIZED)
        if method not in ("GET", "HEAD"):
            return _gateway_error(404, "Not found")
        name = query.get("name", "")
        if path == "/v1/meta":
            return self._gateway_ok(GATEWAY_META_DATA, "Meta retrieved", path, query)
        if path == "/v1/search":
            if not query.get("q", "").strip():
                return _gateway_error(400, "Missing required parameter: q")
            page = max(_int_param(query.get("page"), 1), 1)
            limit = min(max(_int_param(query.get("limit"), 20), 1), 100)
            # The gateway forwards to hex.pm's name-sorted search, one gateway page per hex.pm page.
            items = self.registry.search(query["q"], "name", page, limit)
            data = {
                "page": page,
                "count": len(items),
                "query": query["q"],
                "results": [_gateway_search_result(item) for item in items],
            }
            return self._gateway_ok(data, "Packages searched", path, query)
        if path not in ("/v1/package", "/v1/releases", "/v1/release"):
            return _gateway_error(404, "Not found")
        if not name:
            return _gateway_error(400, "Missing required parameter: name")
        package = self.registry.packages.get(name)
        if package is None:
            return _gateway_error(404, "Package not found")
        if path == "/v1/package":
            return self._gateway_ok({"package": gateway_package(package)}, "Package retrieved", path, query)
        if path == "/v1/releases":
            limit = min(max(_int_param(query.get("limit"), 50), 1), 500)
            return self._gateway_ok(gateway_releases(package, limit), "Releases retrieved", path, query)
        version = query.get("version", "")
        if not version:
            return _gateway_error(400, "Missing required parameter: version")
        if parse_version(version) is None:
            return _gateway_error(400, f"invalid version: {version}")
        release = self.release_doc(name, version)
        if release is None:
            return _gateway_error(404, "Release not found")
        return self._gateway_ok({"release": gateway_release(name, release)}, "Release retrieved", path, query)

    @staticmethod
    def _gateway_ok(data: Any, message: str, path: str, query: dict[str, str]) -> _Response:
        request_id = str(
            uuid.uuid5(
                uuid.NAMESPACE_URL, path + "?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()))
            )
        )
        envelope = {
            "data": data,
            "meta": {"timestamp": GATEWAY_TIMESTAMP, "request_id": request_id},
            "status": "ok",
            "message": message,
            "success": True,
        }
        return _Response(
            200, [("content-type", "application/json; charset=utf-8")], gateway_json(envelope), "oanor"
        )

    # ---- control routes (for processes that cannot call the Python API)

    def _control(self, method: str, path: str, handler: _Handler) -> _Response:
        length = int(handler.headers.get("content-length") or 0)
        payload: Any = json.loads(handler.rfile.read(length) or b"null") if length else None
        action = path[len(CONTROL_PREFIX) + 1 :]
        result: Any = {"ok": True}
        if action == "hits" and method == "GET":
            with self._lock:
                result = [hit.__dict__ for hit in self.hits]
        elif action == "reset" and method == "POST":
            self.reset()
        elif action == "faults" and method == "POST" and isinstance(payload, dict):
            params = dict(payload.get("params") or {})
            params.update(
                {k: v for k, v in payload.items() if k not in ("kind", "path_prefix", "times", "params")}
            )
            try:
                self.add_fault(
                    Fault(payload["kind"], payload.get("path_prefix", ""), payload.get("times"), **params)
                )
            except (KeyError, ValueError) as exc:
                return _Response(
                    400, [("content-type", "application/json")], json.dumps({"error": str(exc)}).encode()
                )
        elif action == "ratelimit" and method in ("POST", "PUT") and isinstance(payload, dict):
            with self._lock:
                self.ratelimit = {**self.ratelimit, **{k: int(v) for k, v in payload.items()}}
            result = self.ratelimit
        elif action == "ratelimit" and method == "GET":
            result = self.ratelimit
        else:
            return _Response(
                404, [("content-type", "application/json")], b'{"error":"unknown control route"}'
            )
        return _Response(200, [("content-type", "application/json")], json.dumps(result).encode())

    # ---- faults

    def _apply_fault(self, handler: _Handler, fault: Fault, request: _Request) -> None:
        params = fault.params
        method = request.method
        gateway = request.path.startswith(OANOR_PREFIX)
        kind = fault.kind
        if kind in REGISTRY_FAULTS:
            if not request.path.startswith(REPO_PREFIX + "/"):
                raise AssertionError(f"fault {kind!r} applies to {REPO_PREFIX}/ paths only")
            self._send(
                handler, method, self._repo(method, request.path[len(REPO_PREFIX) :], request.headers, kind)
            )
            return
        if kind == "drop":
            handler.close_connection = True
            return
        if kind == "ratelimited_bare":
            body = _error_body(gateway, 429, None)
            handler.send_response_only(429)
            handler.send_header("content-length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        if kind in ("stall_body", "truncated"):
            self._send_partial(handler, kind, params, self._route(request))
            return
        base = self._fault_headers(gateway)
        if kind == "status":
            if "seconds" in params:  # a slow failure, so that concurrent callers overlap with it
                self._sleep(params["seconds"])
            status = int(params.get("status", 500))
            extra = [(k.lower(), str(v)) for k, v in dict(params.get("headers") or {}).items()]
            if not gateway and status == 401:
                extra.append(("www-authenticate", "Basic realm=hex"))
            body = _encode_body(params["body"]) if "body" in params else _error_body(gateway, status, None)
            self._send(handler, method, _Response(status, _merge_headers(base, extra), body))
            return
        if kind == "ratelimited":
            seconds = int(params.get("seconds", 1))
            if gateway:
                retry = str(params.get("retry_after", seconds))
                hdrs = [*base, ("retry-after", retry)]
            else:
                reset = int(time.time()) + int(params.get("reset_in", seconds))
                limit = int(self.ratelimit.get("limit", 100))
                hdrs = [h for h in base if not h[0].startswith("x-ratelimit-")]
                hdrs += _ratelimit_headers({"limit": limit, "remaining": 0, "reset": reset})
            self._send(handler, method, _Response(429, hdrs, _error_body(gateway, 429, None)))
            return
        if kind == "malformed":
            self._send(handler, method, _Response(200, base, MALFORMED_BODY))
            return
        if kind == "wrong_shape":
            body = _encode_body(params.get("body", {"unexpected": True}))
            self._send(handler, method, _Response(200, base, body))
            return
        if kind == "redirect":
            location = str(params.get("location", REDIRECT_TARGET))
            status = int(params.get("status", 302))
            self._send(handler, method, _Response(status, [*base, ("location", location)], b""))
            return
        if kind != "oversized":
            raise AssertionError(f"unhandled fault kind {kind!r}")
        self._stream_oversized(handler, base, int(params.get("size", DEFAULT_OVERSIZED_BYTES)), params)

    def _send_partial(self, handler: _Handler, kind: str, params: dict[str, Any], normal: _Response) -> None:
        """Announce the normal answer's full length, deliver half of it, then stall (or not) and hang up."""
        # A 304 has no body to stall in; a conditional request that meets a stall gets a stalled 200.
        status = normal.status if kind == "stall_body" and normal.status != 304 else 200
        body = normal.body or hexpm_json(_hexpm_error(404))
        handler.send_response(status)
        for key, value in normal.headers:
            handler.send_header(key, value)
        handler.send_header("content-length", str(len(body)))
        handler.send_header("connection", "close")
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        if kind == "stall_body":
            self._sleep(params.get("seconds", 1.0))

    def _fault_headers(self, gateway: bool) -> list[tuple[str, str]]:
        headers = [("content-type", "application/json; charset=utf-8")]
        if not gateway:
            headers += _ratelimit_headers(self._consume_ratelimit())
        return headers

    @staticmethod
    def _stream_oversized(
        handler: _Handler, base: list[tuple[str, str]], size: int, params: dict[str, Any]
    ) -> None:
        chunked = bool(params.get("chunked", False))
        handler.send_response(200)
        for key, value in base:
            handler.send_header(key, value)
        if chunked:
            handler.send_header("transfer-encoding", "chunked")
        else:
            handler.send_header("content-length", str(size))
        # Announce the close: a client that pooled this connection would otherwise race our hang-up.
        handler.send_header("connection", "close")
        handler.end_headers()
        for piece in _oversized_pieces(size):
            if chunked:
                handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                handler.wfile.write(piece)
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    # ---- wire

    @staticmethod
    def _send(handler: _Handler, method: str, response: _Response) -> None:
        handler.send_response(response.status)
        for key, value in response.headers:
            handler.send_header(key, value)
        if response.status != 304:
            handler.send_header("content-length", str(len(response.body)))
        handler.end_headers()
        if method != "HEAD" and response.status != 304:
            handler.wfile.write(response.body)


# ---------------------------------------------------------------------------------- response helpers


def _hexpm_error(status: int, message: str | None = None) -> dict[str, Any]:
    return {"message": message if message is not None else _HEXPM_MESSAGES.get(status), "status": status}


def _hexpm_plain(status: int, message: str | None, extra: list[tuple[str, str]]) -> _Response:
    headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("cache-control", "max-age=0, private, must-revalidate"),
        *extra,
    ]
    return _Response(status, headers, hexpm_json(_hexpm_error(status, message)))


def _hexpm_ok(
    body: bytes, updated_at: str | None, request: dict[str, str], rate: list[tuple[str, str]]
) -> _Response:
    etag = hashlib.md5(body).hexdigest()
    validators = [("etag", etag)]
    last_modified: datetime | None = None
    if updated_at is not None:
        last_modified = parse_timestamp(updated_at).replace(microsecond=0)
        validators.append(("last-modified", email.utils.format_datetime(last_modified, usegmt=True)))
    if _is_fresh(request, etag, last_modified):
        return _Response(304, [("cache-control", "max-age=0, private, must-revalidate"), *validators, *rate])
    headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("cache-control", "public, max-age=60"),
        ("vary", "accept, accept-encoding, accept-encoding"),
        *validators,
        *rate,
        ("x-request-id", etag[:20]),
    ]
    return _Response(200, headers, body)


def _is_fresh(request: dict[str, str], etag: str, last_modified: datetime | None) -> bool:
    """Plug's conditional-GET rule: every validator the client sent must say "fresh"."""
    checks: list[bool] = []
    if_none_match = request.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip() for tag in if_none_match.split(",")}
        checks.append(etag in tags or "*" in tags)
    if_modified_since = request.get("if-modified-since")
    if if_modified_since is not None and last_modified is not None:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            since = None
        checks.append(since is not None and last_modified <= since)
    return bool(checks) and all(checks)


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    acceptable = {"*/*", "application/*", "application/json", "application/vnd.hex+json"}
    acceptable |= {"application/vnd.hex+erlang", "application/vnd.hex+elixir"}
    return any(part.split(";")[0].strip().lower() in acceptable for part in accept.split(","))


def _ratelimit_headers(state: dict[str, int]) -> list[tuple[str, str]]:
    return [
        ("x-ratelimit-limit", str(state["limit"])),
        ("x-ratelimit-remaining", str(state["remaining"])),
        ("x-ratelimit-reset", str(state["reset"])),
    ]


def _gateway_error(status: int, message: str) -> _Response:
    headers = [("content-type", "application/json; charset=utf-8")]
    return _Response(status, headers, _gateway_error_body(message), "oanor")


def _gateway_error_body(message: str) -> bytes:
    # The gateway writes its error envelope in this literal key order.
    return json.dumps(
        {"success": False, "status": "error", "message": message, "data": None}, separators=(",", ":")
    ).encode()


def _error_body(gateway: bool, status: int, message: str | None) -> bytes:
    if gateway:
        return _gateway_error_body(message or _GATEWAY_MESSAGES.get(status, "Request failed"))
    return hexpm_json(_hexpm_error(status, message))


def _encode_body(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":")).encode()


def _merge_headers(base: list[tuple[str, str]], extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    overridden = {key for key, _ in extra}
    return [h for h in base if h[0] not in overridden] + extra


def _int_param(value: str | None, default: int, minimum: int | None = None) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if minimum is None else max(number, minimum)


def _oversized_pieces(size: int) -> Iterator[bytes]:
    """Exactly `size` bytes of a plausible release list, produced lazily so 11 MiB never sits in memory."""
    head, tail = b'{"name":"oversized","releases":[', b"]}"
    item = (
        b'{"has_docs":true,"inserted_at":"2024-01-01T00:00:00.000000Z",'
        b'"url":"https://hex.pm/api/packages/oversized/releases/0.0.1","version":"0.0.1"}'
    )
    if size < len(head) + len(tail):
        yield b" " * size
        return
    remaining = size - len(head) - len(tail)
    yield head
    buffer = bytearray()
    first = True
    while remaining >= len(item) + 1:
        piece = item if first else b"," + item
        first = False
        buffer += piece
        remaining -= len(piece)
        if len(buffer) >= 65536:
            yield bytes(buffer)
            buffer.clear()
    buffer += b" " * remaining  # whitespace padding keeps the document valid JSON at the exact size
    yield bytes(buffer)
    yield tail


# --------------------------------------------------------------------------------- gateway shapes


def _jsonb_order(value: Any) -> Any:
    """Reorder object keys the way Postgres jsonb stores them (shorter keys first, then bytewise).

    The gateway's bodies come out of a jsonb column, which is where its examples' key order comes from.
    """
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return {key: _jsonb_order(value[key]) for key in keys}
    if isinstance(value, list):
        return [_jsonb_order(item) for item in value]
    return value


def gateway_json(value: Any) -> bytes:
    return json.dumps(_jsonb_order(value), separators=(",", ":"), ensure_ascii=False).encode()


def _minimal_release(item: dict[str, Any]) -> dict[str, Any]:
    return {"version": item["version"], "has_docs": item["has_docs"], "inserted_at": item["inserted_at"]}


def gateway_package(package: dict[str, Any]) -> dict[str, Any]:
    meta = package.get("meta", {})
    return {
        "name": package["name"],
        "links": meta.get("links", {}),
        "owners": package.get("owners", []),
        "html_url": package["html_url"],
        "licenses": meta.get("licenses", []),
        "downloads": package.get("downloads", {}),
        "updated_at": package["updated_at"],
        "description": meta.get("description"),
        "inserted_at": package["inserted_at"],
        "docs_html_url": package.get("docs_html_url"),
        "version_count": len(package["releases"]),
        "latest_version": package["latest_version"],
        # The first 8 entries of hexpm's list, which is SemVer-descending (not by date).
        "recent_releases": [_minimal_release(item) for item in package["releases"][:8]],
        "latest_stable_version": package.get("latest_stable_version"),
    }


def gateway_releases(package: dict[str, Any], limit: int) -> dict[str, Any]:
    releases = [_minimal_release(item) for item in package["releases"][:limit]]
    return {
        "count": len(releases),
        "total": len(package["releases"]),
        "latest": package["latest_version"],
        "package": package["name"],
        "releases": releases,
    }


def gateway_release(name: str, release: dict[str, Any]) -> dict[str, Any]:
    meta = release["meta"]
    dependencies = [
        {"app": req["app"], "name": dep, "optional": req["optional"], "requirement": req["requirement"]}
        for dep, req in sorted(release.get("requirements", {}).items())
    ]
    return {
        "app": meta["app"],
        "elixir": meta.get("elixir"),
        "package": name,
        "version": release["version"],
        "checksum": release["checksum"],
        "has_docs": release["has_docs"],
        "downloads": release["downloads"],
        "updated_at": release["updated_at"],
        "build_tools": meta.get("build_tools", []),
        "inserted_at": release["inserted_at"],
        "dependencies": dependencies,
    }


def _gateway_search_result(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": item["name"],
        "html_url": item["html_url"],
        "description": item.get("meta", {}).get("description"),
        "downloads_all": item.get("downloads", {}).get("all", 0),
        "latest_version": item["latest_version"],
    }


# -------------------------------------------------------------------------------------- http glue


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; without TCP_NODELAY, delayed ACKs add ~40 ms per request.
    disable_nagle_algorithm = True
    server_version = "fake-upstream"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging; tests read `FakeUpstream.hits` instead."""

    def _dispatch(self) -> None:
        try:
            self.server.fake._serve(self)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            # The client gave up first (timeouts, size limits); that is the point of most faults.
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, fake: FakeUpstream, port: int) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut keep-alive connections too, so a stopped server is really gone for pooled clients."""
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakehex", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES, help="fixtures directory")
    parser.add_argument("--oanor-key", default="test-oanor-key", help="accepted x-oanor-key value")
    parser.add_argument("--hex-api-key", default=None, help="if set, a different Authorization is rejected")
    args = parser.parse_args(argv)
    fake = FakeUpstream(args.fixtures, oanor_key=args.oanor_key, hex_api_key=args.hex_api_key, port=args.port)
    fake.start()
    sys.stdout.write(fake.url + "\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
