"""Settings: every knob of the server, read from flags with environment fallbacks.

`Settings.from_env()` reads the `HEX_MCP_*` variables (and the two API keys); the CLI layers its flags on top with
`dataclasses.replace`. Secrets are wrapped in `Secret`, whose `repr` and `str` never show the value.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from hex_mcp.backends import Backend, EndpointKind, backend_for
from hex_mcp.models import BACKEND_NAMES, BackendName

Transport = Literal["stdio", "sse", "streamable-http"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
# Where version, dependency and retirement facts come from: the signed registry first with the API as fallback
# (auto), the API only (off), or the registry only for what it carries (only).
RegistryMode = Literal["auto", "off", "only"]

TRANSPORTS: tuple[Transport, ...] = ("stdio", "sse", "streamable-http")
LOG_LEVELS: tuple[LogLevel, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")
REGISTRY_MODES: tuple[RegistryMode, ...] = ("auto", "off", "only")
DEFAULT_REPO_URL = "https://repo.hex.pm"
_C = TypeVar("_C", bound=str)


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True)
class TTLs:
    """Seconds an answer counts as fresh, per endpoint: one field per `EndpointKind`, named alike."""

    package: int = 900  # downloads move daily and new releases appear at any time: 15 minutes
    releases: int = 900
    release: int = 86_400  # a release is immutable after an hour; only retirements and advisories change
    search: int = 3_600
    meta: int = 86_400
    registry: int = 3_600  # a signed registry file is revalidated with its ETag, so a 304 is cheap
    names: int = 86_400  # the registry's list of every package name: completions and "did you mean"

    @classmethod
    def uniform(cls, seconds: int) -> TTLs:
        return cls(**dict.fromkeys((f.name for f in dataclasses.fields(cls)), seconds))

    def for_endpoint(self, kind: EndpointKind) -> int:
        ttl: int = getattr(self, kind)
        return ttl

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class ConfigError(ValueError):
    """A setting has a value the server cannot use; the message names the setting."""


def default_cache_dir() -> Path:
    """The per-user cache directory of the platform, with a `hex-mcp` folder."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "hex-mcp" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "hex-mcp"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hex-mcp"


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know; immutable once built."""

    backend: BackendName = "hexpm"
    base_url: str = backend_for("hexpm").default_base_url
    hex_api_key: Secret | None = None
    oanor_api_key: Secret | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    cache_enabled: bool = True
    cache_size_mb: int = 256
    ttls: TTLs = field(default_factory=TTLs)
    # A 404 is remembered this long (in memory), so repeated questions about unknown names cost no calls.
    not_found_ttl: int = 600
    # Upstream lookups one hex_outdated call may start: 100 is a minute of hex.pm's per-IP budget.
    max_lookups: int = 100
    stale_for: int = 7 * 86_400  # how long past its TTL an entry may still answer when upstream fails
    offline: bool = False
    max_rps: float | None = None  # None: unlimited on hex.pm (its rate headers govern); 2 on the gateway
    monthly_quota: int | None = None
    timeout: float = 10.0  # total deadline of one upstream call, retries included
    retries: int = 2
    max_body_bytes: int = 10 * 1024 * 1024
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: tuple[str, ...] = ()
    auth_token: Secret | None = None
    insecure_no_auth: bool = False
    # Streamable HTTP without sessions: any replica behind a load balancer can answer any request.
    stateless_http: bool = False
    # Availability of the HTTP transports under hostile clients (see README "Reliability").
    header_timeout: float = 10.0  # seconds a connection may take to send a request's headers
    max_connections: int = 200  # open connections; past it the longest-waiting idle one is closed, else 503
    max_sessions: int = 1000  # open MCP sessions; past it a new session gets 503
    max_pending_sessions: int = 100  # sessions whose client has not finished the handshake yet
    pending_session_ttl: float = 10.0  # seconds a session may take to finish its handshake
    shutdown_grace: float = 10.0  # seconds in-flight calls may take to finish after SIGTERM
    log_level: LogLevel = "WARNING"
    registry: RegistryMode = "auto"
    repo_url: str = DEFAULT_REPO_URL
    # PEM of the key registry files must be signed with; None: hex.pm's key, embedded in hex_mcp.registry.
    repo_public_key: bytes | None = None
    # hex_plan's bounds: the whole answer (registry reads and the solve) within this many seconds, and at most
    # this many registry files per plan (a large Phoenix app reaches ~80 packages).
    plan_deadline: float = 10.0
    plan_max_packages: int = 300
    # Shared state of many replicas (answers, monthly quota, rate window, single flight); None: this process alone.
    # A Secret: the URL may carry the password.
    redis_url: Secret | None = None
    redis_prefix: str = "hexmcp:"
    redis_password: Secret | None = None

    @property
    def upstream(self) -> Backend:
        """The selected backend's policy and mapping."""
        return backend_for(self.backend)

    @property
    def backend_label(self) -> str:
        return self.upstream.label

    @property
    def api_key(self) -> Secret | None:
        """The key sent to the selected backend."""
        return self.keys().get(self.backend)

    def keys(self) -> dict[BackendName, Secret | None]:
        return {"hexpm": self.hex_api_key, "oanor": self.oanor_api_key}

    @property
    def effective_max_rps(self) -> float | None:
        if self.max_rps is not None:
            return self.max_rps if self.max_rps > 0 else None
        return self.upstream.default_rps

    def with_backend(self, backend: BackendName, base_url: str | None = None) -> Settings:
        return dataclasses.replace(
            self, backend=backend, base_url=base_url or backend_for(backend).default_base_url
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `HEX_MCP_*`, `HEX_API_KEY` and `OANOR_API_KEY`."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        oanor_key = get("OANOR_API_KEY")
        hex_key = get("HEX_API_KEY")
        backend_raw = get("HEX_MCP_BACKEND") or ("oanor" if oanor_key else "hexpm")
        backend = parse_choice("HEX_MCP_BACKEND", backend_raw, BACKEND_NAMES)
        # Only what the environment sets is passed on: every default lives in the dataclass above.
        given: dict[str, Any] = {
            "backend": backend,
            "base_url": (get("HEX_MCP_BASE_URL") or backend_for(backend).default_base_url).rstrip("/"),
            "hex_api_key": Secret(hex_key) if hex_key else None,
            "oanor_api_key": Secret(oanor_key) if oanor_key else None,
            "cache_enabled": not parse_bool("HEX_MCP_NO_CACHE", get("HEX_MCP_NO_CACHE")),
            "offline": parse_bool("HEX_MCP_OFFLINE", get("HEX_MCP_OFFLINE")),
            "max_rps": parse_float("HEX_MCP_MAX_RPS", get("HEX_MCP_MAX_RPS")),
            "monthly_quota": parse_optional_int("HEX_MCP_MONTHLY_QUOTA", get("HEX_MCP_MONTHLY_QUOTA")),
            "auth_token": Secret(token) if (token := get("HEX_MCP_AUTH_TOKEN")) else None,
            "stateless_http": parse_bool("HEX_MCP_STATELESS_HTTP", get("HEX_MCP_STATELESS_HTTP")),
        }
        if (value := get("HEX_MCP_TRANSPORT")) is not None:
            given["transport"] = parse_choice("HEX_MCP_TRANSPORT", value, TRANSPORTS)
        if (value := get("HEX_MCP_CACHE_TTL")) is not None:
            given["ttls"] = TTLs.uniform(parse_int("HEX_MCP_CACHE_TTL", value, minimum=0))
        if (value := get("HEX_MCP_CACHE_DIR")) is not None:
            given["cache_dir"] = Path(value).expanduser()
        if (value := get("HEX_MCP_CACHE_SIZE_MB")) is not None:
            given["cache_size_mb"] = parse_int("HEX_MCP_CACHE_SIZE_MB", value, minimum=1)
        if (value := get("HEX_MCP_NOT_FOUND_TTL")) is not None:
            given["not_found_ttl"] = parse_int("HEX_MCP_NOT_FOUND_TTL", value, minimum=0)
        if (value := get("HEX_MCP_MAX_LOOKUPS")) is not None:
            given["max_lookups"] = parse_int("HEX_MCP_MAX_LOOKUPS", value, minimum=1)
        if timeout := parse_float("HEX_MCP_TIMEOUT", get("HEX_MCP_TIMEOUT")):  # 0 keeps the default
            given["timeout"] = timeout
        if (value := get("HEX_MCP_HOST")) is not None:
            given["host"] = value
        if (value := get("HEX_MCP_PORT")) is not None:
            given["port"] = parse_int("HEX_MCP_PORT", value, minimum=0, maximum=65535)
        if (value := get("HEX_MCP_ALLOWED_HOSTS")) is not None:
            given["allowed_hosts"] = tuple(h.strip() for h in value.split(",") if h.strip())
        for name, attr in _HTTP_LIMITS:
            if (value := get(name)) is not None:
                number = parse_float(name, value)
                if not number:
                    raise ConfigError(f"{name}={value!r} must be above 0")
                given[attr] = (
                    number
                    if attr in ("header_timeout", "pending_session_ttl", "shutdown_grace")
                    else int(number)
                )
        if (value := get("HEX_MCP_LOG_LEVEL")) is not None:
            given["log_level"] = parse_choice("HEX_MCP_LOG_LEVEL", value.upper(), LOG_LEVELS)
        if (value := get("HEX_MCP_REGISTRY")) is not None:
            given["registry"] = parse_choice("HEX_MCP_REGISTRY", value.lower(), REGISTRY_MODES)
        # HEX_MIRROR is the variable Hex itself reads for a repository mirror; our own name wins when both are set.
        if (value := get("HEX_MCP_REPO_URL")) is not None:
            given["repo_url"] = parse_repo_url("HEX_MCP_REPO_URL", value)
        elif (value := get("HEX_MIRROR")) is not None:
            given["repo_url"] = parse_repo_url("HEX_MIRROR", value)
        if (value := get("HEX_MCP_REPO_PUBLIC_KEY")) is not None:
            given["repo_public_key"] = read_public_key("HEX_MCP_REPO_PUBLIC_KEY", Path(value).expanduser())
        if (value := get("HEX_MCP_REDIS_URL")) is not None:
            given["redis_url"] = Secret(parse_redis_url("HEX_MCP_REDIS_URL", value))
        if (value := get("HEX_MCP_REDIS_PREFIX")) is not None:
            given["redis_prefix"] = parse_redis_prefix("HEX_MCP_REDIS_PREFIX", value)
        if (value := get("HEX_MCP_REDIS_PASSWORD")) is not None:
            given["redis_password"] = Secret(value)
        return cls(**given)


REDIS_SCHEMES = ("redis", "rediss", "unix")


def parse_redis_url(name: str, value: str) -> str:
    """A redis://, rediss:// (TLS) or unix:// URL; the error never repeats the value, which may hold a password."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in REDIS_SCHEMES or not rest:
        raise ConfigError(
            f"{name} is not a Redis URL: use redis://HOST:PORT/DB, rediss://HOST:PORT/DB (TLS) or unix:///PATH"
        )
    return value


def parse_redis_prefix(name: str, value: str) -> str:
    if len(value) > 64 or any(c.isspace() or c in "*?[]" for c in value):
        raise ConfigError(
            f"{name}={value!r} must be at most 64 characters, without spaces or glob characters"
        )
    return value


_HTTP_LIMITS = (
    ("HEX_MCP_HEADER_TIMEOUT", "header_timeout"),
    ("HEX_MCP_MAX_CONNECTIONS", "max_connections"),
    ("HEX_MCP_MAX_SESSIONS", "max_sessions"),
    ("HEX_MCP_MAX_PENDING_SESSIONS", "max_pending_sessions"),
    ("HEX_MCP_PENDING_SESSION_TTL", "pending_session_ttl"),
    ("HEX_MCP_SHUTDOWN_GRACE", "shutdown_grace"),
)


def is_loopback(host: str) -> bool:
    """A host name or address that only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_repo_url(name: str, value: str) -> str:
    """An http(s) URL without a trailing slash; which host it names is free, since every file is verified."""
    url = value.rstrip("/")
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or any(c in rest for c in "?# "):
        raise ConfigError(f"{name}={value!r} is not an http(s) repository URL such as {DEFAULT_REPO_URL}")
    return url


REPO_KEY_MAX_BYTES = 64 * 1024  # an RSA public key PEM is well under 1 KB; anything huge is not one


def read_public_key(name: str, path: Path) -> bytes:
    """Read and check a registry public key PEM at start, so a bad path or key fails before any request."""
    from hex_mcp.registry import load_public_key  # noqa: PLC0415  (lazy: it loads `cryptography`)

    try:
        with path.open("rb") as handle:
            pem = handle.read(REPO_KEY_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{name}={str(path)!r} cannot be read ({exc.strerror or exc})") from None
    if len(pem) > REPO_KEY_MAX_BYTES:
        raise ConfigError(f"{name}={str(path)!r} is over {REPO_KEY_MAX_BYTES:,} bytes: not a public key PEM")
    try:
        load_public_key(pem)
    except ValueError as exc:
        raise ConfigError(f"{name}={str(path)!r}: {exc}") from None
    return pem


def parse_choice(name: str, value: str, choices: tuple[_C, ...]) -> _C:
    for choice in choices:
        if value == choice:
            return choice
    raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")


def parse_bool(name: str, value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use 1 or 0)")


def parse_int(name: str, value: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ConfigError(f"{name}={value!r} is out of range")
    return number


def parse_optional_int(name: str, value: str | None) -> int | None:
    return None if value is None else parse_int(name, value, minimum=0)


def parse_float(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if number < 0:
        raise ConfigError(f"{name}={value!r} must not be negative")
    return number
