"""`hex-mcp doctor`: one line per check of what the server needs, each with what to do when it is not right.

The checks run in a fixed order: Python, package versions, backend and base URL, API key, upstream
reachability and latency (one real GET through `UpstreamClient`, the same client the server uses), the
rate-limit window it reports, cache directory, cache contents, offline mode, and the shared Redis store when one is
configured (connection, latency, version, eviction policy). Key values are never printed,
only whether they are set. Exit status is 1 when any check fails, so scripts and CI can gate on it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import anyio

from hex_mcp import __version__
from hex_mcp.backends import backend_for
from hex_mcp.cache import ResponseCache, cache_dir_problem
from hex_mcp.config import ConfigError, Settings, is_loopback
from hex_mcp.errors import AuthError, HexError, NotFound
from hex_mcp.fetch import CallBudget
from hex_mcp.redis_store import OP_TIMEOUT, ServerFacts, open_store
from hex_mcp.text import human_bytes, split_sentence
from hex_mcp.upstream import UpstreamClient, clock_time

Status = Literal["ok", "warn", "fail"]
MIN_PYTHON = (3, 11)
# The distribution behind `hex_mcp`, then what it imports at runtime (pyproject's dependencies).
PACKAGES = (
    ("hex-mcp", "mcp-server-hexpm"),
    ("mcp", "mcp"),
    ("httpx2", "httpx2"),
    ("pydantic", "pydantic"),
    ("diskcache", "diskcache"),
    ("resolvelib", "resolvelib"),
    ("cryptography", "cryptography"),
)
# A small, long-lived package: cheap for hex.pm to serve, and always there.
PROBE_PACKAGE = "jason"
# A diagnosis should report the first failure quickly rather than wait out the server's full deadline.
PROBE_TIMEOUT = 10.0
# A sentence ends at ". " before a capital letter, but not after an abbreviation such as "e.g.".


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def render(self, width: int = 10) -> str:
        line = f"{self.status:<4} {self.name:<{width}}  {self.detail}"
        return f"{line}\n     {'':<{width}}  → {self.fix}" if self.fix else line


@dataclass(frozen=True)
class Probe:
    """What the one upstream GET told us."""

    check: Check
    rate: Check


def render(checks: Sequence[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    counts = {status: sum(1 for c in checks if c.status == status) for status in ("ok", "warn", "fail")}
    summary = f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail"
    return "\n".join([*(c.render(width) for c in checks), summary])


def redact_url(url: str) -> str:
    """A base URL with any `user:password@` part masked: it is printed, so it must not carry a credential."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# -- the checks that need no network ---------------------------------------------------------------------


def check_python(version: tuple[int, int, int] | None = None) -> Check:
    major, minor, micro = version or sys.version_info[:3]
    text = f"{major}.{minor}.{micro} ({sys.executable})"
    if (major, minor) >= MIN_PYTHON:
        return Check("python", "ok", text)
    return Check(
        "python",
        "fail",
        text,
        f"hex-mcp needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; "
        "install it, e.g. with `uvx --python 3.12 mcp-server-hexpm`",
    )


def check_packages() -> Check:
    found: list[str] = []
    missing: list[str] = []
    for label, dist in PACKAGES:
        try:
            found.append(f"{label} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            if dist == "mcp-server-hexpm":
                found.append(f"{label} {__version__} (not installed as a package)")
            else:
                missing.append(label)
    if missing:
        return Check(
            "packages",
            "fail",
            ", ".join(found) + f"; missing: {', '.join(missing)}",
            "reinstall: `pip install --force-reinstall mcp-server-hexpm`",
        )
    return Check("packages", "ok", ", ".join(found))


def check_backend(settings: Settings) -> Check:
    url = redact_url(settings.base_url)
    default_url = settings.upstream.default_base_url
    detail = f"{settings.backend} ({settings.backend_label}) at {url}"
    if settings.base_url != default_url:
        detail += " (custom base URL: HEX_MCP_BASE_URL or --base-url)"
    parts = urlsplit(settings.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check(
            "backend",
            "fail",
            detail,
            f"set HEX_MCP_BASE_URL to an http(s) URL, or unset it to use {default_url}",
        )
    if parts.scheme == "http" and settings.api_key is not None and not is_loopback(parts.hostname):
        return Check("backend", "warn", detail, "the API key would travel unencrypted: use an https base URL")
    return Check("backend", "ok", detail)


def check_key(settings: Settings) -> Check:
    upstream = settings.upstream
    if settings.api_key is None:
        if upstream.key_required:
            return Check(
                "api key",
                "fail",
                f"{upstream.key_env} is not set; the {upstream.label} requires it",
                f"set {upstream.key_env} (get one at {upstream.key_url}), or use --backend hexpm, "
                "which needs no key",
            )
        detail = f"{upstream.key_env} is not set: fine, {upstream.keyless_note}"
    else:
        detail = f"{upstream.key_env} is set (value hidden)"
    for name, key in settings.keys().items():
        if name != settings.backend and key is not None:
            other = backend_for(name)
            return Check(
                "api key",
                "warn",
                detail + f"; {other.key_env} is set but unused with the {settings.backend} backend",
                f"unset HEX_MCP_BACKEND (or pass --backend {name}) to use the {other.short_label}, or unset the "
                "key",
            )
    return Check("api key", "ok", detail)


def check_cache_dir(settings: Settings) -> Check:
    if not settings.cache_enabled:
        if settings.offline:
            return Check(
                "cache dir",
                "fail",
                "disabled (--no-cache / HEX_MCP_NO_CACHE) while offline mode is on: nothing can answer",
                "drop --no-cache, or turn offline mode off",
            )
        return Check(
            "cache dir",
            "warn",
            "disabled (--no-cache / HEX_MCP_NO_CACHE): every call goes upstream",
            "unset HEX_MCP_NO_CACHE for faster, quota-friendly answers",
        )
    directory = settings.cache_dir
    if (problem := cache_dir_problem(directory)) is not None:
        return Check(
            "cache dir", "fail", problem, "point HEX_MCP_CACHE_DIR (or --cache-dir) at a real directory"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".hex-mcp-doctor-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Check(
            "cache dir",
            "fail",
            f"{directory} is not writable ({reason})",
            "set HEX_MCP_CACHE_DIR (or --cache-dir) to a writable directory; without one the server "
            "runs uncached",
        )
    return Check("cache dir", "ok", f"{directory} is writable")


def check_cache(settings: Settings, cache: ResponseCache) -> Check:
    calls = CallBudget(settings, cache)
    quota = calls.quota
    budget = f"{calls.used()} upstream calls this month ({settings.backend})" + (
        f" of a {quota} quota" if quota is not None else ""
    )
    if not cache.enabled:
        return Check("cache", "warn", f"not in use; {budget}")
    stats = cache.stats()
    entries, size = stats.entries, stats.size_bytes
    if entries is None or size is None:
        return Check(
            "cache",
            "warn",
            f"could not be read; {budget}",
            "clear it with `hex-mcp cache clear`, or point HEX_MCP_CACHE_DIR elsewhere",
        )
    detail = f"{entries} {'entry' if entries == 1 else 'entries'}, {human_bytes(size)}; {budget}"
    if calls.spent():
        return Check(
            "cache",
            "warn",
            detail,
            "the monthly quota is spent: answers come from the cache until "
            "next month; raise HEX_MCP_MONTHLY_QUOTA to allow more calls",
        )
    return Check("cache", "ok", detail)


def check_offline(settings: Settings, cache: ResponseCache) -> Check:
    if not settings.offline:
        return Check("offline", "ok", "off: answers come from upstream and are cached")
    entries = cache.stats().entries if cache.enabled else None
    if not entries:
        return Check(
            "offline",
            "fail",
            "on, and the cache is empty: every question will fail",
            "while online, run `hex-mcp cache warm NAME...` or `hex-mcp cache import FILE`, "
            "or unset HEX_MCP_OFFLINE",
        )
    return Check("offline", "ok", f"on: answers come only from the cache ({entries} cached), whatever age")


# -- the upstream probe ----------------------------------------------------------------------------------


async def probe_upstream(settings: Settings, cache: ResponseCache | None = None) -> Probe:
    """One GET to a cheap endpoint; reports reachability, latency and the rate-limit headers seen."""
    if settings.offline:
        skipped = "offline: skipped"
        return Probe(Check("upstream", "ok", skipped), Check("rate limit", "ok", skipped))
    budget = CallBudget(settings, cache) if cache is not None else None
    if budget is not None and budget.spent():
        spent = f"skipped: the monthly quota of {budget.quota} calls (HEX_MCP_MONTHLY_QUOTA) is spent"
        return Probe(
            Check("upstream", "warn", spent, "raise HEX_MCP_MONTHLY_QUOTA, or wait for next month"),
            Check("rate limit", "ok", "skipped (no call made)"),
        )
    mapping = settings.upstream
    endpoint = mapping.meta_endpoint() or mapping.package_endpoint(PROBE_PACKAGE)
    quick = dataclasses.replace(settings, retries=0, timeout=min(settings.timeout, PROBE_TIMEOUT))
    client = UpstreamClient(quick, on_attempt=budget.count if budget is not None else None)
    request = f"GET {endpoint.path}" + (
        f"?{'&'.join(f'{k}={v}' for k, v in endpoint.params)}" if endpoint.params else ""
    )
    started = time.perf_counter()
    try:
        await client.get(endpoint.path, endpoint.params_dict)
    except NotFound as exc:
        elapsed = round((time.perf_counter() - started) * 1000)
        check = Check(
            "upstream",
            "warn",
            f"{settings.backend_label} answered {request} in {elapsed} ms, but: {exc}",
            "check HEX_MCP_BASE_URL: it ends in /api (hex.pm) or /hex-api (gateway)",
        )
    except AuthError as exc:
        what, _advice = split_sentence(str(exc))
        check = Check("upstream", "fail", f"{request}: {what}", _key_fix(settings))
    except HexError as exc:
        # Upstream messages read "what happened. What to do."; the second half becomes the fix line.
        what, advice = split_sentence(str(exc))
        check = Check(
            "upstream",
            "fail",
            f"{request}: {what}",
            advice
            or "check the network, proxy "
            "settings and HEX_MCP_BASE_URL; `hex-mcp --offline` answers from the cache meanwhile",
        )
    else:
        elapsed = round((time.perf_counter() - started) * 1000)
        status: Status = "ok" if elapsed < 3000 else "warn"
        check = Check(
            "upstream",
            status,
            f"{settings.backend_label} answered {request} in {elapsed} ms",
            None if status == "ok" else "slow: raise HEX_MCP_TIMEOUT if calls time out",
        )
    finally:
        await client.aclose()
    return Probe(check, rate_check(settings, client, answered=check.status != "fail"))


def _key_fix(settings: Settings) -> str:
    return settings.upstream.bad_key_fix


def rate_check(settings: Settings, client: UpstreamClient, *, answered: bool) -> Check:
    rate = client.rate
    if rate.seen_at is None:
        if not answered:
            return Check("rate limit", "warn", "unknown (no answer from upstream)")
        return Check("rate limit", "ok", settings.upstream.no_rate_headers_note)
    reset = f", window resets {clock_time(rate.reset)}" if rate.reset is not None else ""
    remaining = "?" if rate.remaining is None else rate.remaining
    detail = f"{remaining} of {rate.limit or '?'} requests left{reset}"
    if rate.remaining == 0:
        fix = "wait for the window to reset"
        if settings.api_key is None and settings.upstream.keyed_limit_hint:
            fix += f"; {settings.upstream.keyed_limit_hint}"
        return Check("rate limit", "warn", detail, fix)
    return Check("rate limit", "ok", detail)


# -- the command -----------------------------------------------------------------------------------------


async def diagnose(settings: Settings) -> list[Check]:
    """Every check, in display order."""
    python, packages = check_python(), check_packages()
    backend, key = check_backend(settings), check_key(settings)
    cache_dir = check_cache_dir(settings)
    # An unwritable directory is already reported above; opening it anyway would only log the same failure.
    usable = cache_dir.status != "fail"
    cache = ResponseCache(settings if usable else dataclasses.replace(settings, cache_enabled=False))
    try:
        if backend.status == "fail":
            probe = Probe(
                Check("upstream", "fail", "skipped: the base URL is unusable"),
                Check("rate limit", "warn", "unknown (no call made)"),
            )
        else:
            probe = await probe_upstream(settings, cache)
        contents = check_cache(settings, cache)
        offline = check_offline(settings, cache)
    finally:
        cache.close()
    checks = [python, packages, backend, key, probe.check, probe.rate, cache_dir, contents, offline]
    if settings.redis_url is not None:
        checks.append(await check_redis(settings))
    return checks


REDIS_PROBE_TIMEOUT = 3.0  # seconds per Redis operation while diagnosing
# Eviction policies that may drop a key without a TTL, such as the monthly call counters.
_EVICTS_PERSISTENT = ("allkeys-lru", "allkeys-lfu", "allkeys-random")


async def check_redis(settings: Settings) -> Check:
    """Connection, latency, server version and eviction policy of the shared store; never the password."""
    try:
        # A diagnosis waits longer than a tool call would, so that a slow Redis is measured rather than missed.
        store = open_store(settings, op_timeout=REDIS_PROBE_TIMEOUT)
    except ConfigError as exc:
        return Check("redis", "fail", "the Redis client is not installed", str(exc).split(": ", 1)[1])
    assert store is not None
    try:
        facts = await store.server()
        keys = await store.count_keys() if isinstance(facts, ServerFacts) else None
        calls = await store.calls(settings.backend) if isinstance(facts, ServerFacts) else None
    finally:
        await store.aclose()
    if not isinstance(facts, ServerFacts):
        return Check(
            "redis",
            "fail",
            f"{store.where} did not answer ({store.last_error})",
            "check HEX_MCP_REDIS_URL, the password (in the URL or HEX_MCP_REDIS_PASSWORD) and that Redis runs; "
            "meanwhile each replica serves from its own cache and counters",
        )
    detail = (
        f"{store.where} · Redis {facts.version} · PING {facts.latency_ms:.1f} ms · "
        f"{keys if isinstance(keys, int) else '?'} keys under {settings.redis_prefix!r} · "
        f"{calls if isinstance(calls, int) else '?'} {settings.backend} calls this month"
    )
    if facts.latency_ms > OP_TIMEOUT * 1000:
        return Check(
            "redis",
            "warn",
            detail,
            f"a round trip over {OP_TIMEOUT * 1000:.0f} ms makes every operation fall back to the local cache: "
            "put Redis closer to the replicas",
        )
    if facts.policy in _EVICTS_PERSISTENT:
        return Check(
            "redis",
            "warn",
            detail + f" · maxmemory-policy {facts.policy}",
            "set maxmemory-policy volatile-lru: under memory pressure only answers (which expire) are evicted, "
            "never the monthly call counters",
        )
    return Check("redis", "ok", detail)


def run_doctor(settings: Settings) -> int:
    checks = anyio.run(diagnose, settings)
    sys.stdout.write(f"hex-mcp {__version__} doctor\n{render(checks)}\n")
    return 1 if any(c.status == "fail" for c in checks) else 0
