"""HexService: the questions hex-mcp answers, independent of MCP.

Each method validates its arguments (before any upstream call), reads through the fetch pipeline
(`hex_mcp.fetch`: cache, single flight, call budget, stale fallback) and returns the `*View` model the
formatters render. The pure logic it leans on lives in `resolve` (which version a question means) and `upgrade`
(diffs and outdated rows).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import difflib
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import anyio
import httpx2

from hex_mcp import __version__, validate
from hex_mcp.backends import Endpoint, segment
from hex_mcp.cache import ResponseCache
from hex_mcp.changelog_part import (
    MAX_TOKENS_DEFAULT,
    MAX_TOKENS_MAX,
    MAX_TOKENS_MIN,
    changelog_view,
    fallback_link,
)
from hex_mcp.config import Settings
from hex_mcp.deadline import bounded, deadline
from hex_mcp.deps_input import DepsInput, DepsInputError, DepSpec
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
from hex_mcp.fetch import PARSED_MEMO_SIZE, CallBudget, Fetched, Fetcher, LookupAllowance, lookup_allowance
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
    PlanView,
    RateLimitInfo,
    Release,
    ReleasesView,
    ReleaseView,
    SearchView,
    SkippedDepView,
)
from hex_mcp.offload import parse_deps_off_loop
from hex_mcp.plan import PlanInputError
from hex_mcp.plan_input import plan_request
from hex_mcp.planning import make_plan, plan_view
from hex_mcp.redis_store import RedisStore, open_store
from hex_mcp.registry import (
    RegistryError,
    RegistryNames,
    RegistryPackage,
    load_public_key,
    read_names,
    read_package,
)
from hex_mcp.release_notes import ReleaseNotes
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
from hex_mcp.tokens import count_tokens, counter_ready
from hex_mcp.upgrade import (
    DepCheck,
    build_diff,
    combined_freshness,
    mark_updates,
    outdated_row,
    sort_outdated,
)
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
INLINE_CHANGELOG_CHARS = 32_768  # a changelog this short is fitted in well under a millisecond
SUGGESTIONS_MAX = 3
SUGGESTION_CUTOFF = 0.75  # difflib ratio: "phoneix" → "phoenix" (0.86) passes, "plug" → "plum" (0.75) too

P = ParamSpec("P")
R = TypeVar("R")


def suggests_names(
    method: Callable[Concatenate[HexService, P], Awaitable[R]],
) -> Callable[Concatenate[HexService, P], Awaitable[R]]:
    """An unknown package name in this question's answer gets the closest existing names in its error."""

    @functools.wraps(method)
    async def wrapper(self: HexService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except PackageNotFound as exc:
            close = await self.similar_names(exc.name)
            if not close:
                raise
            raise PackageNotFound(exc.name, close) from None

    return wrapper


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
        self.shared = open_store(settings)  # Redis, shared by replicas; None: this process alone
        self.budget = CallBudget(settings, self.cache, self.shared)
        self.upstream = UpstreamClient(
            settings, http_transport=http_transport, meter=self.budget, shared=self.shared
        )
        self.fetcher = Fetcher(settings, self.cache, self.upstream, self.budget, self.shared)
        self.fetch = self.fetcher.fetch
        self._http_transport = http_transport
        self._repo: RepoClient | None = None  # built on the first registry read: mode off never needs it
        self.registry_failed = 0
        self.release_notes = ReleaseNotes(settings, self.cache, http_transport=http_transport)
        # A verified file's release list, built once per parsed file: the fetch memo hands back the same object
        # while the file is fresh, and converting phoenix's 171 releases costs over a millisecond.
        self._listings: dict[str, tuple[RegistryPackage, Package]] = {}
        self._sorted_names: tuple[RegistryNames, tuple[str, ...]] | None = None

    async def aclose(self) -> None:
        await self.upstream.aclose()
        if self._repo is not None:
            await self._repo.aclose()
        if self.shared is not None:
            await self.shared.aclose()
        await self.release_notes.aclose()
        self.cache.close()

    @functools.cached_property
    def registry_fetcher(self) -> Fetcher:
        """Registry files come from the repository's CDN: not metered by the API budget nor its rate governor."""
        self._repo = RepoClient(self.settings, http_transport=self._http_transport)
        return Fetcher(self.settings, self.cache, self._repo, None, self.shared)

    # -- the signed registry ------------------------------------------------------------------------------

    @functools.cached_property
    def _repo_key(self) -> RSAPublicKey | None:
        """The configured key (checked at start by Settings.from_env), or None for hex.pm's embedded one."""
        pem = self.settings.repo_public_key
        return load_public_key(pem) if pem is not None else None

    def _read_registry(self, name: str, data: Any) -> RegistryPackage:
        """Verify a signed `/packages/NAME` file (base64 in the cache); runs before caching and on every disk read."""
        body = _signed_bytes(data, f"registry file for {name}")
        try:
            return read_package(body, name=name, public_key=self._repo_key)
        except RegistryError:
            self.registry_failed += 1
            raise

    def _read_names(self, data: Any) -> RegistryNames:
        """Verify the signed `/names` file, as `_read_registry` does a package file."""
        body = _signed_bytes(data, "registry name list")
        try:
            return read_names(body, public_key=self._repo_key)
        except RegistryError:
            self.registry_failed += 1
            raise

    async def registry_names(self) -> tuple[str, ...] | None:
        """Every package name, sorted, from the registry's signed `/names` (kept a day); None when the registry
        is off or the list cannot be had: completions and suggestions are courtesies, never a failed call."""
        if self.settings.registry == "off":
            return None
        try:
            fetched = await self.registry_fetcher.fetch(Endpoint("names", "/names"), self._read_names)
        except HexError as exc:
            log.info("the registry's name list is unavailable: %s", first_sentence(str(exc)))
            return None
        listed = fetched.value
        if self._sorted_names is None or self._sorted_names[0] is not listed:
            self._sorted_names = (listed, tuple(sorted(listed.names)))
        return self._sorted_names[1]

    async def similar_names(self, name: str) -> list[str]:
        """Up to three existing names close to `name` (edit-distance ratio), for "did you mean"."""
        names = await self.registry_names()
        if not names:
            return []
        wanted = name.lower()
        # Only names of a near length can score above the cutoff; skipping the rest keeps 20,000 names cheap.
        near = [n for n in names if abs(len(n) - len(wanted)) <= max(2, len(wanted) // 4)]
        return difflib.get_close_matches(wanted, near, n=SUGGESTIONS_MAX, cutoff=SUGGESTION_CUTOFF)

    def _registry_listing(self, reg: RegistryPackage) -> Package:
        hit = self._listings.get(reg.name)
        if hit is not None and hit[0] is reg:
            return hit[1]
        listing = package_from_registry(reg)
        self._listings.pop(reg.name, None)  # re-insert at the end: insertion order is the eviction order
        self._listings[reg.name] = (reg, listing)
        if len(self._listings) > PARSED_MEMO_SIZE:
            del self._listings[next(iter(self._listings))]
        return listing

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
        pkg = self._registry_listing(reg.value)
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
    @suggests_names
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
    @suggests_names
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
    @suggests_names
    async def release(self, name: str, version: str | None = None) -> ReleaseView:
        """Dependencies, retirement, checksum and date from the registry; the rest from the API document."""
        validate.package_name(name)
        arg = validate.version_arg(version)
        reg, note = await self._try_registry(name)
        if reg is not None:
            listing = self._registry_listing(reg.value)
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
                reg.value.name, version, nearest_versions(self._registry_listing(reg.value), version)
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
            upstream_calls_month=await self.budget.used_now(),
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
            ttls=self.settings.ttls.as_dict(),
            gateway=gateway,
            gateway_error=gateway_error,
            registry_mode=self.settings.registry,
            repo_url=self.settings.repo_url,
            registry_fetched=self._repo.fetched if self._repo is not None else 0,
            registry_revalidated=self._repo.revalidated if self._repo is not None else 0,
            registry_failed=self.registry_failed,
            tarballs_fetched=self.release_notes.fetched,
            tarballs_rejected=self.release_notes.rejected,
            store=(await self.shared.info()).text() if self.shared is not None else None,
        )

    async def store_info(self) -> dict[str, object] | None:
        """The shared store for /healthz: where, connected or degraded, key count; never a credential."""
        return await _store_health(self.shared) if self.shared is not None else None

    # -- upgrade assistant -------------------------------------------------------------------------------

    @bounded
    @suggests_names
    async def diff(
        self,
        name: str,
        from_version: str,
        to_version: str | None = None,
        max_tokens: int = MAX_TOKENS_DEFAULT,
    ) -> DiffView:
        """What changes between two releases; either end may be a requirement, `to_version` also "latest".

        The changelog entries in between, from the newer release's verified tarball, fill at most `max_tokens`.
        """
        validate.package_name(name)
        old_arg = validate.version_arg(from_version, "from_version")
        new_arg = validate.version_arg(to_version, "to_version")
        validate.bounded(max_tokens, "max_tokens", MAX_TOKENS_MIN, MAX_TOKENS_MAX)
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
        if reg is not None:
            view, checksums = await self._diff_from_registry(reg, old_arg, new_arg)
            return await self._with_changelog(view, checksums, None, max_tokens)
        # One read of the release list serves resolution, the count in between and (hex.pm) the advisories.
        listing = _noted(await self._releases(name), note)
        (old, old_requested), (new, new_requested) = pick_two(listing.value, name, old_arg, new_arg)
        old_release = await self._release(name, old)
        new_release = await self._release(name, new)
        view = build_diff(
            listing.value,
            old_release.value,
            new_release.value,
            from_requested=old_requested,
            to_requested=new_requested,
            freshness=combined_freshness([listing.freshness, old_release.freshness, new_release.freshness]),
        )
        checksums = {r.version: r.checksum for r in (old_release.value, new_release.value)}
        return await self._with_changelog(view, checksums, listing.value, max_tokens)

    async def _with_changelog(
        self, view: DiffView, checksums: dict[str, str | None], listing: Package | None, max_tokens: int
    ) -> DiffView:
        """`view` with the changelog entries after the older release, read from the newer one's tarball."""
        low, high = (
            (view.to_version, view.from_version)
            if view.direction == "downgrade"
            else (view.from_version, view.to_version)
        )
        found, failure = await self.release_notes.changelog(view.name, high, checksums.get(high))
        fit = functools.partial(
            changelog_view,
            low=low,
            high=high,
            found=found,
            failure=failure,
            max_tokens=max_tokens,
            count_tokens=count_tokens,
        )
        # Splitting and fitting a long changelog takes a while (about a second for 2 MiB of one-line entries), and
        # the first count loads the tokenizer (0.6 s): then off the event loop, as the tarball read is. A short
        # one is fitted in place, which saves the thread hop (~0.3 ms) on every warm call.
        inline = found is None or (len(found.text) <= INLINE_CHANGELOG_CHARS and counter_ready())
        part = fit() if inline else await anyio.to_thread.run_sync(fit)
        if part.status != "shown":
            label, url = await self._changelog_link(view.name, listing)
            part = part.model_copy(update={"link": url, "link_label": label})
        return view.model_copy(update={"changelog": part})

    async def _changelog_link(self, name: str, listing: Package | None) -> tuple[str, str]:
        """Where to read a changelog this server could not: the package's own links (one cached read)."""
        pkg = listing
        if pkg is None or not pkg.links:  # the registry has no links: they are an API-only fact
            try:
                pkg = (await self._package(name)).value
            except HexError as exc:  # a link is a courtesy: the note already says why there is no changelog
                log.info("links of %s unavailable: %s", name, first_sentence(str(exc)))
                return ("hex.pm", f"https://hex.pm/packages/{name}")
        return fallback_link(pkg.links, pkg.html_url or f"https://hex.pm/packages/{name}")

    async def _diff_from_registry(
        self, reg: Fetched[RegistryPackage], old_arg: VersionArg, new_arg: VersionArg
    ) -> tuple[DiffView, dict[str, str | None]]:
        """Resolution, dependencies and retirements from the signed file; the two API release documents add
        the Elixir requirement and build tools, as they do for hex_release (and the diff stands without them)."""
        listing = self._registry_listing(reg.value)
        (old, old_requested), (new, new_requested) = pick_two(listing, reg.value.name, old_arg, new_arg)
        old_release = await self._release_with_registry(reg, old)
        new_release = await self._release_with_registry(reg, new)
        view = build_diff(
            listing,
            old_release.value,
            new_release.value,
            from_requested=old_requested,
            to_requested=new_requested,
            freshness=combined_freshness([old_release.freshness, new_release.freshness]),
        )
        # The registry's outer checksum, or the API's for files written before outer checksums existed.
        return view, {r.version: r.checksum for r in (old_release.value, new_release.value)}

    @bounded
    async def outdated(self, deps: str) -> OutdatedView:
        """Check every Hex dependency of a pasted mix.lock / mix.exs / `name version` list in one call."""
        parsed = await _read_paste(deps)
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
        rows = sort_outdated(mark_updates([c.row for c in checks.values()], parsed))
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

    async def plan(self, deps: str, update: str, target: str | None = None) -> PlanView:
        """What `mix deps.update` would do to a pasted mix.lock (and mix.exs), from the signed registry."""
        # Not @bounded: the planner keeps its own deadline (plan_deadline) and answers what it found by then.
        request = plan_request(await _read_paste(deps), update, target)
        if self.settings.registry == "off":
            raise RegistryUnavailable(
                "hex_plan needs every release's dependencies, which only the signed Hex registry lists, and "
                "HEX_MCP_REGISTRY=off is set; set it to auto. hex_outdated answers 'possible or blocked' without it."
            )
        try:
            outcome = await make_plan(
                self._registry,
                request,
                deadline_seconds=self.settings.plan_deadline,
                max_packages=self.settings.plan_max_packages,
            )
        except PlanInputError as exc:
            raise InvalidInput(str(exc)) from None
        return plan_view(request, outcome)

    # -- completions -------------------------------------------------------------------------------------

    def cached_package_names(self) -> list[str]:
        """Names of the packages the cache holds answers about, from the configured backend."""
        return sorted(
            {n for key in self.cache.cached_requests() if (n := self.backend.package_in_request(key))}
        )

    async def complete_package_names(self, prefix: str) -> tuple[list[str], bool]:
        """Package names starting with `prefix`: cached ones first, then every name in the registry's list, or
        (registry off or unreachable) hex.pm's `name:prefix*` search."""
        prefix = prefix.strip().lower()
        if prefix and not _NAME_PREFIX_RE.fullmatch(prefix):
            return [], False
        names = [n for n in self.cached_package_names() if n.startswith(prefix)]
        more = False
        listed = await self.registry_names() if prefix else None
        if listed is not None:
            start = bisect.bisect_left(listed, prefix)
            stop = bisect.bisect_left(listed, prefix + "\U0010ffff")  # past every name with this prefix
            names += listed[start:stop]
        elif prefix:
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


async def _store_health(store: RedisStore) -> dict[str, object]:
    info = await store.info()
    return {"kind": "redis", "where": info.where, "connected": info.connected, "keys": info.keys}


async def store_health(settings: Settings) -> dict[str, object] | None:
    """/healthz's view of the shared store before any session has started the service: a one-off connection."""
    store = open_store(settings)
    if store is None:
        return None
    try:
        return await _store_health(store)
    finally:
        await store.aclose()


def _signed_bytes(data: Any, what: str) -> bytes:
    """The signed file's bytes from their cached base64 text."""
    try:
        body = base64.b64decode(data, validate=True) if isinstance(data, str) else None
    except binascii.Error:
        body = None
    if body is None:  # only an entry written by something else looks like this: drop it and fetch again
        raise BadResponse(f"The cached {what} is not base64 text.")
    return body


def fallback_note(name: str, exc: HexError) -> str:
    """One line saying which registry step failed for `name`, for an answer the API gave instead."""
    if isinstance(exc, RegistryError):
        return f"registry file {exc.subject} failed verification ({exc.step.replace('_', ' ')}); answered from the API"
    if isinstance(exc, PackageNotFound):
        return f"the registry has no file for {name}; answered from the API"
    return (
        f"registry file for {name} could not be fetched ({first_sentence(str(exc))}); answered from the API"
    )


async def _read_paste(deps: str) -> DepsInput:
    """The pasted deps, checked and read (a large paste off the event loop); unreadable text is `InvalidInput`."""
    text = validate.deps_text(deps)
    try:
        return await parse_deps_off_loop(text)
    except DepsInputError as exc:
        raise InvalidInput(f"deps could not be read: {exc}") from None


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
