"""`hex-mcp doctor` against the fake upstream: healthy setups, and each broken one named with its fix."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from fakehex.upstream import FakeUpstream
from hex_mcp import cli
from hex_mcp.config import Secret, Settings
from hex_mcp.doctor import (
    Check,
    check_python,
    diagnose,
    human_bytes,
    redact_url,
    render,
)
from hex_mcp.service import HexService
from hex_mcp.text import split_sentence
from tests.conftest import OANOR_KEY

NAMES = [
    "python",
    "packages",
    "backend",
    "api key",
    "upstream",
    "rate limit",
    "cache dir",
    "cache",
    "offline",
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HEX_MCP_") or name in ("OANOR_API_KEY", "HEX_API_KEY"):
            monkeypatch.delenv(name)


def run(settings: Settings) -> dict[str, Check]:
    checks = anyio.run(diagnose, settings)
    assert [c.name for c in checks] == NAMES
    return {c.name: c for c in checks}


def statuses(checks: dict[str, Check]) -> dict[str, str]:
    return {name: check.status for name, check in checks.items()}


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_hexpm_healthy(settings: Settings, fake: FakeUpstream) -> None:
    checks = run(settings)
    assert {c.status for c in checks.values()} == {"ok"}, render(list(checks.values()))
    assert "hex.pm answered GET /packages/jason in" in checks["upstream"].detail
    assert fake.count("/api/packages/jason") == 1
    assert "requests left, window resets" in checks["rate limit"].detail
    assert checks["backend"].detail.startswith(f"hexpm (hex.pm) at {fake.hexpm_url}")
    assert "HEX_API_KEY is not set" in checks["api key"].detail
    assert "is writable" in checks["cache dir"].detail
    # The probe is a real upstream call, so it is counted against the month like any other.
    assert "1 upstream calls this month (hexpm)" in checks["cache"].detail


def test_gateway_healthy(make_settings: Callable[..., Settings], fake: FakeUpstream) -> None:
    checks = run(make_settings("oanor"))
    assert {c.status for c in checks.values()} == {"ok"}, render(list(checks.values()))
    assert "Hex API gateway answered GET /v1/meta in" in checks["upstream"].detail
    assert fake.count("/hex-api/v1/meta") == 1
    assert checks["api key"].detail == "OANOR_API_KEY is set (value hidden)"
    assert "monthly quota" in checks["rate limit"].detail


def test_unreachable_upstream_fails(
    make_settings: Callable[..., Settings],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    clean_env: None,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api"
    checks = run(make_settings("hexpm", base_url=url))
    assert checks["upstream"].status == "fail"
    assert "unreachable" in checks["upstream"].detail
    assert checks["upstream"].fix is not None
    assert "HEX_MCP_BASE_URL" in checks["upstream"].fix
    assert checks["rate limit"].status == "warn"

    code = cli.main(["doctor", "--base-url", url, "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 1
    assert "\nfail upstream" in out
    assert out.rstrip().endswith("1 fail")


def test_rejected_gateway_key_names_oanor_api_key(
    make_settings: Callable[..., Settings], fake: FakeUpstream
) -> None:
    checks = run(make_settings("oanor", oanor_api_key=Secret("wrong-gateway-key")))
    upstream = checks["upstream"]
    assert upstream.status == "fail"
    assert "HTTP 401" in upstream.detail
    assert upstream.fix is not None
    assert "OANOR_API_KEY" in upstream.fix
    assert "wrong-gateway-key" not in render(list(checks.values()))


def test_missing_gateway_key_fails(make_settings: Callable[..., Settings]) -> None:
    checks = run(make_settings("oanor", oanor_api_key=None))
    assert checks["api key"].status == "fail"
    assert "OANOR_API_KEY is not set" in checks["api key"].detail
    assert checks["api key"].fix is not None
    assert "--backend hexpm" in checks["api key"].fix


def test_unused_gateway_key_is_a_warning(make_settings: Callable[..., Settings]) -> None:
    checks = run(make_settings("hexpm", oanor_api_key=Secret(OANOR_KEY)))
    assert checks["api key"].status == "warn"
    assert "unused" in checks["api key"].detail


def test_unwritable_cache_dir_fails(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
    fake: FakeUpstream,
) -> None:
    # A directory under a regular file can never be created, even by root (chmod would not stop root).
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    checks = run(make_settings("hexpm", cache_dir=blocker / "cache"))
    assert checks["cache dir"].status == "fail"
    assert checks["cache dir"].fix is not None
    assert "HEX_MCP_CACHE_DIR" in checks["cache dir"].fix
    assert checks["cache"].status == "warn"
    assert checks["upstream"].status == "ok"  # the rest still runs

    code = cli.main(["doctor", "--base-url", fake.hexpm_url, "--cache-dir", str(blocker / "cache")])
    assert code == 1
    assert "\nfail cache dir" in capsys.readouterr().out


def test_symlinked_cache_dir_fails_as_the_server_would_refuse_it(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "cache"
    link.symlink_to(real)
    check = run(make_settings("hexpm", cache_dir=link))["cache dir"]
    assert (check.status, check.fix) == (
        "fail",
        "point HEX_MCP_CACHE_DIR (or --cache-dir) at a real directory",
    )
    assert check.detail.startswith(f"{link} is a symbolic link")


def test_key_values_never_appear(
    fake: FakeUpstream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    hex_key = "hexkey-0123456789abcdef-never-print"
    monkeypatch.setenv("HEX_API_KEY", hex_key)
    monkeypatch.setenv("HEX_MCP_CACHE_DIR", str(tmp_path / "cache"))
    for key in (OANOR_KEY, "bad-oanor-key-never-print"):
        monkeypatch.setenv("OANOR_API_KEY", key)
        code = cli.main(["doctor", "--backend", "oanor", "--base-url", fake.oanor_url])
        out, err = capsys.readouterr()
        assert code == (0 if key == OANOR_KEY else 1), out
        assert key not in out + err
        assert hex_key not in out + err
    code = cli.main(["doctor", "--backend", "hexpm", "--base-url", fake.hexpm_url])
    out, err = capsys.readouterr()
    assert "HEX_API_KEY is set (value hidden)" in out
    assert hex_key not in out + err
    assert OANOR_KEY not in out + err


def test_offline_skips_the_upstream(make_settings: Callable[..., Settings], fake: FakeUpstream) -> None:
    empty = run(make_settings("hexpm", offline=True))
    assert empty["upstream"].status == "ok"
    assert empty["upstream"].detail == "offline: skipped"
    assert empty["offline"].status == "fail"
    assert "cache warm" in (empty["offline"].fix or "")
    assert fake.count() == 0

    async def warm() -> None:
        service = HexService(make_settings("hexpm"))
        try:
            await service.package("jason")
        finally:
            await service.aclose()

    anyio.run(warm)
    warmed = run(make_settings("hexpm", offline=True))
    assert warmed["offline"].status == "ok"
    assert "1 cached" in warmed["offline"].detail
    assert "1 entry" in warmed["cache"].detail
    assert fake.count() == 1  # only the warm-up call


def test_closed_rate_window_warns(settings: Settings, fake: FakeUpstream) -> None:
    fake.ratelimit = {"limit": 100, "remaining": 1, "reset": int(time.time()) + 30}
    checks = run(settings)
    assert checks["rate limit"].status == "warn"
    assert checks["rate limit"].detail.startswith("0 of 100 requests left")
    assert checks["rate limit"].fix is not None
    assert "HEX_API_KEY" in checks["rate limit"].fix


def test_spent_quota_skips_the_call(make_settings: Callable[..., Settings], fake: FakeUpstream) -> None:
    checks = run(make_settings("hexpm", monthly_quota=0))
    assert checks["upstream"].status == "warn"
    assert "quota" in checks["upstream"].detail
    assert fake.count() == 0


def test_unusable_base_url_fails_without_a_call(make_settings: Callable[..., Settings]) -> None:
    checks = run(make_settings("hexpm", base_url="hex.pm/api"))
    assert checks["backend"].status == "fail"
    assert checks["upstream"].status == "fail"


# -- pure helpers ------------------------------------------------------------------------------------------


def test_render_aligns_and_counts() -> None:
    text = render([Check("python", "ok", "3.12.1"), Check("rate limit", "fail", "closed", "wait")])
    assert text.splitlines() == [
        "ok   python      3.12.1",
        "fail rate limit  closed",
        "                 → wait",
        "1 ok, 0 warn, 1 fail",
    ]


def test_python_version_check() -> None:
    assert check_python((3, 11, 0)).status == "ok"
    old = check_python((3, 10, 14))
    assert old.status == "fail"
    assert old.fix is not None
    assert "3.11" in old.fix


def test_split_sentence() -> None:
    assert split_sentence("hex.pm is unreachable (ConnectError). Check the network.") == (
        "hex.pm is unreachable (ConnectError).",
        "Check the network.",
    )
    assert split_sentence("No advice here") == ("No advice here", None)
    assert split_sentence("Name (e.g. plug). Try again.")[1] == "Try again."


def test_redact_url_and_sizes() -> None:
    assert redact_url("https://user:secret@example.com:8443/api") == "https://***@example.com:8443/api"
    assert redact_url("https://hex.pm/api") == "https://hex.pm/api"
    assert [human_bytes(n) for n in (512, 2048, 5 * 1024 * 1024)] == ["512 B", "2.0 KB", "5.0 MB"]
