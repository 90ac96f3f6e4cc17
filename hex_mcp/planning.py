"""Registry data for the planner: the graph's registry files, fetched in parallel, bounded, then solved.

The planner (``hex_mcp.plan``) is synchronous and reads an ``Index``; this module fills one. Every package
the graph can reach is one signed registry file (``/packages/NAME``), fetched through the service's
registry fetcher (so cached, single-flighted and verified), at most ``PLAN_CONCURRENCY`` at a time.
What to fetch is guessed ahead (the lock, the app's deps, and the dependencies of the releases a plan
can pick), and when the resolver still asks for a package not read yet the index raises ``_Missing``,
the package is fetched and the plan runs again. A deadline (default 10 s) and a package count bound
the whole: past either, the answer says so and shows what was found.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from hex_mcp.errors import HexError, PackageNotFound
from hex_mcp.fetch import Fetched
from hex_mcp.from_registry import find_release
from hex_mcp.models import Freshness, PlanAdded, PlanChange, PlanFlag, PlanHeld, PlanView
from hex_mcp.plan import (
    DEFAULT_DEADLINE_SECONDS,
    Conflict,
    Dep,
    Plan,
    plan_update,
)
from hex_mcp.plan_input import PlanRequest
from hex_mcp.registry import RegistryPackage
from hex_mcp.text import first_sentence
from hex_mcp.upgrade import combined_freshness
from hex_mcp.versions import Version

if TYPE_CHECKING:
    from collections.abc import Awaitable

log = logging.getLogger(__name__)

PLAN_CONCURRENCY = 8  # registry files in flight per plan: the CDN is not rate limited, but stay polite
INLINE_SOLVE_SECONDS = 0.02  # the longest a solve may hold the event loop before it moves to a thread
# Releases of a package not in the lock whose dependencies are fetched ahead (newest first).
_AHEAD = 8


class _Missing(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(slots=True)
class RegistryIndex:
    """The planner's ``Index`` over verified registry files held in memory."""

    packages: dict[str, RegistryPackage] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)  # no such package on hex.pm

    def _package(self, name: str) -> RegistryPackage | None:
        if name in self.absent:
            return None
        pkg = self.packages.get(name)
        if pkg is None:
            raise _Missing(name)
        return pkg

    def versions(self, name: str) -> Sequence[str]:
        pkg = self._package(name)
        return [rel.version for rel in pkg.releases] if pkg is not None else []

    def dependencies(self, name: str, version: str) -> Sequence[Dep]:
        pkg = self._package(name)
        rel = find_release(pkg, version) if pkg is not None else None
        if rel is None:
            return []
        # A dependency from another repository (an organization's) is not on public Hex: it cannot be solved here.
        return [
            Dep(d.package, d.requirement, d.optional, d.app if d.app != d.package else "")
            for d in rel.dependencies
            if d.repository is None or d.repository == "hexpm"
        ]

    def retirement(self, name: str, version: str) -> str | None:
        pkg = self._package(name)
        rel = find_release(pkg, version) if pkg is not None else None
        if rel is None or rel.retirement is None:
            return None
        message = f" ({rel.retirement.message})" if rel.retirement.message else ""
        return f"{rel.retirement.reason}{message}"

    def has_advisory(self, name: str, version: str) -> bool:
        pkg = self._package(name)
        rel = find_release(pkg, version) if pkg is not None else None
        return rel is not None and bool(rel.advisory_indexes)


@dataclass(slots=True)
class Gathered:
    """What the registry reads produced, and why they stopped early (``stopped``) if they did."""

    index: RegistryIndex
    freshness: list[Freshness] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None
    rounds: int = 0


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    result: Plan | Conflict | None  # None: the registry reads stopped before a plan could be made
    gathered: Gathered


def _ahead(pkg: RegistryPackage, locked: str | None) -> set[str]:
    """The packages the releases a plan may pick depend on: those at or above the locked version, or the
    newest few when nothing is locked."""
    floor = Version.try_parse(locked) if locked else None
    parsed = [(v, rel) for rel in pkg.releases if (v := Version.try_parse(rel.version)) is not None]
    parsed.sort(key=lambda item: item[0], reverse=True)
    chosen = (
        [rel for v, rel in parsed if v >= floor] if floor is not None else [rel for _, rel in parsed[:_AHEAD]]
    )
    return {d.package for rel in chosen for d in rel.dependencies if d.repository in (None, "hexpm")}


async def gather(
    fetch: Callable[[str], Awaitable[Fetched[RegistryPackage]]],
    gathered: Gathered,
    seeds: Iterable[str],
    locked: dict[str, str],
    *,
    deadline: float,
    max_packages: int,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Fetch ``seeds`` and what they reach into ``gathered``, in parallel, until done or a bound is hit."""
    index = gathered.index
    queued = set(index.packages) | index.absent | set(gathered.failed)
    pending = [name for name in dict.fromkeys(seeds) if name not in queued]
    limiter = anyio.CapacityLimiter(PLAN_CONCURRENCY)

    async def one(name: str, tg: anyio.abc.TaskGroup) -> None:
        async with limiter:
            try:
                fetched = await fetch(name)
            except PackageNotFound:
                index.absent.add(name)
                return
            except HexError as exc:
                gathered.failed[name] = first_sentence(str(exc))
                return
        index.packages[name] = fetched.value
        gathered.freshness.append(fetched.freshness)
        for child in sorted(_ahead(fetched.value, locked.get(name))):
            enqueue(child, tg)

    def enqueue(name: str, tg: anyio.abc.TaskGroup) -> None:
        if name in queued or gathered.stopped:
            return
        if len(queued) >= max_packages:
            gathered.stopped = f"the dependency graph reaches more than {max_packages} packages"
            return
        queued.add(name)
        tg.start_soon(one, name, tg)

    with anyio.move_on_after(max(deadline - clock(), 0)) as scope:
        async with anyio.create_task_group() as tg:
            for name in pending:
                enqueue(name, tg)
    if scope.cancelled_caught:
        gathered.stopped = gathered.stopped or "the deadline passed before every registry file was read"


async def make_plan(
    fetch: Callable[[str], Awaitable[Fetched[RegistryPackage]]],
    request: PlanRequest,
    *,
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    max_packages: int,
    clock: Callable[[], float] = time.monotonic,
) -> PlanOutcome:
    """Read the registry files the plan needs, then plan; again with more files while the resolver asks for one."""
    deadline = clock() + deadline_seconds
    gathered = Gathered(RegistryIndex())
    locked = {name: entry.version for name, entry in request.lock.items()}
    seeds: list[str] = [*request.lock, *(dep.name for dep in request.app or ()), *request.targets]
    seeds += [dep.package for other in request.non_hex for dep in other.dependencies]
    while True:
        gathered.rounds += 1
        await gather(
            fetch, gathered, seeds, locked, deadline=deadline, max_packages=max_packages, clock=clock
        )
        if gathered.stopped or gathered.failed:
            return PlanOutcome(None, gathered)
        try:
            # Most plans solve in a few milliseconds: try in place, where a thread hop would cost more than the
            # solve, and hand a search that needs longer to a thread with the time that is left.
            first = min(INLINE_SOLVE_SECONDS, max(deadline - clock(), 0.0))
            result = _solve(request, gathered.index, first)
            if isinstance(result, Plan) and result.out_of_time and deadline - clock() > 0:
                result = await anyio.to_thread.run_sync(_solve, request, gathered.index, deadline - clock())
        except _Missing as missing:
            log.debug("plan needs %s, not read yet", missing.name)
            seeds = [missing.name]
            continue
        return PlanOutcome(result, gathered)


def _solve(request: PlanRequest, index: RegistryIndex, seconds: float) -> Plan | Conflict:
    return plan_update(
        index,
        request.lock,
        request.update,
        app=request.app,
        non_hex=request.non_hex,
        targets=request.targets,
        deadline_seconds=max(seconds, 0.0),
    )


_FOUND_SHOWN = 10


def _found_so_far(request: PlanRequest, index: RegistryIndex) -> list[str]:
    """For the packages asked to update whose files were read: locked version and latest stable release."""
    names = list(request.lock) if request.update == "all" else request.update
    found: list[str] = []
    for name in names:
        pkg = index.packages.get(name)
        if pkg is None:
            continue
        stable = [
            v
            for rel in pkg.releases
            if rel.retirement is None and (v := Version.try_parse(rel.version)) and not v.is_prerelease
        ]
        locked = request.lock.get(name)
        if stable:
            found.append(f"{name} {locked.version if locked else 'not locked'}, latest stable {max(stable)}")
    if not found:
        return []
    more = f" (+{len(found) - _FOUND_SHOWN} more)" if len(found) > _FOUND_SHOWN else ""
    return ["read so far: " + "; ".join(found[:_FOUND_SHOWN]) + more]


def plan_view(request: PlanRequest, outcome: PlanOutcome) -> PlanView:
    """The tool's view of an outcome; pure given its inputs."""
    gathered = outcome.gathered
    result = outcome.result
    base = PlanView(
        input_format=request.input_format,
        update=["all"] if request.update == "all" else list(request.update),
        targets=dict(request.targets),
        outcome="plan",
        locked=len(request.lock),
        packages_read=len(gathered.index.packages),
        freshness=combined_freshness(gathered.freshness) if gathered.freshness else None,
    )
    untouched = [f"{dep.name} ({dep.kind})" for dep in sorted(request.non_hex, key=lambda d: d.name)]
    unreadable = [f"{skip.name} not read: {skip.reason}" for skip in request.unreadable[:5]]
    if result is None:
        reasons = [f"{name}: {why}" for name, why in sorted(gathered.failed.items())[:5]]
        if len(gathered.failed) > 5:
            reasons.append(f"+{len(gathered.failed) - 5} more")
        if gathered.stopped:
            why = (
                f"{gathered.stopped} ({len(gathered.index.packages)} registry files read). No plan was made; "
                "narrow the update to fewer packages or ask again."
            )
        else:
            why = (
                "registry files could not be read: "
                + "; ".join(reasons)
                + ". No plan was made; ask again, and "
                "if it keeps failing check the repository (hex_meta shows it)."
            )
        return base.model_copy(
            update={
                "outcome": "incomplete",
                "incomplete": why,
                "untouched": untouched,
                "notes": [*_found_so_far(request, gathered.index), *unreadable],
            }
        )
    if isinstance(result, Conflict):
        return base.model_copy(
            update={
                "outcome": "conflict",
                "conflict": result.text,
                "untouched": untouched,
                "notes": unreadable,
            }
        )
    return base.model_copy(
        update={
            "outcome": "incomplete" if result.incomplete_reason else "plan",
            "changes": [PlanChange(name=c.name, old=c.old, new=c.new, why=c.why) for c in result.changes],
            "added": [PlanAdded(name=a.name, version=a.version, why=a.why) for a in result.added],
            "removed": list(result.removed),
            "flagged": [PlanFlag(name=f.name, version=f.version, reason=f.reason) for f in result.flagged],
            "held": [
                PlanHeld(name=h.name, version=h.version, latest=h.latest, because=list(h.because))
                for h in result.held
            ],
            "untouched": [*result.untouched_non_hex],
            "notes": [*result.notes, *unreadable],
            "incomplete": result.incomplete_reason,
        }
    )
