"""Settings from the environment and flags; secrets never show; the CLI refuses unsafe exposure."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hex_mcp import cli
from hex_mcp.backends import EndpointKind
from hex_mcp.config import ConfigError, Secret, Settings, TTLs, is_loopback


def test_defaults_pick_hexpm_without_a_gateway_key() -> None:
    settings = Settings.from_env({})
    assert settings.backend == "hexpm"
    assert settings.base_url == "https://hex.pm/api"
    assert settings.transport == "stdio"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.ttls == TTLs()
    assert settings.effective_max_rps is None


def test_gateway_key_selects_the_gateway() -> None:
    settings = Settings.from_env({"OANOR_API_KEY": "gw"})
    assert settings.backend == "oanor"
    assert settings.base_url == "https://api.oanor.com/hex-api"
    assert settings.api_key == Secret("gw")
    assert settings.effective_max_rps == 2.0


def test_explicit_backend_wins_over_the_key() -> None:
    settings = Settings.from_env({"OANOR_API_KEY": "gw", "HEX_MCP_BACKEND": "hexpm", "HEX_API_KEY": "hk"})
    assert settings.backend == "hexpm"
    assert settings.api_key == Secret("hk")


def test_env_values() -> None:
    settings = Settings.from_env(
        {
            "HEX_MCP_BASE_URL": "http://127.0.0.1:9/api/",
            "HEX_MCP_CACHE_DIR": "/tmp/x",
            "HEX_MCP_CACHE_TTL": "5",
            "HEX_MCP_OFFLINE": "1",
            "HEX_MCP_MAX_RPS": "4",
            "HEX_MCP_MONTHLY_QUOTA": "100",
            "HEX_MCP_CACHE_SIZE_MB": "16",
            "HEX_MCP_TIMEOUT": "3",
            "HEX_MCP_TRANSPORT": "sse",
            "HEX_MCP_PORT": "9001",
            "HEX_MCP_ALLOWED_HOSTS": "mcp.example.com, other.example",
            "HEX_MCP_LOG_LEVEL": "debug",
        }
    )
    assert settings.base_url == "http://127.0.0.1:9/api"
    assert settings.cache_dir == Path("/tmp/x")
    assert settings.ttls == TTLs.uniform(5)
    assert settings.offline is True
    assert settings.effective_max_rps == 4.0
    assert settings.monthly_quota == 100
    assert settings.cache_size_mb == 16
    assert settings.timeout == 3.0
    assert (settings.transport, settings.port) == ("sse", 9001)
    assert settings.allowed_hosts == ("mcp.example.com", "other.example")
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"HEX_MCP_BACKEND": "npm"}, "HEX_MCP_BACKEND='npm' is not one of: hexpm, oanor"),
        ({"HEX_MCP_PORT": "http"}, "HEX_MCP_PORT='http' is not a whole number"),
        ({"HEX_MCP_PORT": "70000"}, "HEX_MCP_PORT='70000' is out of range"),
        ({"HEX_MCP_OFFLINE": "maybe"}, "HEX_MCP_OFFLINE='maybe' is not a boolean"),
        ({"HEX_MCP_MAX_RPS": "-1"}, "HEX_MCP_MAX_RPS='-1' must not be negative"),
        ({"HEX_MCP_TRANSPORT": "ws"}, "HEX_MCP_TRANSPORT='ws' is not one of"),
    ],
)
def test_bad_env_values_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert needle in str(info.value)


def test_secrets_never_show_in_repr() -> None:
    settings = Settings.from_env(
        {"OANOR_API_KEY": "gw-secret", "HEX_API_KEY": "hex-secret", "HEX_MCP_AUTH_TOKEN": "tok-secret"}
    )
    text = repr(settings) + str(settings)
    for secret in ("gw-secret", "hex-secret", "tok-secret"):
        assert secret not in text
    assert "Secret('********')" in text


def test_flags_override_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEX_MCP_TRANSPORT", "sse")
    monkeypatch.setenv("HEX_MCP_CACHE_DIR", "/nowhere")
    args = cli.build_parser().parse_args(
        [
            "--transport",
            "streamable-http",
            "--cache-dir",
            str(tmp_path),
            "--backend",
            "oanor",
            "--offline",
            "--allowed-host",
            "a.example",
            "--allowed-host",
            "b.example:*",
        ]
    )
    settings = cli.settings_from_args(args)
    assert settings.transport == "streamable-http"
    assert settings.cache_dir == tmp_path
    assert settings.backend == "oanor" and settings.base_url == "https://api.oanor.com/hex-api"
    assert settings.offline is True
    assert settings.allowed_hosts == ("a.example", "b.example:*")


def test_global_flags_survive_subcommands(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["--offline", "--cache-dir", str(tmp_path), "cache", "stats"])
    settings = cli.settings_from_args(args)
    assert settings.offline is True and settings.cache_dir == tmp_path
    args = cli.build_parser().parse_args(["cache", "stats", "--no-cache"])
    assert cli.settings_from_args(args).cache_enabled is False


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    from hex_mcp import __version__

    assert capsys.readouterr().out.strip() == f"hex-mcp {__version__}"


def test_non_loopback_bind_without_token_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--transport", "streamable-http", "--host", "0.0.0.0"])
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without authentication" in err and "HEX_MCP_AUTH_TOKEN" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_bad_env_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEX_MCP_BACKEND", "npm")
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    assert "HEX_MCP_BACKEND='npm' is not one of: hexpm, oanor" in capsys.readouterr().err


def test_check_http_exposure_allows_token_or_explicit_opt_out() -> None:
    cli.check_http_exposure(Settings(transport="sse", host="0.0.0.0", auth_token=Secret("t")))
    cli.check_http_exposure(Settings(transport="sse", host="0.0.0.0", insecure_no_auth=True))
    with pytest.raises(ConfigError):
        cli.check_http_exposure(Settings(transport="sse", host="0.0.0.0"))


# -- the signed registry -----------------------------------------------------------------------------------------


def _pem(key_size: int = 2048) -> bytes:
    private = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_registry_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.registry, settings.repo_url, settings.repo_public_key) == (
        "auto",
        "https://repo.hex.pm",
        None,
    )
    assert settings.ttls.registry == 3600
    assert Settings.from_env({"OANOR_API_KEY": "gw"}).registry == "auto"  # it saves gateway quota too


def test_registry_env_values(tmp_path: Path) -> None:
    pem = _pem()
    (tmp_path / "repo.pem").write_bytes(pem)
    settings = Settings.from_env(
        {
            "HEX_MCP_REGISTRY": "ONLY",
            "HEX_MCP_REPO_URL": "http://127.0.0.1:9/repo/",
            "HEX_MCP_REPO_PUBLIC_KEY": str(tmp_path / "repo.pem"),
            "HEX_MCP_CACHE_TTL": "7",
        }
    )
    assert (settings.registry, settings.repo_url, settings.repo_public_key) == (
        "only",
        "http://127.0.0.1:9/repo",
        pem,
    )
    assert settings.ttls.registry == 7


def test_hex_mirror_is_honoured_unless_our_own_variable_is_set() -> None:
    assert Settings.from_env({"HEX_MIRROR": "https://mirror.example/"}).repo_url == "https://mirror.example"
    both = {"HEX_MIRROR": "https://mirror.example", "HEX_MCP_REPO_URL": "https://repo.example"}
    assert Settings.from_env(both).repo_url == "https://repo.example"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"HEX_MCP_REGISTRY": "sometimes"}, "HEX_MCP_REGISTRY='sometimes' is not one of: auto, off, only"),
        (
            {"HEX_MCP_REPO_URL": "repo.hex.pm"},
            "HEX_MCP_REPO_URL='repo.hex.pm' is not an http(s) repository URL",
        ),
        ({"HEX_MIRROR": "ftp://mirror"}, "HEX_MIRROR='ftp://mirror' is not an http(s) repository URL"),
        ({"HEX_MCP_REPO_URL": "https://repo.hex.pm/?x=1"}, "is not an http(s) repository URL"),
    ],
)
def test_bad_registry_values_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert needle in str(info.value)


def test_repo_public_key_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"HEX_MCP_REPO_PUBLIC_KEY": str(path)})
    assert (
        str(info.value) == f"HEX_MCP_REPO_PUBLIC_KEY={str(path)!r} cannot be read (No such file or directory)"
    )


def test_repo_public_key_not_a_pem(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"not a key")
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"HEX_MCP_REPO_PUBLIC_KEY": str(path)})
    assert str(info.value).startswith(
        f"HEX_MCP_REPO_PUBLIC_KEY={str(path)!r}: the registry public key is not a readable PEM public key"
    )


def test_repo_public_key_too_small(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(_pem(1024))
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"HEX_MCP_REPO_PUBLIC_KEY": str(path)})
    assert str(info.value) == (
        f"HEX_MCP_REPO_PUBLIC_KEY={str(path)!r}: the registry public key has 1024 bits; at least 2048 are required"
    )


def test_repo_public_key_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"x" * (64 * 1024 + 1))
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"HEX_MCP_REPO_PUBLIC_KEY": str(path)})
    assert (
        str(info.value) == f"HEX_MCP_REPO_PUBLIC_KEY={str(path)!r} is over 65,536 bytes: not a public key PEM"
    )


def test_http_availability_limits_from_env() -> None:
    settings = Settings.from_env(
        {
            "HEX_MCP_HEADER_TIMEOUT": "2.5",
            "HEX_MCP_MAX_CONNECTIONS": "50",
            "HEX_MCP_MAX_SESSIONS": "20",
            "HEX_MCP_MAX_PENDING_SESSIONS": "5",
            "HEX_MCP_PENDING_SESSION_TTL": "3",
            "HEX_MCP_SHUTDOWN_GRACE": "4",
        }
    )
    assert (settings.header_timeout, settings.max_connections, settings.max_sessions) == (2.5, 50, 20)
    assert (settings.max_pending_sessions, settings.pending_session_ttl, settings.shutdown_grace) == (
        5,
        3.0,
        4.0,
    )
    defaults = Settings.from_env({})
    assert (defaults.header_timeout, defaults.shutdown_grace, defaults.pending_session_ttl) == (
        10.0,
        10.0,
        10.0,
    )
    for bad in ("0", "-1", "x"):
        with pytest.raises(ConfigError, match="HEX_MCP_MAX_CONNECTIONS"):
            Settings.from_env({"HEX_MCP_MAX_CONNECTIONS": bad})


def test_every_endpoint_kind_has_its_own_ttl() -> None:
    kinds = get_args(EndpointKind)
    ttls = TTLs(*range(1, len(kinds) + 1))
    assert tuple(ttls.as_dict()) == kinds  # one field per kind, named alike, in the same order
    assert [ttls.for_endpoint(kind) for kind in kinds] == list(range(1, len(kinds) + 1))
    assert set(TTLs.uniform(7).as_dict().values()) == {7}
