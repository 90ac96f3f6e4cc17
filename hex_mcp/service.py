"""HexService: the questions hex-mcp answers, independent of MCP.

Each method validates its arguments (before any upstream call), reads through the fetch pipeline
(`hex_mcp.fetch`: cache, single flight, call budget, stale fallback) and returns the `*View` model the
formatters render. The pure logic it leans on lives in `resolve` (which version a question means) and `upgrade`
(diffs and outdated rows).
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
from typing import TYPE_CHECKING, Any

import anyio
import httpx2

from hex_mcp import __version__, validate
from hex_mcp.backends import Endpoint, segment
from hex_mcp.cache import ResponseCache
from hex_mcp.config import Settings
from hex_mcp.deadline import bounded, deadline
from hex_mcp.deps_input import DepsInputError, DepSpec
from hex_mcp.errors import (
    BadResponse,
    HexError,
    InvalidInput,
    NotFound,
    PackageNotFound,
    RegistryUnavailable,
    ReleaseDocMissing,
    ReleaseNotFound,
)
from hex_mcp.fetch import CallBudget, Fetched, Fetcher, LookupAllowance, lookup_allowance
from hex_mcp.from_registry import (
    find_release,
    has_all_dates,
    package_from_registry,
    release_from_registry,
    with_dates,
)
from hex_mcp.models import (
    OUTDATED_ORDER,
    DiffView,
    MetaView,
    OutdatedRow,
    OutdatedStatus,
    OutdatedView,
    Package,
    PackageView,
    RateLimitInfo,
    Release,
    ReleasesView,
    ReleaseView,
    SearchView,
    SkippedDepView,
)
from hex_mcp.offload import parse_deps_off_loop
from hex_mcp.registry import RegistryError, RegistryPackage, load_public_key, read_package
from hex_mcp.resolve import (
    latest_stable,
    matches,
    nearest_versions,
    needs_release_list,
    newer_prerelease,
    pick_two,
    pick_version,
    retired_above,
)
from hex_mcp.text import first_sentence, shorten
from hex_mcp.upgrade import DepCheck, build_diff, combined_freshness, outdated_row, sort_outdated
from hex_mcp.upstream import RepoClient, UpstreamClient, utc_iso
from hex_mcp.versions import Latest, VersionArg, hex_pick

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

log = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 280
PACKAGE_RECENT_RELEASES = 5
OUTDATED_CONCURRENCY = 8  # parallel lookups per hex_outdated call: fast, yet far from hex.pm's rate window
OUTDATED_DEADLINE_MARGIN = 0.5  # seconds before the call's deadline when hex_outdated stops looking up
COMPLETION_MAX = 100  # MCP caps completion values at 100
COMPLETION_SEARCH_LIMIT = 50


class HexService:
    """Answers package questions from the cache or the selected backend."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_transport: httpx2.AsyncBaseTransport | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.settings = settings
        self.backend = settings.upstream
        self.cache = cache if cache is not None else ResponseCache(settings)
        self.budget = CallBudget(settings, self.cache)
        self.upstream = UpstreamClient(settings, http_transport=http_transport, on_attempt=self.budget.count)
        self.fetcher = Fetcher(settings, self.cache, self.upstream, self.budget)
        self.fetch = self.fetcher.fetch
        self._http_transport = http_transport
        self._repo: RepoClient | None = None  # built on the first registry read: mode off never needs it
        self.registry_failed = 0

    async def aclose(self) -> None:
        await self.upstream.aclose()
        if self._repo is not None:
            await self._repo.aclose()
        self.cache.close()

    @functools.cached_property
    def registry_fetcher(self) -> Fetcher:
        """Registry files come from the repository's CDN: not metered by the API budget nor its rate governor."""
        self._repo = RepoClient(self.settings, http_transport=self._http_transport)
        return Fetcher(self.settings, self.cache, self._repo, None)

    # -- the signed registry ------------------------------------------------------------------------------

    @functools.cached_property
    def _repo_key(self) -> RSAPublicKey | None:
        """The configured key (checked at start by Settings.from_env), or None for hex.pm's embedded one."""
        pem = self.settings.repo_public_key
        return load_public_key(pem) if pem is not None else None

    def _read_registry(self, name: str, data: Any) -> RegistryPackage:
        """Verify a signed `/packages/NAME` file (base64 in the cache); runs before caching and on every disk read."""
        try:
            body = base64.b64decode(data, validate=True) if isinstance(data, str) else None
        except binascii.Error:
            body = None
        if body is None:  # only an entry written by something else looks like this: drop it and fetch again
            raise BadResponse(f"The cached registry file for {name} is not base64 text.")
        try:
            return read_package(body, name=name, public_key=self._repo_key)
        except RegistryError:
            self.registry_failed += 1
            raise

    async def _registry(self, name: str) -> Fetched[RegistryPackage]:
        try:
            fetched = await self.registry_fetcher.fetch(
                Endpoint("registry", f"/packages/{segment(name)}"),
                lambda data: self._read_registry(name, data),
                memo="read_package",  # `name` is in the path, hence in the cache key
            )
        except NotFound:
            raise PackageNotFound(name) from None
        return Fetched(fetched.value, fetched.freshness.model_copy(update={"registry": True}))

    async def _try_registry(self, name: str) -> tuple[Fetched[RegistryPackage] | None, str | None]:
        """The verified registry file, or (in auto) None and a note saying why the API answers instead.

        Mode off never asks the registry; mode only raises what the registry raised.
        """
        if self.settings.registry == "off":
            return None, None
        try:
            return await self._registry(name), None
        except HexError as exc:
            if self.settings.registry == "only":
                if isinstance(exc, PackageNotFound):
                    raise
                raise RegistryUnavailable(
                    f"{exc} HEX_MCP_REGISTRY=only is set, so the API was not asked; set it to auto to let "
                    "the API answer when the registry cannot."
                ) from None
            note = fallback_note(name, exc)
            log.warning("%s", note)
            return None, note

    async def _listing(self, name: str, *, dates: bool = False) -> Fetched[Package]:
        """Every release with retirements: from the registry unless it is off or (in auto) failing.

        `dates`: fill publication dates a pre-2026-05 file lacks with one API read of the release list.
        """
        reg, note = await self._try_registry(name)
        if reg is None:
            return _noted(await self._releases(name), note)
        pkg = package_from_registry(reg.value)
        if dates and not has_all_dates(reg.value):
            try:
                pkg = with_dates(pkg, (await self._releases(name)).value)
            except HexError as exc:  # dates are a courtesy; the registry's answer stands without them
                log.info("release dates for %s unavailable: %s", name, first_sentence(str(exc)))
        return Fetched(pkg, reg.freshness)

    # -- reads with domain errors ---------------------------------------------------------------------

    async def _package(self, name: str) -> Fetched[Package]:
        try:
            return await self.fetch(self.backend.package_endpoint(name), self.backend.parse_package)
        except NotFound:
            raise PackageNotFound(name) from None

    async def _releases(self, name: str) -> Fetched[Package]:
        try:
            return await self.fetch(self.backend.releases_endpoint(name), self.backend.parse_releases)
        except NotFound:
            raise PackageNotFound(name) from None

    async def _release(self, name: str, version: str) -> Fetched[Release]:
        try:
            return await self.fetch(
                self.backend.release_endpoint(name, version),
                lambda data: self.backend.parse_release(data, name),
                memo="parse_release",  # `name` is part of the release path, hence of the cache key
            )
        except NotFound:
            # Raises PackageNotFound when the package itself is missing.
            releases = (await self._releases(name)).value
            if any(r.version == version for r in releases.releases):
                raise ReleaseDocMissing(name, version, self.backend.label) from None
            raise ReleaseNotFound(name, version, nearest_versions(releases, version)) from None

    # -- tools -------------------------------------------------------------------------------------------

    @bounded
    async def package(self, name: str) -> PackageView:
        fetched = await self._package(validate.package_name(name))
        pkg = fetched.value
        flat = " ".join(pkg.description.split()) if pkg.description is not None else None
        description = shorten(flat, DESCRIPTION_LIMIT) if flat is not None else None
        return PackageView(
            name=pkg.name,
            description=description,
            description_truncated=description != flat,
            licenses=pkg.licenses,
            links=pkg.links,
            owners=pkg.owners,
            downloads=pkg.downloads,
            latest_stable_version=latest_stable(pkg),
            latest_prerelease=newer_prerelease(pkg),
            release_count=pkg.release_count,
            recent_releases=pkg.releases[:PACKAGE_RECENT_RELEASES],
            retired_count=sum(1 for r in pkg.releases if r.retirement) if pkg.retirements_known else None,
            advisories=pkg.advisories,
            inserted=pkg.inserted_at,
            updated=pkg.updated_at,
            html_url=pkg.html_url,
            docs_url=pkg.docs_url,
            mix_snippet=pkg.mix_snippet,
            rebar_snippet=pkg.rebar_snippet,
            freshness=fetched.freshness,
        )

    @bounded
    async def releases(
        self, name: str, limit: int = 50, requirement: str | None = None, include_prereleases: bool = False
    ) -> ReleasesView:
        validate.package_name(name)
        validate.bounded(limit, "limit", 1, validate.RELEASES_LIMIT_MAX)
        req = validate.requirement(requirement)
        fetched = await self._listing(name, dates=True)
        pkg = fetched.value
        refs = pkg.releases
        highest = matching = None
        if req is not None:
            refs = [r for r in refs if matches(req, r.version, include_prereleases)]
            matching = len(refs)
            retired = {r.version for r in refs if r.retirement}
            highest = hex_pick([r.version for r in refs], req, exclude=retired)
        shown = refs[:limit]
        return ReleasesView(
            name=name,
            total=pkg.release_count if pkg.release_count is not None else len(pkg.releases),
            shown=len(shown),
            latest_stable_version=latest_stable(pkg),
            latest_prerelease=newer_prerelease(pkg),
            requirement=str(req) if req is not None else None,
            highest_match=highest,
            matching=matching,
            include_prereleases=include_prereleases,
            retirements_known=pkg.retirements_known,
            releases=shown,
            freshness=fetched.freshness,
        )

    @bounded
    async def release(self, name: str, version: str | None = None) -> ReleaseView:
        """Dependencies, retirement, checksum and date from the registry; the rest from the API document."""
        validate.package_name(name)
        arg = validate.version_arg(version)
        reg, note = await self._try_registry(name)
        if reg is not None:
            listing = package_from_registry(reg.value)
        elif needs_release_list(arg):
            listing = (await self._releases(name)).value
        else:
            listing = Package(name=name)
        concrete, requested = pick_version(listing, name, arg)
        if reg is None:
            fetched = _noted(await self._release(name, concrete), note)
        else:
            fetched = await self._release_with_registry(reg, concrete)
        return ReleaseView(
            release=fetched.value,
            requested=requested,
            latest_stable_version=latest_stable(listing) if requested is not None else None,
            skipped_retired=retired_above(listing, concrete) if requested == "latest" else None,
            freshness=fetched.freshness,
        )

    async def _release_with_registry(self, reg: Fetched[RegistryPackage], version: str) -> Fetched[Release]:
        rel = find_release(reg.value, version)
        if rel is None:
            raise ReleaseNotFound(
                reg.value.name, version, nearest_versions(package_from_registry(reg.value), version)
            )
        try:
            api = await self._release(reg.value.name, version)
        except HexError as exc:  # the signed facts stand; say what the API could not add
            reason = first_sentence(str(exc))
            stamp = reg.freshness.model_copy(
                update={"note": f"the API release document could not be read ({reason}); registry facts only"}
            )
            return Fetched(release_from_registry(reg.value, rel), stamp)
        freshness = combined_freshness([reg.freshness, api.freshness]).model_copy(update={"registry": True})
        return Fetched(release_from_registry(reg.value, rel, api.value), freshness)

    @bounded
    async def search(self, q: str, page: int = 1, limit: int = 20, sort: str | None = None) -> SearchView:
        query = validate.search_query(q)
        validate.bounded(page, "page", 1, validate.SEARCH_PAGE_MAX)
        validate.bounded(limit, "limit", 1, validate.SEARCH_LIMIT_MAX)
        sort = validate.sort(sort)
        endpoint = self.backend.search_endpoint(query, page, limit, sort if self.backend.can_sort else None)
        fetched = await self.fetch(
            endpoint,
            lambda data: self.backend.parse_search(data, query, page, limit, sort),
            memo="parse_search",  # query, page, limit and the effective sort are all in the cache key
        )
        result = fetched.value
        note = None
        if not self.backend.can_sort and sort is not None:
            note = f"the gateway cannot sort; sort={sort} was ignored (results are in its own order)"
        return SearchView(
            query=query,
            page=page,
            limit=limit,
            sort=result.sort,
            sort_note=note,
            hits=result.hits,
            has_more=result.has_more,
            freshness=fetched.freshness,
        )

    @bounded
    async def meta(self) -> MetaView:
        stats = self.cache.stats()
        rate = self.upstream.rate
        gateway = gateway_error = None
        endpoint = self.backend.meta_endpoint()
        if endpoint is not None:
            try:
                gateway = (await self.fetch(endpoint, self.backend.parse_meta)).value
            except HexError as exc:
                gateway_error = first_sentence(str(exc))
        return MetaView(
            server_version=__version__,
            backend=self.settings.backend,
            base_url=self.settings.base_url,
            key_configured=self.settings.api_key is not None,
            offline=self.settings.offline,
            cache_dir=stats.dir,
            cache_entries=stats.entries,
            cache_size_bytes=stats.size_bytes,
            hit_ratio=stats.hit_ratio,
            upstream_calls_month=self.cache.calls_this_month(self.settings.backend),
            monthly_quota=self.settings.monthly_quota,
            rate_limit=(
                RateLimitInfo(
                    limit=rate.limit,
                    remaining=rate.remaining,
                    reset=utc_iso(rate.reset) if rate.reset is not None else None,
                )
                if rate.seen_at is not None
                else None
            ),
            ttls={
                "package": self.settings.ttls.package,
                "releases": self.settings.ttls.releases,
                "release": self.settings.ttls.release,
                "search": self.settings.ttls.search,
                "meta": self.settings.ttls.meta,
                "registry": self.settings.ttls.registry,
            },
            gateway=gateway,
            gateway_error=gateway_error,
            registry_mode=self.settings.registry,
            repo_url=self.settings.repo_url,
            registry_fetched=self._repo.fetched if self._repo is not None else 0,
            registry_revalidated=self._repo.revalidated if self._repo is not None else 0,
            registry_failed=self.registry_failed,
        )

    # -- upgrade assistant -------------------------------------------------------------------------------

    @bounded
    async def diff(self, name: str, from_version: str, to_version: str | None = None) -> DiffView:
        """What changes between two releases; either end may be a requirement, `to_version` also "latest"."""
        validate.package_name(name)
        old_arg = validate.version_arg(from_version, "from_version")
        new_arg = validate.version_arg(to_version, "to_version")
        if isinstance(old_arg, Latest):
            raise InvalidInput(
                "from_version must be the version you start from (e.g. 1.7.14) or a requirement such as "
                "'~> 1.7'; 'latest' is accepted only for to_version."
            )
        if str(old_arg) == str(new_arg):
            raise InvalidInput(
                f"from_version and to_version are both '{old_arg}': give two different versions to compare."
            )
        reg, note = await self._try_registry(name)
        if reg is not None:  # one verified file answers everything but the Elixir requirement and build tools
            return self._diff_from_registry(reg, old_arg, new_arg)
        # One read of the release list serves resolution, the count in between and (hex.pm) the advisories.
        listing = _noted(await self._releases(name), note)
        (old, old_requested), (new, new_requested) = pick_two(listing.value, name, old_arg, new_arg)
        old_release = await self._release(name, old)
        new_release = await self._release(name, new)
        return build_diff(
            listing.value,
            old_release.value,
            new_release.value,
            from_requested=old_requested,
            to_requested=new_requested,
            freshness=combined_freshness([listing.freshness, old_release.freshness, new_release.freshness]),
        )

    def _diff_from_registry(
        self, reg: Fetched[RegistryPackage], old_arg: VersionArg, new_arg: VersionArg
    ) -> DiffView:
        name = reg.value.name
        listing = package_from_registry(reg.value)
        (old, old_requested), (new, new_requested) = pick_two(listing, name, old_arg, new_arg)
        releases = []
        for version in (old, new):
            rel = find_release(reg.value, version)
            if rel is None:
                raise ReleaseNotFound(name, version, nearest_versions(listing, version))
            releases.append(release_from_registry(reg.value, rel))
        stamp = reg.freshness.model_copy(
            update={
                "note": "Elixir requirement and build tools are not in the registry; hex_release has them"
            }
        )
        return build_diff(
            listing,
            releases[0],
            releases[1],
            from_requested=old_requested,
            to_requested=new_requested,
            freshness=stamp,
        )

    @bounded
    async def outdated(self, deps: str) -> OutdatedView:
        """Check every Hex dependency of a pasted mix.lock / mix.exs / `name version` list in one call."""
        text = validate.deps_text(deps)
        try:
            parsed = await parse_deps_off_loop(text)
        except DepsInputError as exc:
            raise InvalidInput(f"deps could not be read: {exc}") from None
        checks: dict[int, DepCheck] = {}
        limiter = anyio.CapacityLimiter(OUTDATED_CONCURRENCY)

        async def check(index: int, spec: DepSpec) -> None:
            async with limiter:
                checks[index] = await self._check_dep(spec)

        # Each dependency may cost an upstream call; the allowance bounds them per call (cached answers are free).
        token = lookup_allowance.set(LookupAllowance(self.settings.max_lookups))
        try:
            # Stop looking up just before the call's deadline, so the deps checked by then are still answered.
            with anyio.CancelScope(deadline=deadline() - OUTDATED_DEADLINE_MARGIN):
                async with anyio.create_task_group() as tg:
                    for index, spec in enumerate(parsed.deps):
                        tg.start_soon(check, index, spec)
        finally:
            lookup_allowance.reset(token)
        for index, spec in enumerate(parsed.deps):
            if index not in checks:
                checks[index] = _unchecked(
                    spec,
                    f"not checked within the call's {self.settings.timeout:g} s "
                    "deadline (HEX_MCP_TIMEOUT); call again, answers fetched so far are cached",
                )
        rows = sort_outdated([c.row for c in checks.values()])
        fresh = [c.freshness for c in checks.values() if c.freshness is not None]
        known = [c.retirements_known for c in checks.values() if c.retirements_known is not None]
        return OutdatedView(
            input_format=parsed.format,
            source=self.settings.backend,
            checked=len(rows),
            counts={s: n for s in OUTDATED_ORDER if (n := sum(1 for r in rows if r.status == s))},
            rows=rows,
            skipped=[SkippedDepView(name=s.name, reason=s.reason, kind=s.kind) for s in parsed.skipped],
            retirements_known=all(known) if known else self.backend.has_advisories,
            advisories_known=self.backend.has_advisories,
            live_lookups=sum(1 for f in fresh if not f.from_cache),
            cached_lookups=sum(1 for f in fresh if f.from_cache),
            freshness=combined_freshness(fresh) if fresh else None,
        )

    async def _check_dep(self, spec: DepSpec) -> DepCheck:
        """One dependency, one cached read: hex.pm's package document has releases, retirements and
        advisories, the gateway's release list has the versions."""
        try:
            fetched = await self._listing(spec.name)
        except PackageNotFound:
            status: OutdatedStatus = "not_found"
            note = "not found on Hex"
        except HexError as exc:  # one failing dependency must not sink the other answers
            status, note = "error", first_sentence(str(exc))
        else:
            pkg = fetched.value
            return DepCheck(outdated_row(spec, pkg), fetched.freshness, pkg.retirements_known)
        return _unchecked(spec, note, status)

    # -- completions -------------------------------------------------------------------------------------

    def cached_package_names(self) -> list[str]:
        """Names of the packages the cache holds answers about, from the configured backend."""
        return sorted(
            {n for key in self.cache.cached_requests() if (n := self.backend.package_in_request(key))}
        )

    async def complete_package_names(self, prefix: str) -> tuple[list[str], bool]:
        """Package names starting with `prefix`: cached ones first, then hex.pm's `name:prefix*` search."""
        prefix = prefix.strip().lower()
        if prefix and not _NAME_PREFIX_RE.fullmatch(prefix):
            return [], False
        names = [n for n in self.cached_package_names() if n.startswith(prefix)]
        more = False
        if prefix:
            try:
                found = await self.search(f"name:{prefix}*", limit=COMPLETION_SEARCH_LIMIT)
            except HexError as exc:  # suggestions are best effort: offline, quota or outage → cache only
                log.debug("name completion search failed: %s", exc)
            else:
                names += [h.name for h in found.hits if h.name.startswith(prefix)]
                more = found.has_more
        unique = list(dict.fromkeys(names))
        return unique[:COMPLETION_MAX], more or len(unique) > COMPLETION_MAX

    async def complete_versions(self, name: str, prefix: str) -> list[str]:
        """Versions of `name` (newest first, plus "latest") starting with `prefix`; empty when unknown."""
        try:
            pkg = (await self._releases(validate.package_name(name))).value
        except HexError:
            return []
        values = ["latest", *(r.version for r in pkg.releases)]
        return [v for v in values if v.startswith(prefix.strip())][:COMPLETION_MAX]


_NAME_PREFIX_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def fallback_note(name: str, exc: HexError) -> str:
    """One line saying which registry step failed for `name`, for an answer the API gave instead."""
    if isinstance(exc, RegistryError):
        return f"registry file {exc.subject} failed verification ({exc.step.replace('_', ' ')}); answered from the API"
    if isinstance(exc, PackageNotFound):
        return f"the registry has no file for {name}; answered from the API"
    return (
        f"registry file for {name} could not be fetched ({first_sentence(str(exc))}); answered from the API"
    )


def _unchecked(spec: DepSpec, note: str, status: OutdatedStatus = "error") -> DepCheck:
    row = OutdatedRow(
        name=spec.name,
        app=spec.app,
        status=status,
        current=spec.version,
        requirement=spec.requirement,
        note=note,
    )
    return DepCheck(row, None, None)


def _noted(fetched: Fetched[Any], note: str | None) -> Fetched[Any]:
    if note is None:
        return fetched
    return Fetched(fetched.value, fetched.freshness.model_copy(update={"note": note}))
