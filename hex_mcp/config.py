"""Settings: every knob of the server, read from flags with environment fallbacks.

`Settings.from_env()` reads the `HEX_MCP_*` variables (and the two API keys); the CLI layers its flags on top with
`dataclasses.replace`. Secrets are wrapped in `Secret`, whose `repr` and `str` never show the value.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

Backend = Literal["hexpm", "oanor"]
Transport = Literal["stdio", "sse", "streamable-http"]

BACKENDS: tuple[Backend, ...] = ("hexpm", "oanor")
TRANSPORTS: tuple[Transport, ...] = ("stdio", "sse", "streamable-http")
DEFAULT_BASE_URLS: dict[Backend, str] = {
    "hexpm": "https://hex.pm/api",
    "oanor": "https://api.oanor.com/hex-api",
}
BACKEND_LABELS: dict[Backend, str] = {"hexpm": "hex.pm", "oanor": "Hex API gateway"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
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
    """Seconds an answer counts as fresh, per endpoint."""

    package: int = 900  # downloads move daily and new releases appear at any time: 15 minutes
    releases: int = 900
    release: int = 86_400  # a release is immutable after an hour; only retirements and advisories change
    search: int = 3_600
    meta: int = 86_400

    @classmethod
    def uniform(cls, seconds: int) -> TTLs:
        return cls(seconds, seconds, seconds, seconds, seconds)

    def for_endpoint(self, endpoint: str) -> int:
        value: int = getattr(self, endpoint)
        return value


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

    backend: Backend = "hexpm"
    base_url: str = DEFAULT_BASE_URLS["hexpm"]
    hex_api_key: Secret | None = None
    oanor_api_key: Secret | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    cache_enabled: bool = True
    cache_size_mb: int = 256
    ttls: TTLs = field(default_factory=TTLs)
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
    log_level: str = "WARNING"

    @property
    def backend_label(self) -> str:
        return BACKEND_LABELS[self.backend]

    @property
    def api_key(self) -> Secret | None:
        """The key sent to the selected backend."""
        return self.oanor_api_key if self.backend == "oanor" else self.hex_api_key

    @property
    def effective_max_rps(self) -> float | None:
        if self.max_rps is not None:
            return self.max_rps if self.max_rps > 0 else None
        return 2.0 if self.backend == "oanor" else None

    def with_backend(self, backend: Backend, base_url: str | None = None) -> Settings:
        return dataclasses.replace(self, backend=backend, base_url=base_url or DEFAULT_BASE_URLS[backend])

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
        backend = parse_choice("HEX_MCP_BACKEND", backend_raw, BACKENDS)
        transport = parse_choice("HEX_MCP_TRANSPORT", get("HEX_MCP_TRANSPORT") or "stdio", TRANSPORTS)
        ttl_all = get("HEX_MCP_CACHE_TTL")
        ttls = TTLs.uniform(parse_int("HEX_MCP_CACHE_TTL", ttl_all, minimum=0)) if ttl_all else TTLs()
        return cls(
            backend=backend,
            base_url=(get("HEX_MCP_BASE_URL") or DEFAULT_BASE_URLS[backend]).rstrip("/"),
            hex_api_key=Secret(hex_key) if hex_key else None,
            oanor_api_key=Secret(oanor_key) if oanor_key else None,
            cache_dir=Path(get("HEX_MCP_CACHE_DIR") or default_cache_dir()).expanduser(),
            cache_enabled=not parse_bool("HEX_MCP_NO_CACHE", get("HEX_MCP_NO_CACHE")),
            cache_size_mb=parse_int(
                "HEX_MCP_CACHE_SIZE_MB", get("HEX_MCP_CACHE_SIZE_MB") or "256", minimum=1
            ),
            ttls=ttls,
            offline=parse_bool("HEX_MCP_OFFLINE", get("HEX_MCP_OFFLINE")),
            max_rps=parse_float("HEX_MCP_MAX_RPS", get("HEX_MCP_MAX_RPS")),
            monthly_quota=parse_optional_int("HEX_MCP_MONTHLY_QUOTA", get("HEX_MCP_MONTHLY_QUOTA")),
            timeout=parse_float("HEX_MCP_TIMEOUT", get("HEX_MCP_TIMEOUT")) or 10.0,
            transport=transport,
            host=get("HEX_MCP_HOST") or "127.0.0.1",
            port=parse_int("HEX_MCP_PORT", get("HEX_MCP_PORT") or "8000", minimum=0, maximum=65535),
            allowed_hosts=tuple(
                h.strip() for h in (get("HEX_MCP_ALLOWED_HOSTS") or "").split(",") if h.strip()
            ),
            auth_token=Secret(token) if (token := get("HEX_MCP_AUTH_TOKEN")) else None,
            log_level=parse_choice(
                "HEX_MCP_LOG_LEVEL", (get("HEX_MCP_LOG_LEVEL") or "WARNING").upper(), LOG_LEVELS
            ),
        )


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
