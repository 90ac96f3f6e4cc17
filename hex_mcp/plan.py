"""The upgrade planner: what ``mix deps.update`` would do to a mix.lock, with Hex's semantics.

Pure logic over an in-memory view of the registry (``Index``): no HTTP, no cache, no MCP. Given the
lock, the app's own requirements and what to update, ``plan_update`` returns either a ``Plan`` (the
version changes, additions and removals the update would make) or a ``Conflict`` (the shortest chain
of requirements that cannot all hold, written for a model to act on). ``update_status`` answers the
narrower ``mix hex.outdated`` question: can this one package move to its latest stable release?

Resolver choice: pip's ``resolvelib`` rather than a hand-rolled solver or a PubGrub port. It is
maintained (pip and PDM ship it), has no dependencies, is typed, and lets the caller decide every
semantic question through its provider: which versions a requirement admits, in which order to try
them, what a candidate depends on. That is where Hex's rules go (Elixir's requirement ranges, stable
releases first, the lock as optional pins, optional dependencies, overrides). When no resolution
exists it raises ``ResolutionImpossible`` carrying the requirements that conflicted and who declared
each, which is exactly the material a short explanation needs. PubGrub (what hex_solver itself runs)
would explain conflicts too, but the pure-Python implementations on PyPI are unmaintained (mixology,
last released 2019) or pre-1.0 (versol 0.1, nab-resolver 0.0), and pubgrub-py is a compiled binding;
its derivation trees are also longer than the few lines a model needs. The price of resolvelib: it
backtracks instead of learning, so a pathological registry costs rounds, which the deadline, the
package bound and a round limit cap.

Hex semantics reproduced here, with where each fact comes from (hexpm/hex_solver and hexpm/hex):

* A requirement is a plain version range: ``~> 1.2`` is ``>= 1.2.0 and < 2.0.0-0``, ``~> 1.2.3`` is
  ``>= 1.2.3 and < 1.3.0-0`` (hex_solver ``lib/hex_solver/requirement.ex``, ``to_range``), and a range
  admits every version between its bounds, pre-releases included (``constraints/range.ex``,
  ``allows?`` compares plainly). That is ``Requirement.matches(..., allow_pre=True)`` here.
* Pre-releases are not filtered out; they are tried last. Candidates are ordered stable releases
  first, newest first, then pre-releases newest first (``constraints/version.ex``, ``prioritize``;
  ``test/hex_solver/solver_test.exs`` "prioritize stable versions"). So ``~> 1.0`` over 1.1.0 and
  1.2.0-dev picks 1.1.0, but a requirement only a pre-release satisfies gets the pre-release.
* Locked versions are optional dependencies of the root with the exact locked version as their
  constraint: they pin a package only while something still needs it (hex_solver ``lib/hex_solver.ex``
  docs, ``package_lister.ex`` ``$lock``). A package nothing needs any more drops out of the lock.
* What gets unlocked (hex ``lib/hex/remote_converger.ex``, ``prepare_locked``): the packages being
  updated, every top-level dependency whose mix.exs requirement no longer matches its locked version,
  and, transitively, the children the old lock records for any of those.
* Optional dependencies constrain a package only once something else selects it (hex_solver tests
  "skip single optional", "select optional", "locked optional conflicts").
* ``override: true`` on a top-level dependency makes the solver ignore every requirement on it that
  comes from a package; the app's own requirement and the lock still apply (``package_lister.ex``
  rejects labels in ``overrides`` unless the parent is ``$root``; CHANGELOG 0.2.1 "Do not override
  locked deps").
* Top-level dependencies are never optional for the app's own resolution: ``optional: true`` in
  mix.exs only matters to projects that depend on the app (remote_converger ``request_to_dependency``
  sends ``optional: false``).
* Retired releases are not avoided by the solver, only reported (remote_converger ``print_status``);
  the plan flags them, and releases with a security advisory, instead of skipping them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from resolvelib import AbstractProvider, BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver
from resolvelib.structs import RequirementInformation, State

from hex_mcp.versions import Requirement, Version, VersionError

__all__ = [
    "DEFAULT_DEADLINE_SECONDS",
    "DEFAULT_MAX_PACKAGES",
    "MAX_DEPS_PER_RELEASE",
    "MAX_VERSIONS_PER_PACKAGE",
    "Added",
    "AppRequirement",
    "Blocked",
    "Blocker",
    "Change",
    "Conflict",
    "Dep",
    "Flag",
    "Held",
    "Index",
    "LockedPackage",
    "NonHexDep",
    "Plan",
    "PlanInputError",
    "Possible",
    "Step",
    "plan_update",
    "update_status",
]

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_SECONDS = 10.0
DEFAULT_MAX_PACKAGES = 500
# Registry data is hostile until checked: a package with more releases, or a release with more
# dependencies, than any real one (phoenix has ~200 releases, the widest release ~40 deps) is refused.
MAX_VERSIONS_PER_PACKAGE = 5_000
MAX_DEPS_PER_RELEASE = 500
# resolvelib counts rounds, one per pin; real lock files resolve in well under a thousand.
_MAX_ROUNDS = 20_000

Source = Literal["mix.exs", "target", "mix.lock", "package", "non-hex"]


# ---------------------------------------------------------------------------------------------
# Input model


@dataclass(frozen=True, slots=True)
class Dep:
    """One dependency of a release, as the registry (or mix.lock) records it.

    ``package`` is the Hex package name; ``app`` the OTP application name it is known by, which is
    what ``override: true`` matches (empty means the same as ``package``).
    """

    package: str
    requirement: str
    optional: bool = False
    app: str = ""


class Index(Protocol):
    """Read access to the registry: one package's releases and each release's dependencies."""

    def versions(self, name: str) -> Sequence[str]:
        """Every release of ``name``; empty when hex.pm has no such package."""
        ...

    def dependencies(self, name: str, version: str) -> Sequence[Dep]: ...

    def retirement(self, name: str, version: str) -> str | None:
        """Why the release was retired (e.g. ``"security: CVE-..."``), or ``None``."""
        ...

    def has_advisory(self, name: str, version: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class LockedPackage:
    """One Hex entry of mix.lock: the locked version and the dependencies the lock records for it.

    ``dependencies`` is ``None`` for old lock files that did not record them; the index is asked then.
    """

    version: str
    dependencies: tuple[Dep, ...] | None = None


@dataclass(frozen=True, slots=True)
class AppRequirement:
    """A Hex dependency declared in the app's mix.exs.

    ``requirement`` ``None`` means no version requirement (Hex treats it as any version).
    ``optional`` is accepted for completeness but does not change the app's own resolution.
    """

    name: str
    requirement: str | None = None
    optional: bool = False
    override: bool = False
    app: str = ""


@dataclass(frozen=True, slots=True)
class NonHexDep:
    """A git or path dependency: never resolved against hex.pm, left as is and reported.

    Its own Hex dependencies (``dependencies``) still constrain the plan, as they do in Mix.
    """

    name: str
    kind: str = "git"
    dependencies: tuple[Dep, ...] = ()


# ---------------------------------------------------------------------------------------------
# Output model


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    old: str
    new: str
    why: str


@dataclass(frozen=True, slots=True)
class Added:
    name: str
    version: str
    why: str


@dataclass(frozen=True, slots=True)
class Flag:
    """A version the plan picks that deserves a second look: retired, or under a security advisory."""

    name: str
    version: str
    reason: str


@dataclass(frozen=True, slots=True)
class Held:
    """A package asked to update that stops short of its latest stable release, and what holds it."""

    name: str
    version: str
    latest: str
    because: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """What the update would do. ``incomplete_reason`` set: the search stopped early, and the
    changes are the tentative picks so far, not a finished plan."""

    changes: tuple[Change, ...] = ()
    added: tuple[Added, ...] = ()
    removed: tuple[str, ...] = ()
    flagged: tuple[Flag, ...] = ()
    held: tuple[Held, ...] = ()
    untouched_non_hex: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    incomplete_reason: str | None = None
    out_of_time: bool = False  # stopped by the deadline (not by the package bound or the round limit)


@dataclass(frozen=True, slots=True)
class Step:
    """One requirement in a conflict chain: ``holder`` (at ``holder_versions``) requires ``package``.

    For ``source="mix.lock"`` the requirement is the locked version itself.
    """

    source: Source
    holder: str
    holder_versions: tuple[str, ...]
    package: str
    requirement: str
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Conflict:
    chain: tuple[Step, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Possible:
    """The latest stable release satisfies every requirement on the package."""

    latest: str


@dataclass(frozen=True, slots=True)
class Blocker:
    requirement: str
    holder: str
    holder_version: str | None
    kind: Literal["locked", "mix.exs"]


@dataclass(frozen=True, slots=True)
class Blocked:
    latest: str
    blockers: tuple[Blocker, ...]


class PlanInputError(ValueError):
    """The request itself is wrong (unknown package to update, invalid requirement in mix.exs...)."""


# ---------------------------------------------------------------------------------------------
# Resolver plumbing


@dataclass(frozen=True, slots=True)
class _Req:
    name: str
    spec: Requirement | None  # None: any version (or, with ``invalid``, none at all)
    text: str
    optional: bool
    source: Source
    holder: str
    holder_version: str | None = None
    invalid: bool = False
    # The OTP application name the requirement is declared under: what `override: true` matches.
    app: str = field(default="", compare=False)

    def admits(self, version: Version | None) -> bool:
        if version is None:
            # The "not selected" candidate satisfies optional requirements only.
            return self.optional
        if self.invalid:
            return False
        # hex_solver ranges admit pre-releases between their bounds (constraints/range.ex allows?).
        return self.spec is None or self.spec.matches(version, allow_pre=True)


@dataclass(frozen=True, slots=True)
class _Cand:
    name: str
    version: str | None  # None: the package is left out of the resolution
    parsed: Version | None = field(default=None, compare=False, hash=False)


class _Stop(Exception):
    """The search hit a bound; carries the reason shown to the caller."""

    def __init__(self, reason: str, *, out_of_time: bool = False) -> None:
        super().__init__(reason)
        self.out_of_time = out_of_time


@dataclass(slots=True)
class _Budget:
    deadline: float
    max_packages: int
    clock: Callable[[], float]
    seen: set[str] = field(default_factory=set)

    def check_time(self) -> None:
        if self.clock() > self.deadline:
            raise _Stop("the time budget ran out before the search finished", out_of_time=True)

    def see(self, name: str) -> None:
        if name not in self.seen:
            self.seen.add(name)
            if len(self.seen) > self.max_packages:
                raise _Stop(f"the search reached more than {self.max_packages} packages")


def _parse_req(text: str | None) -> Requirement | None:
    return None if text is None else Requirement.parse(text)


def _dep_req(dep: Dep, holder: str, holder_version: str | None, source: Source) -> _Req:
    app = dep.app or dep.package
    try:
        spec = Requirement.parse(dep.requirement)
    except VersionError:
        # A broken requirement in registry data makes that release unusable rather than the plan fail.
        log.debug("%s %s: invalid requirement %r on %s", holder, holder_version, dep.requirement, dep.package)
        return _Req(
            dep.package, None, dep.requirement, dep.optional, source, holder, holder_version, True, app
        )
    return _Req(dep.package, spec, str(spec), dep.optional, source, holder, holder_version, app=app)


def _priority(version: Version) -> tuple[bool, Version]:
    # hex_solver constraints/version.ex prioritize/2: any stable release before any pre-release.
    return (not version.is_prerelease, version)


class _Provider(AbstractProvider[_Req, _Cand, str]):
    def __init__(self, index: Index, overridden: frozenset[str], budget: _Budget) -> None:
        self._index = index
        self._overridden = overridden
        self._budget = budget
        self._versions: dict[str, list[_Cand]] = {}
        self._deps: dict[tuple[str, str], list[_Req]] = {}

    def releases(self, name: str) -> list[_Cand]:
        cached = self._versions.get(name)
        if cached is not None:
            return cached
        self._budget.see(name)
        self._budget.check_time()
        texts = self._index.versions(name)
        if len(texts) > MAX_VERSIONS_PER_PACKAGE:
            raise _Stop(
                f"{name} lists {len(texts)} releases, more than the {MAX_VERSIONS_PER_PACKAGE} allowed"
            )
        parsed = [(v, t) for t in texts if (v := Version.try_parse(t)) is not None]
        parsed.sort(key=lambda item: _priority(item[0]), reverse=True)
        cands = [_Cand(name, t, v) for v, t in parsed]
        self._versions[name] = cands
        return cands

    def deps(self, name: str, version: str) -> list[_Req]:
        key = (name, version)
        cached = self._deps.get(key)
        if cached is not None:
            return cached
        self._budget.check_time()
        raw = self._index.dependencies(name, version)
        if len(raw) > MAX_DEPS_PER_RELEASE:
            raise _Stop(
                f"{name} {version} lists {len(raw)} dependencies, more than the {MAX_DEPS_PER_RELEASE} allowed"
            )
        reqs = [_dep_req(dep, name, version, "package") for dep in raw]
        self._deps[key] = reqs
        return reqs

    def cached_deps(self) -> Mapping[tuple[str, str], list[_Req]]:
        """The dependencies read so far, by (package, version)."""
        return self._deps

    def identify(self, requirement_or_candidate: _Req | _Cand) -> str:
        return requirement_or_candidate.name

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, _Cand],
        candidates: Mapping[str, Iterator[_Cand]],
        information: Mapping[str, Iterator[RequirementInformation[_Req, _Cand]]],
        backtrack_causes: Sequence[RequirementInformation[_Req, _Cand]],
    ) -> tuple[bool, int, str]:
        # hex_solver package_lister.ex pick_package/2: the package with the fewest allowed versions
        # first, so a conflict surfaces early; ties by name for a deterministic result. Packages in
        # the latest conflict go first, as resolvelib's own docs advise.
        in_conflict = any(cause.requirement.name == identifier for cause in backtrack_causes)
        return (not in_conflict, sum(1 for _ in candidates[identifier]), identifier)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[_Req]],
        incompatibilities: Mapping[str, Iterator[_Cand]],
    ) -> list[_Cand]:
        # Called every round: the deadline holds even when backtracking only revisits data already read.
        self._budget.check_time()
        reqs = list(requirements[identifier])
        excluded = {cand.version for cand in incompatibilities[identifier]}
        matches: list[_Cand] = []
        if all(req.optional for req in reqs) and None not in excluded:
            # Nothing needs the package yet: leaving it out is the first choice.
            matches.append(_Cand(identifier, None))
        for cand in self.releases(identifier):
            if cand.version not in excluded and all(req.admits(cand.parsed) for req in reqs):
                matches.append(cand)
        return matches

    def is_satisfied_by(self, requirement: _Req, candidate: _Cand) -> bool:
        return requirement.admits(candidate.parsed)

    def get_dependencies(self, candidate: _Cand) -> list[_Req]:
        if candidate.version is None:
            return []
        # Requirements from packages on an overridden app are dropped; the root's own stay.
        return [
            req for req in self.deps(candidate.name, candidate.version) if req.app not in self._overridden
        ]


class _Reporter(BaseReporter[_Req, _Cand, str]):
    """Keeps the latest tentative pins, reported when a bound stops the search."""

    def __init__(self) -> None:
        self.mapping: dict[str, _Cand] = {}

    def ending_round(self, index: int, state: State[_Req, _Cand, str]) -> None:
        self.mapping = dict(state.mapping)


# ---------------------------------------------------------------------------------------------
# Planning


def _lock_children(name: str, lock: Mapping[str, LockedPackage], index: Index) -> list[str]:
    entry = lock.get(name)
    if entry is None:
        return []
    deps = entry.dependencies
    if deps is None:
        deps = tuple(index.dependencies(name, entry.version))
    return [dep.package for dep in deps]


def _unlocked(
    requested: Sequence[str] | Literal["all"],
    targets: Mapping[str, str],
    lock: Mapping[str, LockedPackage],
    app: Sequence[AppRequirement],
    index: Index,
) -> dict[str, str]:
    """Which locked packages the update frees, each with why (remote_converger prepare_locked)."""
    if requested == "all":
        return dict.fromkeys(lock, "updated (all dependencies)")
    reasons: dict[str, str] = {}
    for name in requested:
        reasons.setdefault(name, "updated as requested")
    for name, req in targets.items():
        reasons[name] = f"target {req}"
    for dep in app:
        entry = lock.get(dep.name)
        if entry is None or dep.requirement is None or dep.name in reasons:
            continue
        version = Version.try_parse(entry.version)
        spec = _parse_req(dep.requirement)
        if version is None or spec is None or not spec.matches(version, allow_pre=True):
            reasons[dep.name] = (
                f"mix.exs requires {dep.requirement}, which the locked {entry.version} does not meet"
            )
    # The children the old lock records are unlocked along with their parent, transitively.
    queue = list(reasons)
    while queue:
        parent = queue.pop(0)
        for child in _lock_children(parent, lock, index):
            if child in lock and child not in reasons:
                reasons[child] = f"dependency of {parent}, unlocked with it"
                queue.append(child)
    return reasons


def _app_roots(lock: Mapping[str, LockedPackage], index: Index) -> list[AppRequirement]:
    """Without mix.exs, the top-level dependencies are the locked packages nothing else in the lock needs.

    An optional requirement does not count as a need: a package only another package's optional
    dependency names (finch under swoosh, bandit under phoenix) is in the lock because the app asked for it.
    """
    children: set[str] = set()
    for name, entry in lock.items():
        deps = entry.dependencies
        if deps is None:
            deps = tuple(index.dependencies(name, entry.version))
        children.update(dep.package for dep in deps if not dep.optional)
    return [AppRequirement(name) for name in sorted(lock) if name not in children]


def _root_reqs(
    app: Sequence[AppRequirement],
    targets: Mapping[str, str],
    non_hex: Sequence[NonHexDep],
    lock: Mapping[str, LockedPackage],
    unlocked: Mapping[str, str],
) -> list[_Req]:
    roots: list[_Req] = []
    declared = set()
    for dep in app:
        declared.add(dep.name)
        if dep.name in targets:
            text: str | None = targets[dep.name]
            source: Source = "target"
        else:
            text, source = dep.requirement, "mix.exs"
        try:
            spec = _parse_req(text)
        except VersionError as exc:
            where = "your target" if source == "target" else "mix.exs"
            raise PlanInputError(f"{where}: requirement on {dep.name}: {exc}. Fix it and ask again.") from exc
        roots.append(_Req(dep.name, spec, "" if spec is None else str(spec), False, source, "your " + source))
    for name, text in targets.items():
        if name in declared:
            continue
        try:
            spec = Requirement.parse(text)
        except VersionError as exc:
            raise PlanInputError(f"your target for {name}: {exc}. Fix it and ask again.") from exc
        roots.append(_Req(name, spec, str(spec), False, "target", "your target"))
    for other in non_hex:
        roots.extend(_dep_req(dep, other.name, None, "non-hex") for dep in other.dependencies)
    for name in sorted(lock):
        if name in unlocked:
            continue
        version = lock[name].version
        spec = Requirement.parse(f"== {version}") if Version.try_parse(version) else None
        roots.append(_Req(name, spec, version, True, "mix.lock", "mix.lock", invalid=spec is None))
    return roots


def plan_update(
    index: Index,
    lock: Mapping[str, LockedPackage],
    update: Sequence[str] | Literal["all"],
    *,
    app: Sequence[AppRequirement] | None = None,
    non_hex: Sequence[NonHexDep] = (),
    targets: Mapping[str, str] | None = None,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    max_packages: int = DEFAULT_MAX_PACKAGES,
    clock: Callable[[], float] = time.monotonic,
) -> Plan | Conflict:
    """What ``mix deps.update NAMES`` (or ``--all``) would change in ``lock``.

    ``app`` is the mix.exs's Hex dependencies; ``None`` when unknown, in which case the locked
    packages no other locked package needs are taken as top-level, with any version allowed.
    ``targets`` maps names to a requirement to aim for (``{"phoenix": "~> 1.8"}``), as if mix.exs
    said so; a target also marks the package for update. Raises ``PlanInputError`` for a request
    that cannot be planned at all (a name to update that is not a dependency, an invalid requirement).
    """
    targets = dict(targets or {})
    notes: list[str] = []
    non_hex_names = {dep.name for dep in non_hex}
    inferred = app is None
    if app is None:
        app = _app_roots(lock, index)
        notes.append(
            "mix.exs not given: top-level dependencies inferred from mix.lock, with any version allowed"
        )
    app = [dep for dep in app if dep.name not in non_hex_names]
    known = set(lock) | {dep.name for dep in app}
    if update != "all":
        unknown = [name for name in update if name not in known]
        if unknown:
            raise PlanInputError(
                f"not a Hex dependency in mix.lock or mix.exs: {', '.join(unknown)}. "
                "Check the names (package names, as in mix.lock), or give a target to add one."
            )
    unlocked = _unlocked(update, targets, lock, app, index)
    roots = _root_reqs(app, targets, non_hex, lock, unlocked)
    if inferred:
        # Without mix.exs the app's deps were read off the lock: say so rather than quote a mix.exs never seen.
        roots = [replace(r, holder="your app") if r.source == "mix.exs" else r for r in roots]
    overridden = frozenset((dep.app or dep.name) for dep in app if dep.override)

    budget = _Budget(clock() + deadline_seconds, max_packages, clock)
    provider = _Provider(index, overridden, budget)
    reporter = _Reporter()
    untouched = tuple(sorted(f"{dep.name} ({dep.kind})" for dep in non_hex))
    try:
        result = Resolver(provider, reporter).resolve(roots, max_rounds=_MAX_ROUNDS)
    except ResolutionImpossible as exc:
        return _conflict(list(exc.causes), roots, provider)
    except (_Stop, ResolutionTooDeep) as exc:
        reason = str(exc) if isinstance(exc, _Stop) else f"the resolver gave up after {_MAX_ROUNDS} rounds"
        partial = _summarize(
            reporter.mapping,
            lock,
            unlocked=unlocked,
            roots=roots,
            index=index,
            provider=provider,
            complete=False,
        )
        return Plan(
            changes=partial.changes,
            added=partial.added,
            flagged=partial.flagged,
            untouched_non_hex=untouched,
            notes=(*notes, "incomplete: the changes listed are tentative picks, not a finished plan"),
            incomplete_reason=f"{reason}; narrow the update to fewer packages or try again",
            out_of_time=isinstance(exc, _Stop) and exc.out_of_time,
        )
    summary = _summarize(
        result.mapping, lock, unlocked=unlocked, roots=roots, index=index, provider=provider, complete=True
    )
    held = _held(update, app, summary.solution, roots, provider)
    return Plan(
        changes=summary.changes,
        added=summary.added,
        removed=summary.removed,
        flagged=summary.flagged,
        held=held,
        untouched_non_hex=untouched,
        notes=tuple(notes),
    )


@dataclass(slots=True)
class _Summary:
    solution: dict[str, str]
    changes: tuple[Change, ...]
    added: tuple[Added, ...]
    removed: tuple[str, ...]
    flagged: tuple[Flag, ...]


def _summarize(
    mapping: Mapping[str, _Cand],
    lock: Mapping[str, LockedPackage],
    *,
    unlocked: Mapping[str, str],
    roots: Sequence[_Req],
    index: Index,
    provider: _Provider,
    complete: bool,
) -> _Summary:
    solution = {name: cand.version for name, cand in mapping.items() if cand.version is not None}
    changes = tuple(
        Change(name, lock[name].version, version, unlocked.get(name, "required by the new versions"))
        for name, version in sorted(solution.items())
        if name in lock and lock[name].version != version
    )
    added = tuple(
        Added(name, version, _why_added(name, solution, roots, provider))
        for name, version in sorted(solution.items())
        if name not in lock
    )
    removed = tuple(sorted(name for name in lock if name not in solution)) if complete else ()
    flagged: list[Flag] = []
    for name, version in [(c.name, c.new) for c in changes] + [(a.name, a.version) for a in added]:
        retired = index.retirement(name, version)
        if retired:
            flagged.append(Flag(name, version, f"retired: {retired}"))
        if index.has_advisory(name, version):
            flagged.append(Flag(name, version, "has a security advisory"))
    return _Summary(solution, changes, added, removed, tuple(flagged))


def _why_added(name: str, solution: Mapping[str, str], roots: Sequence[_Req], provider: _Provider) -> str:
    for root in roots:
        if root.name == name and not root.optional:
            return f"{root.holder} requires {root.text or 'it'}"
    for parent, version in sorted(solution.items()):
        for req in provider.deps(parent, version):
            if req.name == name:
                return f"required by {parent} {version} ({req.text})"
    return "required by the new versions"


def _held(
    update: Sequence[str] | Literal["all"],
    app: Sequence[AppRequirement],
    solution: Mapping[str, str],
    roots: Sequence[_Req],
    provider: _Provider,
) -> tuple[Held, ...]:
    """For each package asked to update that stays below its latest stable release: what holds it."""
    names = [dep.name for dep in app] if update == "all" else list(update)
    held: list[Held] = []
    for name in sorted(set(names)):
        version = solution.get(name)
        if version is None:
            continue
        stable = [c for c in provider.releases(name) if c.parsed is not None and not c.parsed.is_prerelease]
        if not stable or stable[0].version == version:
            continue
        latest = stable[0]
        current = Version.try_parse(version)
        if current is not None and latest.parsed is not None and current >= latest.parsed:
            continue
        because = [
            f"{root.holder}{' (not from Hex)' if root.source == 'non-hex' else ''} requires {root.text}"
            for root in roots
            if root.name == name and not root.optional and not root.admits(latest.parsed)
        ]
        for parent, parent_version in sorted(solution.items()):
            for req in provider.get_dependencies(_Cand(parent, parent_version)):
                if req.name == name and not req.admits(latest.parsed):
                    because.append(f"{parent} {parent_version} requires {req.text}")
        if not because:
            # Nothing names the package directly: its newer releases need something the rest cannot give.
            because.append(
                f"newer {name} releases need versions that conflict with the rest of the plan; "
                f"plan again with the target {name} >= {latest.parsed} to see the conflict"
            )
        held.append(Held(name, version, str(latest.parsed), tuple(because)))
    return tuple(held)


# ---------------------------------------------------------------------------------------------
# Conflict explanations


_MAX_PATH = 6


def _path_to(name: str, roots: Sequence[_Req], provider: _Provider) -> list[Step]:
    """The shortest chain of non-optional requirements from the app to ``name``, over what the search read.

    Breadth-first from the app's own requirements through the dependencies fetched so far; at most
    ``_MAX_PATH`` steps, so a long chain is cut rather than listed in full.
    """
    firsts = {root.name: root for root in roots if not root.optional}
    if name in firsts:
        root = firsts[name]
        return [Step(root.source, root.holder, (), root.name, root.text)]
    # parent name -> child name -> (requirement text -> parent versions declaring it)
    edges: dict[str, dict[str, dict[str, list[str]]]] = {}
    for (parent, version), reqs in provider.cached_deps().items():
        for req in reqs:
            if not req.optional:
                edges.setdefault(parent, {}).setdefault(req.name, {}).setdefault(req.text, []).append(version)
    came_from: dict[str, str] = {}
    frontier = sorted(firsts)
    seen = set(frontier)
    for _ in range(_MAX_PATH):
        next_frontier: list[str] = []
        for parent in frontier:
            for child in sorted(edges.get(parent, {})):
                if child not in seen:
                    seen.add(child)
                    came_from[child] = parent
                    next_frontier.append(child)
        if name in came_from:
            break
        frontier = next_frontier
    if name not in came_from:
        return []
    path: list[Step] = []
    child = name
    while child in came_from:
        parent = came_from[child]
        # The requirement most parent versions declare stands for them all.
        text, versions = max(edges[parent][child].items(), key=lambda item: len(item[1]))
        path.append(Step("package", parent, tuple(versions), child, text))
        child = parent
    root = firsts[child]
    path.append(Step(root.source, root.holder, (), root.name, root.text))
    return path[::-1]


def _versions_label(versions: Sequence[str]) -> str:
    ordered = sorted(versions, key=lambda v: Version.try_parse(v) or Version(0, 0, 0))
    if len(ordered) <= 3:
        return ", ".join(ordered)
    return f"{ordered[0]} to {ordered[-1]} ({len(ordered)} versions)"


def _step_text(step: Step) -> str:
    if step.source == "mix.lock":
        return f"mix.lock keeps {step.package} at {step.requirement}"
    requirement = step.requirement or "any version"
    optional = " (optional)" if step.optional else ""
    if step.source in ("mix.exs", "target"):
        return f"{step.holder} requires {step.package} {requirement}"
    if step.source == "non-hex":
        return f"{step.holder} (not from Hex) requires {step.package} {requirement}{optional}"
    verb = "requires" if len(step.holder_versions) == 1 else "require"
    return (
        f"{step.holder} {_versions_label(step.holder_versions)} {verb} {step.package} {requirement}{optional}"
    )


def _conflict(
    causes: Sequence[RequirementInformation[_Req, _Cand]], roots: Sequence[_Req], provider: _Provider
) -> Conflict:
    # Collapse the versions of one parent that declare the same requirement into one step.
    grouped: dict[tuple[Source, str, str, str, bool], list[str]] = {}
    for cause in causes:
        req = cause.requirement
        key = (req.source, req.holder, req.name, req.text, req.optional)
        versions = grouped.setdefault(key, [])
        if req.holder_version is not None and req.holder_version not in versions:
            versions.append(req.holder_version)
    package_steps: list[Step] = []
    root_steps: list[Step] = []
    for (source, holder, name, text, optional), versions in grouped.items():
        step = Step(source, holder, tuple(versions), name, text, optional)
        (package_steps if source == "package" else root_steps).append(step)
    # Why each parent package is in play at all: the shortest path of requirements from the app to it.
    lead: list[Step] = []
    for step in package_steps:
        for reason in _path_to(step.holder, roots, provider):
            if reason not in lead:
                lead.append(reason)
    conflicted = sorted({cause.requirement.name for cause in causes})
    chain = tuple(lead + package_steps + root_steps)
    return Conflict(chain, _conflict_text(chain, conflicted, provider))


def _step_spec(step: Step) -> Requirement | None:
    text = f"== {step.requirement}" if step.source == "mix.lock" else step.requirement
    try:
        return Requirement.parse(text) if text else None
    except VersionError:
        return None


def _culprits(direct: Sequence[Step], provider: _Provider) -> list[Step]:
    """The requirements whose removal alone would let some release through: the ones worth changing."""
    found: list[Step] = []
    for step in direct:
        others = [_step_spec(other) for other in direct if other is not step]
        for cand in provider.releases(step.package):
            if cand.parsed is not None and all(
                spec is None or spec.matches(cand.parsed, allow_pre=True) for spec in others
            ):
                found.append(step)
                break
    return found or list(direct)


def _conflict_text(chain: Sequence[Step], conflicted: Sequence[str], provider: _Provider) -> str:
    names = ", ".join(conflicted)
    lines: list[str]
    direct = [step for step in chain if step.package in conflicted]
    if len(direct) == 1:
        # A single requirement nothing satisfies: the package or the version does not exist.
        step = direct[0]
        releases = provider.releases(step.package)
        if not releases:
            lines = [f"No plan: {step.package} is not a package on hex.pm ({_step_text(step)})."]
            hint = f"check the spelling of {step.package}, or drop it"
        else:
            newest = releases[0].version
            lines = [f"No plan: {_step_text(step)}, but no release matches (newest stable: {newest})."]
            hint = "relax that requirement"
        return "\n".join([*lines, f"Next: {hint}."])
    lines = [f"No plan: no version of {names} satisfies every requirement on it:"]
    lines += [f"- {_step_text(step)}" for step in chain]
    hints: list[str] = []
    sources = {step.source for step in _culprits(direct, provider)}
    if "mix.lock" in sources:
        pinned = sorted({step.package for step in direct if step.source == "mix.lock"})
        hints.append(f"update {', '.join(pinned)} too (mix deps.update {' '.join(pinned)})")
    if "mix.exs" in sources:
        hints.append(f"change the requirement on {names} in mix.exs")
    if "target" in sources:
        hints.append(f"aim for a different {names} target")
    if "package" in sources or "non-hex" in sources:
        first = next(step for step in direct if step.source in ("package", "non-hex"))
        hints.append(
            f"update {first.holder} to a release that allows another {first.package}, or, only if you know "
            f'they work together, add {{:{first.package}, "...", override: true}} to mix.exs'
        )
    lines.append("Next: " + "; or ".join(hints) + ".")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# mix hex.outdated


def update_status(
    name: str,
    latest_stable: str,
    lock: Mapping[str, LockedPackage],
    app_reqs: Sequence[AppRequirement],
    index: Index | None = None,
) -> Possible | Blocked:
    """Whether ``name`` can move to ``latest_stable`` without touching anything else.

    hex ``lib/mix/tasks/hex.outdated.ex``: the requirements on a dependency are the app's own
    (``get_requirements_from_deps``) plus every locked package whose recorded dependencies name it
    (``get_requirements_from_lock``); "Update possible" when the latest version matches all of them
    (``req_matches?``, a missing requirement always matches). Two refinements from the solver's view:
    an optional requirement counts only when something requires the package non-optionally (otherwise
    the solver skips it), and package requirements on a dependency the app overrides do not count.
    Lock entries without recorded dependencies are looked up in ``index`` when one is given.
    """
    latest = Version.parse(latest_stable)
    overridden = any(dep.name == name and dep.override for dep in app_reqs)
    candidates: list[tuple[Blocker, bool, Requirement | None]] = []
    for dep in app_reqs:
        if dep.name == name and dep.requirement is not None:
            blocker = Blocker(dep.requirement, "mix.exs", None, "mix.exs")
            candidates.append((blocker, False, _safe_parse(dep.requirement)))
    if not overridden:
        for holder in sorted(lock):
            entry = lock[holder]
            deps: Iterable[Dep] | None = entry.dependencies
            if deps is None and index is not None:
                deps = index.dependencies(holder, entry.version)
            for held_dep in deps or ():
                if held_dep.package == name:
                    blocker = Blocker(held_dep.requirement, holder, entry.version, "locked")
                    candidates.append((blocker, held_dep.optional, _safe_parse(held_dep.requirement)))
    needed = any(dep.name == name for dep in app_reqs) or any(not optional for _, optional, _ in candidates)
    blockers = tuple(
        blocker
        for blocker, optional, spec in candidates
        if (needed or not optional) and (spec is None or not spec.matches(latest, allow_pre=True))
    )
    return Blocked(latest_stable, blockers) if blockers else Possible(latest_stable)


def _safe_parse(text: str) -> Requirement | None:
    # An unparseable requirement blocks: Hex would refuse the lock rather than update past it.
    try:
        return Requirement.parse(text)
    except VersionError:
        return None
