"""The two upstreams, each one object that knows everything particular to it.

A backend is pure. It holds the upstream's policy (label, default base URL, key variable, auth header, envelope,
advice for the status codes whose meaning differs between upstreams, default pacing, and the shape of its cache
keys), says which request answers a question (`Endpoint`), and turns the JSON that came back into
`hex_mcp.models`. It never performs I/O, so the cache and the HTTP seam stay shared; no other module branches on a
backend's name. Upstream JSON that does not have the expected shape raises `BadResponse` here, never a `KeyError`
deeper down.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import parse_qs, quote, unquote

from pydantic import ValidationError

from hex_mcp.errors import AuthError, BadResponse, PlanError, RateLimited
from hex_mcp.models import (
    Advisory,
    BackendName,
    Dependency,
    Downloads,
    GatewayMeta,
    Package,
    Release,
    ReleaseRef,
    Retirement,
    SearchHit,
    SearchPage,
)
from hex_mcp.validate import NAME_PATTERN
from hex_mcp.versions import Version, VersionError

T = TypeVar("T")
EndpointKind = Literal["package", "releases", "release", "search", "meta", "registry", "names"]
GATEWAY_RELEASES_LIMIT = 500


@dataclass(frozen=True)
class Endpoint:
    """One upstream request: which TTL class it belongs to, its path and its query parameters."""

    kind: EndpointKind
    path: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def params_dict(self) -> dict[str, str]:
        return dict(self.params)


class Backend(Protocol):
    name: BackendName
    label: str  # how answers and errors name the upstream
    default_base_url: str
    key_env: str  # the environment variable holding this upstream's key
    key_url: str  # where to get a key
    auth_header: str  # the request header that carries the key
    key_required: bool
    keyless_note: str  # what running without a key means
    bad_key_fix: str  # what to do when the key is refused
    keyed_limit_hint: str | None  # how a key would raise the rate limit, if it does
    no_rate_headers_note: str  # what an answer without rate-limit headers means
    short_label: str  # the label inside a sentence ("use the gateway")
    default_rps: (
        float | None
    )  # client-side pacing when HEX_MCP_MAX_RPS is unset; None: the rate headers govern
    can_sort: bool
    has_advisories: bool

    def unwrap(self, payload: Any) -> Any: ...
    def auth_error(self, said: str) -> AuthError: ...
    def plan_error(self, said: str) -> PlanError: ...
    def rate_limited(self, said: str, when: str, retry_at: float | None) -> RateLimited: ...
    def package_in_request(self, request: str) -> str | None: ...

    def package_endpoint(self, name: str) -> Endpoint: ...
    def releases_endpoint(self, name: str) -> Endpoint: ...
    def release_endpoint(self, name: str, version: str) -> Endpoint: ...
    def search_endpoint(self, q: str, page: int, limit: int, sort: str | None) -> Endpoint: ...
    def meta_endpoint(self) -> Endpoint | None: ...
    def parse_package(self, data: Any) -> Package: ...
    def parse_releases(self, data: Any) -> Package: ...
    def parse_release(self, data: Any, name: str) -> Release: ...
    def parse_search(self, data: Any, q: str, page: int, limit: int, sort: str | None) -> SearchPage: ...
    def parse_meta(self, data: Any) -> GatewayMeta: ...


def segment(value: str) -> str:
    """Percent-encode one path segment, so no input can add a `/`, `?` or `#` to the path."""
    return quote(value, safe="")


def day(timestamp: Any) -> str | None:
    """`2024-07-26T10:02:41.531211Z` -> `2024-07-26`."""
    if isinstance(timestamp, str) and len(timestamp) >= 10:
        return timestamp[:10]
    return None


def _guard(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (KeyError, TypeError, AttributeError, ValueError, ValidationError) as exc:
        raise BadResponse(
            f"The upstream {what} answer did not have the expected shape ({type(exc).__name__}). Try again "
            "later; if it persists, the upstream API may have changed: upgrade hex-mcp."
        ) from None


@functools.lru_cache(maxsize=16_384)
def _version(text: str) -> Version:
    """`Version.parse`, memoized: versions are immutable and every cache hit re-reads the same strings."""
    return Version.parse(text)


def _sorted_refs(refs: list[ReleaseRef]) -> list[ReleaseRef]:
    """Newest first by SemVer precedence; unparseable versions sink to the end in upstream order."""
    # Each version is parsed once: this runs on every cache hit, and phoenix alone lists ~170 releases.
    parsed: list[tuple[Version, ReleaseRef]] = []
    rest: list[ReleaseRef] = []
    for ref in refs:
        try:
            parsed.append((_version(ref.version), ref))
        except VersionError:
            rest.append(ref)
    parsed.sort(key=lambda pair: pair[0], reverse=True)
    return [ref for _, ref in parsed] + rest


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _downloads(raw: Any) -> Downloads:
    if not isinstance(raw, Mapping):
        return Downloads()
    return Downloads(
        **{k: v for k, v in raw.items() if k in ("all", "recent", "week", "day") and isinstance(v, int)}
    )


def _links(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, str)}


def _retirement(raw: Any) -> Retirement | None:
    if not isinstance(raw, Mapping) or not raw.get("reason"):
        return None
    return Retirement(reason=str(raw["reason"]), message=_str_or_none(raw.get("message")))


def _advisory(raw: Mapping[str, Any]) -> Advisory:
    score = raw.get("cvss_score")
    return Advisory(
        id=str(raw["id"]),
        summary=_str_or_none(raw.get("summary")),
        severity=_str_or_none(raw.get("cvss_rating")),
        score=float(score) if isinstance(score, int | float) else None,
        affected=[a for a in raw.get("affected") or [] if isinstance(a, str)],
        aliases=[a for a in raw.get("aliases") or [] if isinstance(a, str)],
        url=_str_or_none(raw.get("html_url")),
        published=day(raw.get("published_at")),
    )


def _active_advisories(raw: Any) -> list[Advisory]:
    return [_advisory(a) for a in raw or [] if isinstance(a, Mapping) and not a.get("withdrawn_at")]


def _owners(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    return [str(o["username"]) for o in raw if isinstance(o, Mapping) and o.get("username")]


class HexPmBackend:
    """hex.pm's own JSON API (`https://hex.pm/api`)."""

    name: BackendName = "hexpm"
    label = "hex.pm"
    default_base_url = "https://hex.pm/api"
    key_env = "HEX_API_KEY"
    key_url = "https://hex.pm/dashboard/keys"
    auth_header = "Authorization"
    key_required = False
    keyless_note = "public reads need no key (100 requests/minute per IP)"
    bad_key_fix = "fix or unset HEX_API_KEY: public reads need no key"
    keyed_limit_hint: str | None = "a HEX_API_KEY raises the hex.pm limit to 500/minute"
    no_rate_headers_note = "no x-ratelimit headers in the answer"
    short_label = "hex.pm"
    default_rps: float | None = None
    can_sort = True
    has_advisories = True

    def unwrap(self, payload: Any) -> Any:
        return payload

    def auth_error(self, said: str) -> AuthError:
        return AuthError(
            f"hex.pm rejected HEX_API_KEY (HTTP 401){said}. Fix or unset HEX_API_KEY: public reads need no key."
        )

    def plan_error(self, said: str) -> PlanError:
        return PlanError(
            f"hex.pm answered HTTP 402 (payment required){said}, which its public API does not use. "
            "Check HEX_MCP_BASE_URL."
        )

    def rate_limited(self, said: str, when: str, retry_at: float | None) -> RateLimited:
        # hex.pm's own message only repeats the limit and names the caller's IP: `said` is left out.
        return RateLimited(
            f"hex.pm rate limit reached (HTTP 429; 100 requests/minute per IP without a key); {when}. "
            "Setting HEX_API_KEY raises the limit to 500/minute.",
            retry_at,
        )

    def package_in_request(self, request: str) -> str | None:
        path = request.partition("?")[0]
        if not path.startswith("/packages/"):
            return None
        return _known_name(unquote(path[len("/packages/") :].split("/", 1)[0]))

    def package_endpoint(self, name: str) -> Endpoint:
        return Endpoint("package", f"/packages/{segment(name)}")

    def releases_endpoint(self, name: str) -> Endpoint:
        # hex.pm lists every release in the package document: one cached call serves both tools.
        return self.package_endpoint(name)

    def release_endpoint(self, name: str, version: str) -> Endpoint:
        return Endpoint("release", f"/packages/{segment(name)}/releases/{segment(version)}")

    def search_endpoint(self, q: str, page: int, limit: int, sort: str | None) -> Endpoint:
        return Endpoint(
            "search",
            "/packages",
            (
                ("search", q),
                ("page", str(page)),
                ("per_page", str(limit)),
                ("sort", sort or "recent_downloads"),
            ),
        )

    def meta_endpoint(self) -> Endpoint | None:
        return None

    def parse_package(self, data: Any) -> Package:
        return _guard("package", lambda: self._package(data))

    def parse_releases(self, data: Any) -> Package:
        return self.parse_package(data)

    def _package(self, d: Mapping[str, Any]) -> Package:
        meta = d.get("meta") or {}
        retirements = d.get("retirements") or {}
        refs = [
            ReleaseRef(
                version=str(r["version"]),
                published=day(r.get("inserted_at")),
                has_docs=r.get("has_docs") if isinstance(r.get("has_docs"), bool) else None,
                retirement=_retirement(retirements.get(r["version"])),
            )
            for r in d.get("releases") or []
        ]
        configs = d.get("configs") or {}
        return Package(
            name=str(d["name"]),
            description=_str_or_none(meta.get("description")),
            licenses=[x for x in meta.get("licenses") or [] if isinstance(x, str)],
            links=_links(meta.get("links")),
            owners=_owners(d.get("owners")),
            downloads=_downloads(d.get("downloads")),
            upstream_latest=_str_or_none(d.get("latest_version")),
            upstream_latest_stable=_str_or_none(d.get("latest_stable_version")),
            releases=_sorted_refs(refs),
            release_count=len(refs),
            advisories=_active_advisories(d["security_advisories"]) if "security_advisories" in d else None,
            inserted_at=day(d.get("inserted_at")),
            updated_at=day(d.get("updated_at")),
            html_url=_str_or_none(d.get("html_url")),
            docs_url=_str_or_none(d.get("docs_html_url")),
            mix_snippet=_str_or_none(configs.get("mix.exs")),
            rebar_snippet=_str_or_none(configs.get("rebar.config")),
        )

    def parse_release(self, data: Any, name: str) -> Release:
        return _guard("release", lambda: self._release(data, name))

    def _release(self, d: Mapping[str, Any], name: str) -> Release:
        meta = d.get("meta") or {}
        requirements = d.get("requirements") or {}
        deps = [
            Dependency(
                name=str(dep_name),
                requirement=str(spec.get("requirement") or ">= 0.0.0"),
                optional=bool(spec.get("optional", False)),
                app=_str_or_none(spec.get("app")),
            )
            for dep_name, spec in sorted(requirements.items())
        ]
        downloads = d.get("downloads")
        publisher = d.get("publisher")
        return Release(
            package=name,
            version=str(d["version"]),
            published=day(d.get("inserted_at")),
            checksum=_str_or_none(d.get("checksum")),
            elixir_requirement=_str_or_none(meta.get("elixir")),
            build_tools=[b for b in meta.get("build_tools") or [] if isinstance(b, str)],
            dependencies=deps,
            # hex.pm sends [] instead of 0 for a release with no counted downloads yet.
            downloads=downloads if isinstance(downloads, int) else 0 if downloads == [] else None,
            has_docs=d.get("has_docs") if isinstance(d.get("has_docs"), bool) else None,
            retirement=_retirement(d.get("retirement")),
            advisories=_active_advisories(d.get("security_advisories"))
            if "security_advisories" in d
            else None,
            publisher=_str_or_none(publisher.get("username")) if isinstance(publisher, Mapping) else None,
            html_url=_str_or_none(d.get("html_url")),
            docs_url=_str_or_none(d.get("docs_html_url")),
            mix_snippet=_str_or_none((d.get("configs") or {}).get("mix.exs")),
        )

    def parse_search(self, data: Any, q: str, page: int, limit: int, sort: str | None) -> SearchPage:
        return _guard("search", lambda: self._search(data, q, page, limit, sort))

    def _search(
        self, items: list[Mapping[str, Any]], q: str, page: int, limit: int, sort: str | None
    ) -> SearchPage:
        if not isinstance(items, list):
            raise TypeError("search answer is not a list")
        hits = []
        for item in items:
            meta = item.get("meta") or {}
            downloads = _downloads(item.get("downloads"))
            latest = _str_or_none(item.get("latest_stable_version")) or _str_or_none(
                item.get("latest_version")
            )
            retirements = item.get("retirements") or {}
            hits.append(
                SearchHit(
                    name=str(item["name"]),
                    description=_str_or_none(meta.get("description")),
                    latest_version=_str_or_none(item.get("latest_version")),
                    latest_stable_version=_str_or_none(item.get("latest_stable_version")),
                    downloads_all=downloads.all,
                    downloads_recent=downloads.recent,
                    updated=day(item.get("updated_at")),
                    latest_retired=latest in retirements if latest else None,
                    html_url=_str_or_none(item.get("html_url")),
                )
            )
        # hex.pm sends no total; a full page means there may be more.
        return SearchPage(
            query=q,
            page=page,
            limit=limit,
            sort=sort or "recent_downloads",
            hits=hits,
            has_more=len(items) >= limit,
        )

    def parse_meta(self, data: Any) -> GatewayMeta:
        return GatewayMeta()


class OanorBackend:
    """The Hex API gateway (`https://api.oanor.com/hex-api`): wrapped answers, a key, a monthly quota."""

    name: BackendName = "oanor"
    label = "Hex API gateway"
    default_base_url = "https://api.oanor.com/hex-api"
    key_env = "OANOR_API_KEY"
    key_url = "https://www.oanor.com/developer/keys"
    auth_header = "x-oanor-key"
    key_required = True
    keyless_note = "the gateway requires a key"
    bad_key_fix = (
        "set OANOR_API_KEY to a valid key (https://www.oanor.com/developer/keys), or use --backend hexpm"
    )
    keyed_limit_hint: str | None = None
    no_rate_headers_note = (
        "the gateway sends no rate-limit headers; it meters a monthly quota (set HEX_MCP_MONTHLY_QUOTA to budget "
        "it locally)"
    )
    short_label = "gateway"
    default_rps: float | None = 2.0  # the gateway's free plan allows 2 calls per second
    can_sort = False
    has_advisories = False

    def unwrap(self, payload: Any) -> Any:
        """Answers come as `{data, success, message}`; only `data` is the answer."""
        if not isinstance(payload, dict) or "data" not in payload:
            raise BadResponse(
                f"{self.label} answered without the expected {{data, success}} envelope. Try again later; "
                f"if it persists, check HEX_MCP_BASE_URL (the gateway root is {self.default_base_url})."
            )
        if payload.get("success") is False:
            message = payload.get("message")
            shown = message.strip()[:200] if isinstance(message, str) and message.strip() else "no message"
            raise BadResponse(f"{self.label} reported a failure: {shown}.")
        return payload["data"]

    def auth_error(self, said: str) -> AuthError:
        return AuthError(
            f"The Hex API gateway rejected the key (HTTP 401){said}. Set OANOR_API_KEY to a valid key "
            f"({self.key_url}), or use --backend hexpm, which needs no key."
        )

    def plan_error(self, said: str) -> PlanError:
        return PlanError(
            f"The Hex API gateway requires an active subscription for this call (HTTP 402){said}. Check the plan "
            "behind OANOR_API_KEY, or use --backend hexpm."
        )

    def rate_limited(self, said: str, when: str, retry_at: float | None) -> RateLimited:
        return RateLimited(
            f"The Hex API gateway rate limit or monthly quota was reached (HTTP 429){said}; {when}. "
            "A bigger plan raises both.",
            retry_at,
        )

    def package_in_request(self, request: str) -> str | None:
        path, _, query = request.partition("?")
        if path not in ("/v1/package", "/v1/releases", "/v1/release"):
            return None
        return _known_name((parse_qs(query).get("name") or [""])[0])

    def package_endpoint(self, name: str) -> Endpoint:
        return Endpoint("package", "/v1/package", (("name", name),))

    def releases_endpoint(self, name: str) -> Endpoint:
        # Always ask for the maximum: one cached answer then serves every `limit`.
        return Endpoint("releases", "/v1/releases", (("name", name), ("limit", str(GATEWAY_RELEASES_LIMIT))))

    def release_endpoint(self, name: str, version: str) -> Endpoint:
        return Endpoint("release", "/v1/release", (("name", name), ("version", version)))

    def search_endpoint(self, q: str, page: int, limit: int, sort: str | None) -> Endpoint:
        return Endpoint("search", "/v1/search", (("q", q), ("page", str(page)), ("limit", str(limit))))

    def meta_endpoint(self) -> Endpoint | None:
        return Endpoint("meta", "/v1/meta")

    def parse_package(self, data: Any) -> Package:
        return _guard("package", lambda: self._package(data["package"]))

    def _package(self, p: Mapping[str, Any]) -> Package:
        refs = [
            ReleaseRef(
                version=str(r["version"]),
                published=day(r.get("inserted_at")),
                has_docs=r.get("has_docs") if isinstance(r.get("has_docs"), bool) else None,
            )
            for r in p.get("recent_releases") or []
        ]
        count = p.get("version_count")
        return Package(
            name=str(p["name"]),
            description=_str_or_none(p.get("description")),
            licenses=[x for x in p.get("licenses") or [] if isinstance(x, str)],
            links=_links(p.get("links")),
            owners=_owners(p.get("owners")),
            downloads=_downloads(p.get("downloads")),
            upstream_latest=_str_or_none(p.get("latest_version")),
            upstream_latest_stable=_str_or_none(p.get("latest_stable_version")),
            releases=_sorted_refs(refs),
            release_count=count if isinstance(count, int) else None,
            releases_complete=False,
            retirements_known=False,
            advisories=None,
            inserted_at=day(p.get("inserted_at")),
            updated_at=day(p.get("updated_at")),
            html_url=_str_or_none(p.get("html_url")),
            docs_url=_str_or_none(p.get("docs_html_url")),
        )

    def parse_releases(self, data: Any) -> Package:
        return _guard("releases", lambda: self._releases(data))

    def _releases(self, d: Mapping[str, Any]) -> Package:
        refs = [
            ReleaseRef(
                version=str(r["version"]),
                published=day(r.get("inserted_at")),
                has_docs=r.get("has_docs") if isinstance(r.get("has_docs"), bool) else None,
            )
            for r in d["releases"]
        ]
        refs = _sorted_refs(refs)
        total = d.get("total")
        total = total if isinstance(total, int) else len(refs)
        return Package(
            name=str(d.get("package") or ""),
            upstream_latest=_str_or_none(d.get("latest")),
            releases=refs,
            release_count=total,
            releases_complete=total <= len(refs),
            retirements_known=False,
            advisories=None,
        )

    def parse_release(self, data: Any, name: str) -> Release:
        return _guard("release", lambda: self._release(data["release"], name))

    def _release(self, r: Mapping[str, Any], name: str) -> Release:
        deps = sorted(
            (
                Dependency(
                    name=str(dep["name"]),
                    requirement=str(dep.get("requirement") or ">= 0.0.0"),
                    optional=bool(dep.get("optional", False)),
                    app=_str_or_none(dep.get("app")),
                )
                for dep in r.get("dependencies") or []
            ),
            key=lambda dep: dep.name,
        )
        downloads = r.get("downloads")
        return Release(
            package=str(r.get("package") or name),
            version=str(r["version"]),
            published=day(r.get("inserted_at")),
            checksum=_str_or_none(r.get("checksum")),
            elixir_requirement=_str_or_none(r.get("elixir")),
            build_tools=[b for b in r.get("build_tools") or [] if isinstance(b, str)],
            dependencies=deps,
            downloads=downloads if isinstance(downloads, int) else 0 if downloads == [] else None,
            has_docs=r.get("has_docs") if isinstance(r.get("has_docs"), bool) else None,
            retirement=None,
            retirement_known=False,
            advisories=None,
        )

    def parse_search(self, data: Any, q: str, page: int, limit: int, sort: str | None) -> SearchPage:
        return _guard("search", lambda: self._search(data, q, page, limit))

    def _search(self, d: Mapping[str, Any], q: str, page: int, limit: int) -> SearchPage:
        results = d["results"]
        hits = [
            SearchHit(
                name=str(item["name"]),
                description=_str_or_none(item.get("description")),
                latest_version=_str_or_none(item.get("latest_version")),
                downloads_all=item.get("downloads_all")
                if isinstance(item.get("downloads_all"), int)
                else None,
                html_url=_str_or_none(item.get("html_url")),
            )
            for item in results
        ]
        return SearchPage(
            query=q, page=page, limit=limit, sort=None, hits=hits, has_more=len(results) >= limit
        )

    def parse_meta(self, data: Any) -> GatewayMeta:
        return _guard(
            "meta",
            lambda: GatewayMeta(
                source=_str_or_none(data.get("source")),
                note=_str_or_none(data.get("note")),
                endpoints=[e for e in data.get("endpoints") or [] if isinstance(e, str)],
            ),
        )


_NAME_RE = re.compile(NAME_PATTERN)


def _known_name(candidate: str) -> str | None:
    return candidate if _NAME_RE.fullmatch(candidate) else None


_BACKENDS: dict[BackendName, Backend] = {"hexpm": HexPmBackend(), "oanor": OanorBackend()}


def backend_for(name: BackendName) -> Backend:
    return _BACKENDS[name]
