"""Settings from the environment and flags; secrets never show; the CLI refuses unsafe exposure."""

from __future__ import annotations

from pathlib import Path

import pytest

from hex_mcp import cli
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
