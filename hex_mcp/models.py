"""The domain model both backends map into, and the views the tools return as structured content.

Domain models (`Package`, `Release`, `SearchPage`, ...) hold what a backend knows. Data only one backend has is
optional: `None` means "this backend does not expose it", which the text output says rather than implying "none".
View models (`*View`) are what a tool returns: already bounded, with a `Freshness` stamp; the formatters in
`hex_mcp.render` render exactly these.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from hex_mcp.deps_input import SkipKind
from hex_mcp.deps_input import Source as InputFormat
from hex_mcp.versions import UpdateKind

BackendName = Literal["hexpm", "oanor"]
BACKEND_NAMES: tuple[BackendName, ...] = ("hexpm", "oanor")


def _serialized_only(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """A field excluded from serialization (kept for the text answer only) is not in the structured content, so it
    is not in the schema either. What else a published schema leaves out is `hex_mcp.tool_schemas`' business."""
    hidden = {name for name, field in cls.model_fields.items() if field.exclude}
    properties = schema.get("properties", {})
    for name in hidden:
        properties.pop(name, None)
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in hidden]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_extra=_serialized_only)


class Downloads(_Model):
    """Download counts; a window with no downloads is missing upstream and None here."""

    all: int | None = None
    recent: int | None = Field(default=None, description="last 90 days")
    week: int | None = None
    day: int | None = None


class Retirement(_Model):
    """Why a release was retired (hex.pm reasons: other, invalid, security, deprecated, renamed)."""

    reason: str
    message: str | None = None


class Advisory(_Model):
    """A security advisory as hex.pm publishes it."""

    id: str
    summary: str | None = None
    severity: str | None = Field(default=None, description="none, low, medium, high or critical")
    score: float | None = None
    affected: list[str] = Field(default_factory=list, description="affected version requirements")
    aliases: list[str] = Field(default_factory=list)
    url: str | None = None
    published: str | None = Field(default=None, description="YYYY-MM-DD")


class ReleaseRef(_Model):
    """One entry of a package's release list."""

    version: str
    published: str | None = Field(default=None, description="YYYY-MM-DD")
    has_docs: bool | None = None
    retirement: Retirement | None = None


class Package(_Model):
    """A package as a backend describes it."""

    name: str
    description: str | None = None
    licenses: list[str] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)
    owners: list[str] | None = None
    downloads: Downloads = Field(default_factory=Downloads)
    upstream_latest: str | None = Field(default=None, description="the upstream's own newest version")
    upstream_latest_stable: str | None = Field(
        default=None,
        description="the upstream's own pick (ignores retirement; missing from older documents): "
        "use hex_mcp.resolve.latest_stable",
    )
    releases: list[ReleaseRef] = Field(default_factory=list, description="newest first by SemVer")
    release_count: int | None = None
    releases_complete: bool = Field(default=True, description="False when only recent releases are known")
    retirements_known: bool = Field(default=True, description="False when the backend does not expose them")
    advisories: list[Advisory] | None = Field(
        default=None, description="None: not available via this backend"
    )
    inserted_at: str | None = None
    updated_at: str | None = None
    html_url: str | None = None
    docs_url: str | None = None
    mix_snippet: str | None = None
    rebar_snippet: str | None = None


class Dependency(_Model):
    name: str
    requirement: str
    optional: bool = False
    app: str | None = None


class Release(_Model):
    """One release with its dependencies and build facts."""

    package: str
    version: str
    published: str | None = None
    checksum: str | None = None
    elixir_requirement: str | None = None
    build_tools: list[str] = Field(default_factory=list)
    dependencies: list[Dependency] = Field(default_factory=list)
    downloads: int | None = None
    has_docs: bool | None = None
    retirement: Retirement | None = None
    retirement_known: bool = True
    advisories: list[Advisory] | None = None
    publisher: str | None = None
    html_url: str | None = None
    docs_url: str | None = None
    mix_snippet: str | None = None


class SearchHit(_Model):
    name: str
    description: str | None = None
    latest_version: str | None = None
    latest_stable_version: str | None = None
    downloads_all: int | None = None
    downloads_recent: int | None = None
    updated: str | None = Field(default=None, description="YYYY-MM-DD of the last publish or retirement")
    latest_retired: bool | None = None
    html_url: str | None = None


class SearchPage(_Model):
    query: str
    page: int
    limit: int
    sort: str | None = Field(description="None when the backend cannot sort")
    hits: list[SearchHit]
    has_more: bool


class GatewayMeta(_Model):
    source: str | None = None
    note: str | None = None
    endpoints: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# Views returned by the tools


class Freshness(_Model):
    """Where an answer came from and how old it is."""

    source: BackendName
    fetched_at: str = Field(description="ISO-8601 UTC, when it left upstream")
    age_seconds: int
    from_cache: bool
    stale_reason: str | None = Field(default=None, description="why a stale answer stood in")
    registry: bool = Field(default=False, description="from the signed Hex registry")
    note: str | None = None


class PackageView(_Model):
    name: str
    description: str | None
    description_truncated: bool = False
    licenses: list[str]
    links: dict[str, str]
    owners: list[str] | None
    downloads: Downloads
    latest_stable_version: str | None
    latest_prerelease: str | None = Field(description="a pre-release newer than the latest stable, if any")
    release_count: int | None
    recent_releases: list[ReleaseRef]
    retired_count: int | None = Field(description="retired releases; None when the backend does not say")
    advisories: list[Advisory] | None
    inserted: str | None
    updated: str | None
    html_url: str | None
    docs_url: str | None
    mix_snippet: str | None
    rebar_snippet: str | None
    freshness: Freshness


class ReleasesView(_Model):
    name: str
    total: int
    shown: int
    latest_stable_version: str | None
    latest_prerelease: str | None
    requirement: str | None = None
    highest_match: str | None = Field(
        default=None, description="highest non-retired release matching requirement"
    )
    matching: int | None = Field(default=None, description="releases matching requirement")
    include_prereleases: bool = False
    retirements_known: bool
    releases: list[ReleaseRef]
    freshness: Freshness


class ReleaseView(_Model):
    release: Release
    requested: str | None = Field(default=None, description="what the caller asked for, when it was resolved")
    latest_stable_version: str | None = None
    skipped_retired: str | None = Field(
        default=None, description="a newer stable release passed over because it is retired"
    )
    freshness: Freshness


class SearchView(_Model):
    query: str
    page: int
    limit: int
    sort: str | None
    sort_note: str | None = None
    hits: list[SearchHit]
    has_more: bool
    freshness: Freshness


class RateLimitInfo(_Model):
    limit: int | None = None
    remaining: int | None = None
    reset: str | None = Field(default=None, description="ISO-8601 UTC")


class MetaView(_Model):
    server_version: str
    backend: BackendName
    base_url: str
    key_configured: bool
    offline: bool
    cache_dir: str | None
    cache_entries: int | None
    cache_size_bytes: int | None
    hit_ratio: float | None = Field(description="this process; None before any lookup")
    upstream_calls_month: int
    monthly_quota: int | None
    rate_limit: RateLimitInfo | None
    ttls: dict[str, int]
    gateway: GatewayMeta | None = None
    gateway_error: str | None = None
    registry_mode: Literal["auto", "off", "only"] = "off"
    repo_url: str | None = None
    registry_fetched: int = Field(default=0, description="registry files downloaded by this process")
    registry_revalidated: int = Field(default=0, description="registry files a 304 confirmed unchanged")
    registry_failed: int = Field(default=0, description="registry files that failed verification")
    tarballs_fetched: int = Field(default=0, description="release tarballs downloaded for changelogs")
    tarballs_rejected: int = Field(default=0, description="of those, refused: checksum or a read bound")
    store: str | None = Field(default=None, description="the shared Redis store and its state; None: none")


# ---------------------------------------------------------------------------------------------------------------
# Upgrade assistant views


class DepChange(_Model):
    """A dependency present at both ends of a diff whose requirement or optional flag changed."""

    name: str
    from_requirement: str
    to_requirement: str
    from_optional: bool
    to_optional: bool


class ChangelogSection(_Model):
    """One release's changelog entry as shown; `text` may end with a "[+N lines not shown]" marker."""

    version: str
    date: str | None = Field(default=None, description="YYYY-MM-DD")
    text: str
    complete: bool


ChangelogStatus = Literal["shown", "empty_range", "no_sections", "unavailable"]


class ChangelogView(_Model):
    """The changelog entries between two releases, read from the newer release's verified tarball."""

    status: ChangelogStatus = Field(description="not 'shown': see note")
    file: str | None = Field(default=None, description="path in the package")
    read_from: str = Field(description="the release whose tarball was read")
    after: str = Field(description="entries after this release are shown")
    sections: list[ChangelogSection] = Field(default_factory=list, description="newest first")
    omitted: list[str] = Field(default_factory=list, description="versions in range not shown")
    complete: bool = True
    full_tokens: int | None = Field(default=None, description="the max_tokens that shows all")
    older: str | None = Field(default=None, description="newest entry past the 200 considered")
    max_tokens: int
    # What the text answer shows (entries, markers, cut note); the sections above carry the same entries, so it is
    # left out of structured content rather than sent twice.
    text: str = Field(default="", exclude=True)
    note: str | None = Field(default=None, description="why nothing is shown, when status is not 'shown'")
    link: str | None = Field(default=None, description="where to read the changelog instead")
    link_label: str | None = Field(default=None, exclude=True)  # the text names the link; the data has it


class DiffView(_Model):
    name: str
    from_version: str
    to_version: str
    # The caller's own arguments, the diff.hex.pm link built from name and versions, and whether build facts
    # were readable serve the text answer; structured content leaves them out (a program has or derives them).
    from_requested: str | None = Field(default=None, exclude=True)
    to_requested: str | None = Field(default=None, exclude=True)
    direction: Literal["upgrade", "downgrade"]
    update_kind: UpdateKind
    from_published: str | None
    to_published: str | None
    latest_stable_version: str | None
    releases_between: int | None = Field(description="null: unknown")
    prereleases_between: int | None
    retired_between: int | None = Field(description="null: unknown")
    deps_added: list[Dependency]
    deps_removed: list[Dependency]
    deps_changed: list[DepChange]
    deps_unchanged: int
    elixir_from: str | None
    elixir_to: str | None
    build_tools_from: list[str]
    build_tools_to: list[str]
    build_facts_known: bool = Field(default=True, exclude=True)
    retirements_known: bool
    from_retirement: Retirement | None
    to_retirement: Retirement | None
    advisories_known: bool
    advisories_fixed: list[Advisory] = Field(description="affect only from_version")
    advisories_introduced: list[Advisory] = Field(description="affect only to_version")
    advisories_unfixed: list[Advisory] = Field(description="affect both")
    diff_url: str = Field(default="", exclude=True)  # a default: the SDK re-validates the content it sends
    changelog: ChangelogView | None = Field(default=None, description="changelog entries in the range")
    freshness: Freshness


# In display order: problems first, then how big the available step is.
OutdatedStatus = Literal[
    "vulnerable",
    "retired",
    "unpublished",
    "major",
    "minor",
    "patch",
    "unresolved",
    "current",
    "not_found",
    "error",
]
# The statuses in that order, for summaries and sorting.
OUTDATED_ORDER: tuple[OutdatedStatus, ...] = get_args(OutdatedStatus)


class OutdatedRow(_Model):
    """One dependency of a `hex_outdated` check; `checked` is the version the checks applied to."""

    name: str
    app: str | None = Field(default=None, description="OTP app name when it differs from the package name")
    status: OutdatedStatus
    current: str | None = Field(default=None, description="locked or pinned version from the input")
    requirement: str | None = Field(default=None, description="declared requirement from the input")
    checked: str | None = Field(default=None, description="current, else the highest match of requirement")
    latest_stable: str | None = None
    highest_in_requirement: str | None = None
    update: UpdateKind = Field(default="", description="step from checked to latest stable")
    retirement: Retirement | None = Field(default=None, description="retirement of the checked version")
    advisories: list[Advisory] | None = Field(
        default=None, description="advisories affecting the checked version; None: the backend has none"
    )
    fixed_in: str | None = Field(
        default=None, description="lowest newer stable, non-retired release that no known advisory affects"
    )
    note: str | None = None
    update_possible: bool | None = Field(
        default=None,
        description="whether latest stable meets every requirement on it (mix.lock deps lists, mix.exs); "
        "None: not judged (no update, or the paste holds no requirements)",
    )
    blocked_by: list[str] = Field(
        default_factory=list, description="the requirements latest stable fails, with who holds each"
    )


class SkippedDepView(_Model):
    name: str
    reason: str
    kind: SkipKind = Field(
        default="not_public",
        description="not_public (git, path, private), unreadable, or limit (not checked)",
    )


class OutdatedView(_Model):
    input_format: InputFormat = Field(description="mix.lock, mix.exs or lines")
    source: BackendName = Field(description="backend: hexpm or oanor")
    checked: int = Field(description="dependencies looked up on Hex")
    counts: dict[str, int] = Field(description="rows per status")
    rows: list[OutdatedRow] = Field(description="problems first, in the order of OUTDATED_ORDER")
    skipped: list[SkippedDepView]
    retirements_known: bool
    advisories_known: bool
    live_lookups: int
    cached_lookups: int
    freshness: Freshness | None = Field(description="the oldest answer used; None when every lookup failed")


class PlanChange(_Model):
    name: str
    old: str
    new: str
    why: str


class PlanAdded(_Model):
    name: str
    version: str
    why: str


class PlanFlag(_Model):
    name: str
    version: str
    reason: str = Field(description="retired (with why) or has a security advisory")


class PlanHeld(_Model):
    name: str
    version: str
    latest: str = Field(description="latest stable release, which the plan could not reach")
    because: list[str]


PlanOutcomeKind = Literal["plan", "conflict", "incomplete"]


class PlanView(_Model):
    """What `mix deps.update` would do: a plan, the conflict that prevents one, or why the search stopped."""

    input_format: InputFormat
    update: list[str] = Field(description="the packages asked to update; ['all'] for every one")
    targets: dict[str, str] = Field(description="target requirements, by package")
    outcome: PlanOutcomeKind
    locked: int = Field(description="Hex packages in the pasted lock")
    changes: list[PlanChange] = Field(default_factory=list)
    added: list[PlanAdded] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    flagged: list[PlanFlag] = Field(default_factory=list)
    held: list[PlanHeld] = Field(default_factory=list)
    untouched: list[str] = Field(default_factory=list, description="git, path and private deps, left alone")
    notes: list[str] = Field(default_factory=list)
    conflict: str | None = Field(default=None, description="why no plan exists, and what to do next")
    incomplete: str | None = Field(default=None, description="why the search stopped before a full plan")
    packages_read: int = Field(description="registry files read")
    freshness: Freshness | None = Field(description="the oldest registry file used; None when none was read")
