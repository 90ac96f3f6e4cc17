"""The HTTP seam in isolation (narrow unit tests on httpx2.MockTransport): headers, retries, deadline, caps."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest

from hex_mcp import __version__
from hex_mcp.config import Secret, Settings
from hex_mcp.errors import AuthError, BadResponse, NotFound, PlanError, RateLimited, UpstreamUnavailable
from hex_mcp.upstream import UpstreamClient

pytestmark = pytest.mark.anyio


def _client(handler: object, tmp_path: Path, **overrides: object) -> tuple[UpstreamClient, list[float]]:
    settings = Settings(cache_dir=tmp_path, **overrides)  # type: ignore[arg-type]
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    transport = httpx2.MockTransport(handler)  # type: ignore[arg-type]
    return UpstreamClient(settings, http_transport=transport, sleep=fake_sleep), sleeps


async def test_hexpm_headers_and_key(tmp_path: Path) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"ok": True}, headers={"etag": "abc123"})

    client, _ = _client(handler, tmp_path, hex_api_key=Secret("k" * 32))
    response = await client.get("/packages/jason", etag="prev")
    await client.aclose()
    request = seen[0]
    assert str(request.url) == "https://hex.pm/api/packages/jason"
    assert request.headers["user-agent"] == f"hex-mcp/{__version__}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == "k" * 32
    assert request.headers["if-none-match"] == "prev"
    assert (response.status, response.data, response.etag) == (200, {"ok": True}, "abc123")


async def test_gateway_key_header_and_envelope(tmp_path: Path) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"data": {"x": 1}, "success": True, "status": "ok", "message": "m"})

    settings = Settings(cache_dir=tmp_path, oanor_api_key=Secret("gw-key")).with_backend("oanor")
    client = UpstreamClient(settings, http_transport=httpx2.MockTransport(handler))
    response = await client.get("/v1/package", {"name": "phoenix"})
    await client.aclose()
    assert seen[0].headers["x-oanor-key"] == "gw-key"
    assert "authorization" not in seen[0].headers
    assert str(seen[0].url) == "https://api.oanor.com/hex-api/v1/package?name=phoenix"
    assert response.data == {"x": 1}


async def test_gateway_success_false_is_an_error(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"data": None, "success": False, "message": "upstream hiccup"})

    settings = Settings(cache_dir=tmp_path).with_backend("oanor")
    client = UpstreamClient(settings, http_transport=httpx2.MockTransport(handler))
    with pytest.raises(BadResponse, match="reported a failure: upstream hiccup"):
        await client.get("/v1/meta")
    await client.aclose()


async def test_retries_5xx_with_backoff_then_succeeds(tmp_path: Path) -> None:
    statuses = iter([503, 502, 200])

    def handler(request: httpx2.Request) -> httpx2.Response:
        status = next(statuses)
        return httpx2.Response(status, json={"ok": status == 200})

    client, sleeps = _client(handler, tmp_path, retries=2)
    response = await client.get("/packages/x")
    await client.aclose()
    assert response.data == {"ok": True}
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.25 and 0 <= sleeps[1] <= 0.5


async def test_retries_are_bounded(tmp_path: Path) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        raise httpx2.ConnectError("refused", request=request)

    client, _ = _client(handler, tmp_path, retries=2)
    with pytest.raises(UpstreamUnavailable, match=r"hex\.pm is unreachable \(ConnectError\)"):
        await client.get("/packages/x")
    await client.aclose()
    assert calls == 3


async def test_4xx_is_not_retried(tmp_path: Path) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return httpx2.Response(404, json={"status": 404, "message": "Page not found"})

    client, _ = _client(handler, tmp_path, retries=2)
    with pytest.raises(NotFound, match=r"\(Page not found\)"):
        await client.get("/packages/x")
    await client.aclose()
    assert calls == 1


async def test_deadline_ends_a_stalled_call(tmp_path: Path) -> None:
    import anyio

    async def handler(request: httpx2.Request) -> httpx2.Response:
        await anyio.sleep(5)
        return httpx2.Response(200, json={})

    settings = Settings(cache_dir=tmp_path, timeout=0.2)
    client = UpstreamClient(settings, http_transport=httpx2.MockTransport(handler))
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match=r"did not answer within 0\.2 s"):
        await client.get("/packages/x")
    assert time.monotonic() - started < 2
    await client.aclose()


@pytest.mark.parametrize(
    ("status", "error", "needle"),
    [
        (401, AuthError, "Fix or unset HEX_API_KEY"),
        (403, AuthError, "refused access (HTTP 403)"),
        (400, BadResponse, "rejected the request (HTTP 400)"),
        (418, BadResponse, "answered HTTP 418"),
        (500, UpstreamUnavailable, "failed on its side (HTTP 500)"),
        (302, BadResponse, "redirect (HTTP 302), which is not followed"),
    ],
)
async def test_status_mapping(tmp_path: Path, status: int, error: type[Exception], needle: str) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json={"status": status}, headers={"location": "http://evil.invalid/"})

    client, _ = _client(handler, tmp_path, retries=0)
    with pytest.raises(error) as info:
        await client.get("/packages/x")
    await client.aclose()
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("status", "error", "needle"),
    [
        (401, AuthError, "OANOR_API_KEY"),
        (402, PlanError, "subscription"),
        (429, RateLimited, "monthly quota"),
    ],
)
async def test_gateway_status_mapping(
    tmp_path: Path, status: int, error: type[Exception], needle: str
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json={"success": False, "message": "nope"})

    settings = Settings(cache_dir=tmp_path, retries=0, max_rps=0).with_backend("oanor")
    client = UpstreamClient(settings, http_transport=httpx2.MockTransport(handler))
    with pytest.raises(error, match=needle):
        await client.get("/v1/package", {"name": "x"})
    await client.aclose()


async def test_body_cap(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"[" + b"1," * 2000 + b"1]")

    client, _ = _client(handler, tmp_path, max_body_bytes=1000)
    with pytest.raises(BadResponse, match="above the 1,000-byte cap"):
        await client.get("/packages")
    await client.aclose()


async def test_malformed_json(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b'{"name": "jas')

    client, _ = _client(handler, tmp_path)
    with pytest.raises(BadResponse, match="malformed JSON"):
        await client.get("/packages/jason")
    await client.aclose()


async def test_hexpm_429_names_the_reset_time(tmp_path: Path) -> None:
    reset = int(time.time()) + 42

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            429,
            json={"status": 429, "message": "API rate limit exceeded for IP 1.1.1.1"},
            headers={
                "x-ratelimit-limit": "100",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
            },
        )

    client, _ = _client(handler, tmp_path)
    with pytest.raises(RateLimited) as info:
        await client.get("/packages/x")
    assert info.value.retry_at == reset
    assert "retry after" in str(info.value) and "HEX_API_KEY" in str(info.value)
    # The window is now known to be closed: the next call is refused without touching the network.
    with pytest.raises(RateLimited, match="no call was made"):
        await client.get("/packages/y")
    await client.aclose()


async def test_closed_window_a_few_seconds_away_is_waited_out(tmp_path: Path) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return httpx2.Response(
            200,
            json={},
            headers={
                "x-ratelimit-limit": "100",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int(time.time()) + 3),
            },
        )

    client, sleeps = _client(handler, tmp_path)
    await client.get("/packages/a")
    await client.get("/packages/b")
    await client.aclose()
    assert calls == 2
    assert len(sleeps) == 1 and 1 <= sleeps[0] <= 3.5


async def test_gateway_retry_after_is_honoured(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(429, json={"success": False}, headers={"retry-after": "120"})

    settings = Settings(cache_dir=tmp_path, retries=0, max_rps=0).with_backend("oanor")
    client = UpstreamClient(settings, http_transport=httpx2.MockTransport(handler))
    with pytest.raises(RateLimited, match=r"in 120 s"):
        await client.get("/v1/meta")
    with pytest.raises(RateLimited, match="no call was made"):
        await client.get("/v1/meta")
    await client.aclose()


async def test_client_side_rate_limit_paces_calls(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"data": {}, "success": True})

    settings = Settings(cache_dir=tmp_path, max_rps=2.0).with_backend("oanor")
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = UpstreamClient(settings, http_transport=httpx2.MockTransport(handler), sleep=fake_sleep)
    await client.get("/v1/meta")
    await client.get("/v1/meta")
    await client.aclose()
    assert len(sleeps) == 1 and 0.4 < sleeps[0] <= 0.5


async def test_errors_never_carry_the_key(tmp_path: Path) -> None:
    secret = "s3cr3t-key-value"

    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError(f"failed with headers {dict(request.headers)}", request=request)

    client, _ = _client(handler, tmp_path, hex_api_key=Secret(secret), retries=0)
    with pytest.raises(UpstreamUnavailable) as info:
        await client.get("/packages/x")
    await client.aclose()
    assert secret not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
