"""The fake upstream must behave like hex.pm and the oanor gateway, including their quirks and failures."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from fakehex.upstream import DEFAULT_FIXTURES, FAULT_KINDS, FakeUpstream, Fault, version_key

UA = {"user-agent": "hex-mcp-tests/0.1.0"}
KEY = {"x-oanor-key": "test-oanor-key"}
SHOW_KEYS = {
    "configs", "docs_html_url", "downloads", "html_url", "inserted_at", "latest_stable_version",
    "latest_version", "meta", "name", "owners", "releases", "repository", "retirements",
    "security_advisories", "updated_at", "url",
}  # fmt: skip
RELEASE_KEYS = {
    "checksum", "configs", "docs_html_url", "downloads", "has_docs", "html_url", "inserted_at", "meta",
    "package_url", "publisher", "requirements", "retirement", "security_advisories", "updated_at", "url",
    "version",
}  # fmt: skip

# The gateway's published OpenAPI example for `GET /v1/release?name=phoenix&version=1.7.14`.
PUBLISHED_RELEASE = {
    "app": "phoenix",
    "elixir": "~> 1.11",
    "package": "phoenix",
    "version": "1.7.14",
    "checksum": "c7859bc56cc5dfef19ecfc240775dae358cbaa530231118a9e014df392ace61a",
    "has_docs": True,
    "downloads": 5878652,
    "updated_at": "2024-06-18T17:12:38.891007Z",
    "build_tools": ["mix"],
    "inserted_at": "2024-06-18T17:12:33.509392Z",
    "dependencies": [
        {"app": "castore", "name": "castore", "optional": False, "requirement": ">= 0.0.0"},
        {"app": "jason", "name": "jason", "optional": True, "requirement": "~> 1.0"},
        {"app": "phoenix_pubsub", "name": "phoenix_pubsub", "optional": False, "requirement": "~> 2.1"},
        {"app": "phoenix_template", "name": "phoenix_template", "optional": False, "requirement": "~> 1.0"},
        {"app": "phoenix_view", "name": "phoenix_view", "optional": True, "requirement": "~> 2.0"},
        {"app": "plug", "name": "plug", "optional": False, "requirement": "~> 1.14"},
        {"app": "plug_cowboy", "name": "plug_cowboy", "optional": True, "requirement": "~> 2.7"},
        {"app": "plug_crypto", "name": "plug_crypto", "optional": False, "requirement": "~> 1.2 or ~> 2.0"},
        {"app": "telemetry", "name": "telemetry", "optional": False, "requirement": "~> 0.4 or ~> 1.0"},
        {"app": "websock_adapter", "name": "websock_adapter", "optional": False, "requirement": "~> 0.5.3"},
    ],
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeUpstream) -> Iterator[FakeUpstream]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx2.Client]:
    # One client for the module: building an SSL context per test costs ~50 ms.
    with httpx2.Client(headers=UA, timeout=5) as http:
        yield http


def _fixture(relative: str) -> Any:
    return json.loads((DEFAULT_FIXTURES / relative).read_text(encoding="utf-8"))


def _search(fake: FakeUpstream, client: httpx2.Client, **params: Any) -> list[str]:
    response = client.get(fake.hexpm_url + "/packages", params=params)
    assert response.status_code == 200
    return [item["name"] for item in response.json()]


# ------------------------------------------------------------------------------------------ lifecycle


def test_start_stop_and_urls(client: httpx2.Client) -> None:
    fake = FakeUpstream().start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.url)
        assert fake.hexpm_url == fake.url + "/api"
        assert fake.oanor_url == fake.url + "/hex-api"
        assert client.get(fake.hexpm_url + "/packages/jason").status_code == 200
    finally:
        fake.stop()
    with pytest.raises(httpx2.TransportError):
        client.get(fake.hexpm_url + "/packages/jason", timeout=1)


def test_hits_count_and_reset(fake: FakeUpstream, client: httpx2.Client) -> None:
    client.get(fake.hexpm_url + "/packages/jason", params={"x": "1"}, headers={"X-Probe": "yes"})
    client.get(fake.oanor_url + "/v1/meta", headers=KEY)
    assert fake.count() == 2
    assert fake.count("/api/packages/jason") == 1
    assert fake.count("/hex-api") == 1
    hit = fake.hits[0]
    assert (hit.method, hit.path, hit.query) == ("GET", "/api/packages/jason", {"x": "1"})
    assert hit.headers["x-probe"] == "yes"
    fake.add_fault(Fault("drop"))
    fake.reset()
    assert fake.hits == []
    assert client.get(fake.hexpm_url + "/packages/jason").status_code == 200


# ------------------------------------------------------------------------------------------- hexpm


def test_package_show_matches_fixture_and_headers(fake: FakeUpstream, client: httpx2.Client) -> None:
    response = client.get(fake.hexpm_url + "/packages/jason")
    assert response.status_code == 200
    body = response.json()
    assert body == _fixture("packages/jason.json")
    assert set(body) == SHOW_KEYS
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=60"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["etag"])
    assert response.headers["etag"] == hashlib.md5(response.content).hexdigest()
    assert response.headers["last-modified"] == "Mon, 29 Jul 2024 09:21:04 GMT"
    assert response.headers["x-ratelimit-limit"] == "100"
    assert int(response.headers["x-ratelimit-reset"]) > time.time() - 120


def test_etag_and_conditional_requests(fake: FakeUpstream, client: httpx2.Client) -> None:
    url = fake.hexpm_url + "/packages/phoenix"
    etag = client.get(url).headers["etag"]
    not_modified = client.get(url, headers={"if-none-match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert "x-ratelimit-remaining" in not_modified.headers
    assert client.get(url, headers={"if-none-match": f"abc, {etag}"}).status_code == 304
    assert client.get(url, headers={"if-none-match": "*"}).status_code == 304
    # Quoted and weak forms never match an unquoted ETag.
    assert client.get(url, headers={"if-none-match": f'"{etag}"'}).status_code == 200
    assert client.get(url, headers={"if-none-match": f"W/{etag}"}).status_code == 200
    assert client.get(url, headers={"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"}).status_code == 304
    assert client.get(url, headers={"if-modified-since": "Fri, 01 Jan 2010 00:00:00 GMT"}).status_code == 200
    search = client.get(fake.hexpm_url + "/packages", params={"search": "jason"})
    assert "last-modified" not in search.headers
    assert client.get(search.url, headers={"if-none-match": search.headers["etag"]}).status_code == 304


def test_user_agent_required(fake: FakeUpstream, client: httpx2.Client) -> None:
    response = client.get(fake.hexpm_url + "/packages/jason", headers={"user-agent": ""})
    assert response.status_code == 400
    assert response.json() == {"status": 400, "message": "User-Agent header is required"}


def test_api_key_checked_only_when_configured(client: httpx2.Client) -> None:
    with FakeUpstream(hex_api_key="0123456789abcdef0123456789abcdef") as fake:
        url = fake.hexpm_url + "/packages/jason"
        wrong = client.get(url, headers={"authorization": "nope"})
        assert wrong.status_code == 401
        assert wrong.json() == {"status": 401, "message": "invalid API key"}
        assert wrong.headers["www-authenticate"] == "Basic realm=hex"
        assert (
            client.get(url, headers={"authorization": "0123456789abcdef0123456789abcdef"}).status_code == 200
        )
        assert client.get(url).status_code == 200
    with FakeUpstream() as fake:
        assert (
            client.get(fake.hexpm_url + "/packages/jason", headers={"authorization": "any"}).status_code
            == 200
        )


def test_errors_and_unknown_routes(fake: FakeUpstream, client: httpx2.Client) -> None:
    missing = client.get(fake.hexpm_url + "/packages/no_such_package")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Page not found", "status": 404}
    assert client.get(fake.hexpm_url + "/packages/Jason").status_code == 404  # lookups are case-sensitive
    assert client.get(fake.hexpm_url + "/nowhere").status_code == 404
    assert client.get(fake.hexpm_url + "/packages/jas%00on").status_code == 400
    invalid = client.get(fake.hexpm_url + "/packages/jason/releases/v1.2.3")
    assert invalid.status_code == 400
    assert invalid.json() == {"status": 400, "message": "invalid version: v1.2.3"}
    assert client.get(fake.hexpm_url + "/packages/jason/releases/9.9.9").status_code == 404
    assert client.get(fake.hexpm_url + "/repos/hexpm/packages/jason").status_code == 200
    assert client.head(fake.hexpm_url + "/packages/jason").status_code == 200


def test_ratelimit_headers_count_down_but_never_block(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.ratelimit = {"limit": 100, "remaining": 2, "reset": 2_000_000_000}
    seen = [client.get(fake.hexpm_url + "/packages/jason").headers["x-ratelimit-remaining"] for _ in range(3)]
    assert seen == ["1", "0", "0"]
    response = client.get(fake.hexpm_url + "/packages/jason")
    assert response.status_code == 200
    assert response.headers["x-ratelimit-reset"] == "2000000000"


def test_release_show_recorded(fake: FakeUpstream, client: httpx2.Client) -> None:
    response = client.get(fake.hexpm_url + "/packages/jason/releases/1.4.4")
    assert response.status_code == 200
    assert response.json() == _fixture("releases/jason/1.4.4.json")
    assert set(response.json()) == RELEASE_KEYS
    rc = client.get(fake.hexpm_url + "/packages/tiny_slug/releases/0.3.0-rc.1").json()
    assert (rc["downloads"], rc["docs_html_url"], rc["retirement"]) == ([], None, None)
    hackney = client.get(fake.hexpm_url + "/packages/hackney/releases/1.23.0").json()
    assert [a["id"] for a in hackney["security_advisories"]] == ["EEF-CVE-2025-1211"]
    assert (
        client.get(fake.hexpm_url + "/packages/hackney/releases/1.24.1").json()["security_advisories"] == []
    )


def test_release_show_synthesized(fake: FakeUpstream, client: httpx2.Client) -> None:
    release = client.get(fake.hexpm_url + "/packages/phoenix/releases/1.7.10").json()
    assert set(release) == RELEASE_KEYS
    assert release["checksum"] == hashlib.sha256(b"phoenix1.7.10").hexdigest()
    # Nearest recorded release at or below 1.7.10 is 1.7.0.
    assert release["requirements"] == _fixture("releases/phoenix/1.7.0.json")["requirements"]
    listed = {r["version"]: r for r in _fixture("packages/phoenix.json")["releases"]}
    assert release["inserted_at"] == listed["1.7.10"]["inserted_at"]
    assert release == client.get(fake.hexpm_url + "/packages/phoenix/releases/1.7.10").json()
    old = client.get(fake.hexpm_url + "/packages/hackney/releases/1.18.1").json()
    assert [a["id"] for a in old["security_advisories"]] == ["EEF-CVE-2025-1211"]


def test_every_listed_version_resolves(fake: FakeUpstream) -> None:
    registry = fake.registry
    assert len(registry.packages) >= 40
    for name, package in registry.packages.items():
        versions = [item["version"] for item in package["releases"]]
        assert versions == sorted(versions, key=version_key, reverse=True), name
        for version in versions:
            release = registry.release(name, version)
            assert release is not None, (name, version)
            assert release["version"] == version
            assert set(release) == RELEASE_KEYS


def test_retirements_in_fixtures() -> None:
    reasons = {}
    for path in (DEFAULT_FIXTURES / "packages").glob("*.json"):
        package = json.loads(path.read_text(encoding="utf-8"))
        for version, retirement in package["retirements"].items():
            reasons[retirement["reason"]] = (package["name"], version)
    assert {"invalid", "security", "deprecated"} <= set(reasons)


# ----------------------------------------------------------------------------------------- search


def test_search_free_text(fake: FakeUpstream, client: httpx2.Client) -> None:
    assert _search(fake, client, search="json") == ["jason", "jiffy", "poison"]
    assert "phoenix_live_view" in _search(fake, client, search="phoenix")
    assert _search(fake, client, search="ph") == []  # under 3 characters: exact name only
    assert _search(fake, client, search="mime") == ["mime", "mimerl"]
    assert _search(fake, client, search="  ") == sorted(fake.registry.packages)


def test_search_filters(fake: FakeUpstream, client: httpx2.Client) -> None:
    assert _search(fake, client, search="name:phoenix") == ["phoenix"]
    assert _search(fake, client, search="name:phoenix_*") == [
        "phoenix_ecto", "phoenix_html", "phoenix_live_view", "phoenix_pubsub", "phoenix_template",
        "phoenix_view",
    ]  # fmt: skip
    assert _search(fake, client, search="name:*_sql") == ["ecto_sql"]
    assert _search(fake, client, search="name:hexpm/jason") == ["jason"]
    assert "phoenix" in _search(fake, client, search="depends:jason")
    assert _search(fake, client, search="depends:hexpm:jason") == _search(
        fake, client, search="depends:jason"
    )
    assert _search(fake, client, search="depends:acme:jason") == []
    assert _search(fake, client, search="depends:cowlib") == ["cowboy"]
    assert _search(fake, client, search="build_tool:gleam") == ["gleam_stdlib"]
    assert {"hackney", "cowboy", "jiffy"} <= set(_search(fake, client, search="build_tool:rebar3"))
    assert "mint" in _search(fake, client, search="description:http")
    assert _search(fake, client, search="foo:bar") == sorted(fake.registry.packages)
    assert _search(fake, client, search="name:phoenix* depends:ecto") == ["phoenix_ecto"]
    assert _search(fake, client, search="updated_after:2026-05-01T00:00:00Z") == ["ecto", "phoenix"]


def test_search_sorting_and_paging(fake: FakeUpstream, client: httpx2.Client) -> None:
    recent = _search(fake, client, sort="recent_downloads")
    assert recent[0] == "jason"
    assert recent[-1] == "astra_kv"  # no download windows at all: NULLs last
    assert _search(fake, client, sort="downloads") == _search(fake, client, sort="total_downloads")
    assert _search(fake, client, sort="inserted_at")[0] == "astra_kv"
    assert _search(fake, client, sort="updated_at")[0] == "phoenix"
    names = sorted(fake.registry.packages)
    assert _search(fake, client, per_page=10, page=2) == names[10:20]
    assert _search(fake, client, per_page=10, page=99) == []
    assert _search(fake, client, per_page=0) == []
    assert _search(fake, client, per_page=500) == names  # clamped to 100, still all of them
    assert _search(fake, client, page="x", per_page=5) == names[:5]
    item = client.get(fake.hexpm_url + "/packages", params={"search": "name:tiny_*"}).json()[0]
    assert set(item) == SHOW_KEYS - {"owners", "security_advisories"}


# ---------------------------------------------------------------------------------------- gateway


def test_gateway_requires_key(fake: FakeUpstream, client: httpx2.Client) -> None:
    expected = {
        "success": False,
        "status": "error",
        "message": "Missing or invalid x-oanor-key header",
        "data": None,
    }
    for headers in ({}, {"x-oanor-key": "wrong"}):
        response = client.get(fake.oanor_url + "/v1/package", params={"name": "jason"}, headers=headers)
        assert response.status_code == 401
        assert response.json() == expected
    assert list(json.loads(response.content)) == ["success", "status", "message", "data"]


def test_gateway_package(fake: FakeUpstream, client: httpx2.Client) -> None:
    response = client.get(fake.oanor_url + "/v1/package", params={"name": "phoenix"}, headers=KEY)
    assert response.status_code == 200
    assert not any(key.startswith("x-ratelimit") for key in response.headers)
    body = response.json()
    assert list(body) == ["data", "meta", "status", "message", "success"]
    assert (body["status"], body["message"], body["success"]) == ("ok", "Package retrieved", True)
    package = body["data"]["package"]
    assert list(package) == [
        "name", "links", "owners", "html_url", "licenses", "downloads", "updated_at", "description",
        "inserted_at", "docs_html_url", "version_count", "latest_version", "recent_releases",
        "latest_stable_version",
    ]  # fmt: skip
    assert (package["latest_version"], package["latest_stable_version"]) == ("1.9.0-rc.0", "1.8.7")
    assert package["version_count"] == 171
    assert [r["version"] for r in package["recent_releases"]][:3] == ["1.9.0-rc.0", "1.8.7", "1.8.6"]
    assert len(package["recent_releases"]) == 8
    assert list(package["downloads"]) == ["all", "day", "week", "recent"]
    assert list(package["links"]) == ["GitHub", "Changelog"]
    again = client.get(fake.oanor_url + "/v1/package", params={"name": "phoenix"}, headers=KEY)
    assert again.content == response.content  # replays are byte-identical
    missing = client.get(fake.oanor_url + "/v1/package", params={"name": "nope"}, headers=KEY)
    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "status": "error",
        "message": "Package not found",
        "data": None,
    }


def test_gateway_release_matches_published_example(fake: FakeUpstream, client: httpx2.Client) -> None:
    params = {"name": "phoenix", "version": "1.7.14"}
    response = client.get(fake.oanor_url + "/v1/release", params=params, headers=KEY)
    release = response.json()["data"]["release"]
    assert release == PUBLISHED_RELEASE
    assert list(release) == list(PUBLISHED_RELEASE)
    assert response.json()["message"] == "Release retrieved"
    unknown = client.get(
        fake.oanor_url + "/v1/release", params={"name": "jason", "version": "9.9.9"}, headers=KEY
    )
    assert unknown.status_code == 404


def test_gateway_releases(fake: FakeUpstream, client: httpx2.Client) -> None:
    data = client.get(fake.oanor_url + "/v1/releases", params={"name": "ecto"}, headers=KEY).json()["data"]
    assert list(data) == ["count", "total", "latest", "package", "releases"]
    assert (data["count"], data["latest"], data["package"]) == (50, "3.14.0", "ecto")
    assert data["releases"][0] == {
        "version": "3.14.0",
        "has_docs": True,
        "inserted_at": "2026-05-19T16:02:40.684729Z",
    }
    assert data["releases"][-1]["version"] == "3.5.0-rc.1"
    assert data["total"] == len(_fixture("packages/ecto.json")["releases"])
    every = client.get(fake.oanor_url + "/v1/releases", params={"name": "ecto", "limit": "9999"}, headers=KEY)
    assert every.json()["data"]["count"] == data["total"]
    one = client.get(fake.oanor_url + "/v1/releases", params={"name": "ecto", "limit": "0"}, headers=KEY)
    assert one.json()["data"]["count"] == 1


def test_gateway_search_and_meta(fake: FakeUpstream, client: httpx2.Client) -> None:
    data = client.get(
        fake.oanor_url + "/v1/search", params={"q": "phoenix", "limit": "3"}, headers=KEY
    ).json()["data"]
    assert list(data) == ["page", "count", "query", "results"]
    assert (data["page"], data["count"], data["query"]) == (1, 3, "phoenix")
    assert [r["name"] for r in data["results"]] == ["phoenix", "phoenix_ecto", "phoenix_html"]
    assert list(data["results"][0]) == ["name", "html_url", "description", "downloads_all", "latest_version"]
    page2 = client.get(
        fake.oanor_url + "/v1/search", params={"q": "phoenix", "limit": "3", "page": "2"}, headers=KEY
    )
    assert [r["name"] for r in page2.json()["data"]["results"]] == [
        "phoenix_live_view",
        "phoenix_pubsub",
        "phoenix_template",
    ]
    meta = client.get(fake.oanor_url + "/v1/meta", headers=KEY).json()
    assert meta["data"]["endpoints"] == [
        "/v1/package",
        "/v1/releases",
        "/v1/release",
        "/v1/search",
        "/v1/meta",
    ]
    assert meta["message"] == "Meta retrieved"


# ----------------------------------------------------------------------------------------- faults


def test_fault_status_both_shapes(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("status", "/api/packages/jason", times=1, status=503))
    response = client.get(fake.hexpm_url + "/packages/jason")
    assert response.status_code == 503
    assert response.json() == {"message": None, "status": 503}
    assert client.get(fake.hexpm_url + "/packages/jason").status_code == 200  # times=1 is used up
    fake.add_fault(Fault("status", "/hex-api", status=502))
    gateway = client.get(fake.oanor_url + "/v1/meta", headers=KEY)
    assert gateway.status_code == 502
    assert gateway.json()["message"] == "Upstream did not respond"
    fake.reset()
    fake.add_fault(Fault("status", status=500, headers={"X-Extra": "1"}, body="<html>oops</html>"))
    custom = client.get(fake.hexpm_url + "/packages/plug")
    assert (custom.status_code, custom.text, custom.headers["x-extra"]) == (500, "<html>oops</html>", "1")


def test_fault_matches_path_prefix_only(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("status", "/api/packages/jason", status=500))
    assert client.get(fake.hexpm_url + "/packages/plug").status_code == 200
    assert client.get(fake.hexpm_url + "/packages/jason").status_code == 500
    assert client.get(fake.hexpm_url + "/packages/jason/releases/1.4.4").status_code == 500
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")
    assert {"status", "ratelimited", "drop"} <= FAULT_KINDS


def test_fault_ratelimited(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("ratelimited", "/api", reset_in=30))
    response = client.get(fake.hexpm_url + "/packages/jason")
    assert response.status_code == 429
    assert response.json()["status"] == 429
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert abs(int(response.headers["x-ratelimit-reset"]) - (time.time() + 30)) < 3
    assert "retry-after" not in response.headers
    fake.add_fault(Fault("ratelimited", "/hex-api", retry_after=7))
    gateway = client.get(fake.oanor_url + "/v1/meta", headers=KEY)
    assert (gateway.status_code, gateway.headers["retry-after"]) == (429, "7")
    assert gateway.json()["message"] == "Rate-limit or monthly quota reached"


def test_fault_ratelimited_bare(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("ratelimited_bare"))
    response = client.get(fake.hexpm_url + "/packages/jason")
    assert response.status_code == 429
    assert set(response.headers) == {"content-length"}


def test_fault_delay_is_a_read_timeout(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("delay", times=1, seconds=0.4))
    with pytest.raises(httpx2.ReadTimeout):
        client.get(fake.hexpm_url + "/packages/jason", timeout=httpx2.Timeout(2, read=0.1))
    fake.add_fault(Fault("delay", times=1, seconds=0.05))
    assert client.get(fake.hexpm_url + "/packages/jason", timeout=2).status_code == 200


def test_fault_stall_body(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("stall_body", seconds=0.4))
    timeout = httpx2.Timeout(2, read=0.1)
    with client.stream("GET", fake.hexpm_url + "/packages/jason", timeout=timeout) as response:
        assert response.status_code == 200
        declared = int(response.headers["content-length"])
        with pytest.raises(httpx2.ReadTimeout):
            response.read()
    assert declared == len(json.dumps(_fixture("packages/jason.json"), separators=(",", ":")).encode())


def test_fault_malformed_truncated_wrong_shape(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("malformed", times=1))
    malformed = client.get(fake.hexpm_url + "/packages/jason")
    assert (malformed.status_code, malformed.content) == (200, b'{"name": "jas')
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    fake.add_fault(Fault("truncated", times=1))
    with pytest.raises(httpx2.RemoteProtocolError):
        client.get(fake.hexpm_url + "/packages/jason")
    fake.add_fault(Fault("wrong_shape", times=1, body={"data": ["not", "a", "package"]}))
    wrong = client.get(fake.oanor_url + "/v1/package", params={"name": "jason"}, headers=KEY)
    assert (wrong.status_code, wrong.json()) == (200, {"data": ["not", "a", "package"]})


def test_fault_oversized(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("oversized", times=1))
    with client.stream("GET", fake.hexpm_url + "/packages/jason") as response:
        assert int(response.headers["content-length"]) == 11 * 1024 * 1024
        first = next(response.iter_bytes())
        assert first.startswith(b'{"name":"oversized"')
    fake.add_fault(Fault("oversized", times=1, size=300_000))
    small = client.get(fake.hexpm_url + "/packages/jason")
    assert len(small.content) == 300_000
    assert small.json()["name"] == "oversized"
    fake.add_fault(Fault("oversized", times=1, size=200_000, chunked=True))
    chunked = client.get(fake.hexpm_url + "/packages/jason")
    assert "content-length" not in chunked.headers
    assert len(chunked.content) == 200_000


def test_fault_redirect_and_drop(fake: FakeUpstream, client: httpx2.Client) -> None:
    fake.add_fault(Fault("redirect", times=1))
    redirect = client.get(fake.hexpm_url + "/packages/jason")
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "http://evil.example.invalid/steal"
    fake.add_fault(Fault("drop", times=1))
    with pytest.raises(httpx2.RemoteProtocolError):
        client.get(fake.hexpm_url + "/packages/jason")
    assert client.get(fake.hexpm_url + "/packages/jason").status_code == 200


def test_the_repository_serves_signed_files_that_agree_with_the_api(
    fake: FakeUpstream, client: httpx2.Client
) -> None:
    from hex_mcp.registry import load_public_key, read_package

    response = client.get(fake.repo_url + "/packages/jason")
    assert response.status_code == 200
    pkg = read_package(response.content, name="jason", public_key=load_public_key(fake.repo_public_key_pem))
    api = fake.registry.packages["jason"]
    assert sorted(r.version for r in pkg.releases) == sorted(r["version"] for r in api["releases"])
    etag = response.headers["etag"]
    again = client.get(fake.repo_url + "/packages/jason", headers={"if-none-match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert client.get(fake.repo_url + "/packages/no_such_pkg").status_code == 403


def test_release_tarballs_match_the_api_and_registry_checksums(
    fake: FakeUpstream, client: httpx2.Client
) -> None:
    """Every release of a package with tarballs: the served bytes hash to the API's checksum (both API shapes)
    and to the signed registry's outer checksum; other releases have no tarball (403, as S3 answers)."""
    from fakehex import changelogs
    from hex_mcp.registry import load_public_key, read_package

    key = load_public_key(fake.repo_public_key_pem)
    checked = 0
    for name in changelogs.CHANGELOGS:
        outer = {
            r.version: r.outer_checksum.hex() if r.outer_checksum else None
            for r in read_package(
                client.get(f"{fake.repo_url}/packages/{name}").content, name=name, public_key=key
            ).releases
        }
        for item in fake.registry.packages[name]["releases"]:
            version = item["version"]
            body = client.get(f"{fake.repo_url}/tarballs/{name}-{version}.tar").content
            digest = hashlib.sha256(body).hexdigest()
            api = client.get(f"{fake.hexpm_url}/packages/{name}/releases/{version}").json()["checksum"]
            gateway = client.get(
                f"{fake.oanor_url}/v1/release",
                params={"name": name, "version": version},
                headers={"x-oanor-key": "test-oanor-key"},
            ).json()["data"]["release"]["checksum"]
            assert digest == api == gateway == outer[version], (name, version)
            checked += 1
    assert checked > 30
    assert client.get(f"{fake.repo_url}/tarballs/jason-1.4.4.tar").status_code == 403
    assert client.get(f"{fake.repo_url}/tarballs/quillmark-9.9.9.tar").status_code == 403
    assert client.get(f"{fake.repo_url}/tarballs/quillmark-1.8.0.tgz").status_code == 403


def test_a_test_can_replace_a_tarball_and_its_published_checksum(
    fake: FakeUpstream, client: httpx2.Client
) -> None:
    fake.set_tarball("quillmark", "1.8.0", b"not the release", checksum="ab" * 32)
    assert client.get(f"{fake.repo_url}/tarballs/quillmark-1.8.0.tar").content == b"not the release"
    assert client.get(f"{fake.hexpm_url}/packages/quillmark/releases/1.8.0").json()["checksum"] == "ab" * 32
    fake.reset()
    body = client.get(f"{fake.repo_url}/tarballs/quillmark-1.8.0.tar").content
    api = client.get(f"{fake.hexpm_url}/packages/quillmark/releases/1.8.0").json()["checksum"]
    assert hashlib.sha256(body).hexdigest() == api


@pytest.mark.parametrize(
    ("fault", "step"),
    [
        (Fault("registry_bad_signature"), "bad_signature"),
        (Fault("registry_no_signature"), "missing_signature"),
        (Fault("registry_wrong_repository"), "wrong_repository"),
        (Fault("registry_wrong_name"), "wrong_name"),
        (Fault("registry_truncated_gzip"), "truncated"),
        (Fault("registry_not_gzip"), "not_gzip"),
    ],
)
def test_registry_faults_fail_the_named_step(
    fake: FakeUpstream, client: httpx2.Client, fault: Fault, step: str
) -> None:
    from hex_mcp.registry import RegistryError, load_public_key, read_package

    fault.path_prefix = "/repo/packages/jason"
    fake.add_fault(fault)
    body = client.get(fake.repo_url + "/packages/jason").content
    with pytest.raises(RegistryError) as info:
        read_package(body, name="jason", public_key=load_public_key(fake.repo_public_key_pem))
    assert info.value.step == step


def test_every_fault_kind_is_exercised() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(f'Fault("{kind}"' in source for kind in FAULT_KINDS)


# ------------------------------------------------------------------------------------- standalone


def _wait_port(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    socket.create_connection((host, int(port)), timeout=2).close()


def test_standalone_prints_url_and_serves(client: httpx2.Client) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [sys.executable, "-m", "fakehex.upstream", "--port", "0", "--fixtures", str(DEFAULT_FIXTURES)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        _wait_port(url)
        assert client.get(url + "/api/packages/jason").json()["name"] == "jason"
        # Another process steers faults through the control routes.
        client.post(url + "/__fake__/faults", json={"kind": "status", "path_prefix": "/api", "status": 418})
        assert client.get(url + "/api/packages/jason").status_code == 418
        hits = client.get(url + "/__fake__/hits").json()
        assert [hit["path"] for hit in hits] == ["/api/packages/jason", "/api/packages/jason"]
        client.post(url + "/__fake__/reset")
        assert client.get(url + "/api/packages/jason").status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
