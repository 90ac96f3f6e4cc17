"""What ``hex_plan`` was asked, read from user text into the planner's input model.

Pure and synchronous: a paste (mix.lock, mix.exs deps, or both), the names to update and an optional
target requirement become a ``PlanRequest``, or an ``InvalidInput`` saying what to fix, before any
upstream call. Kept apart from the service so the parse can run wherever the caller likes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hex_mcp import validate
from hex_mcp.deps_input import DepsInput, DepsInputError, SkippedDep, Source, parse_deps
from hex_mcp.errors import InvalidInput
from hex_mcp.plan import AppRequirement, Dep, LockedPackage, NonHexDep
from hex_mcp.versions import Requirement, VersionError

MAX_UPDATE_NAMES = 50
MAX_TARGETS = 10
UPDATE_MAX_CHARS = 2_000
TARGET_MAX_CHARS = 500


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """The planner's input. ``app`` is ``None`` when the paste holds no mix.exs deps."""

    lock: dict[str, LockedPackage]
    app: list[AppRequirement] | None
    non_hex: list[NonHexDep]
    update: list[str] | Literal["all"]
    targets: dict[str, str]
    input_format: Source
    unreadable: list[SkippedDep]


def parse_plan_request(deps: str, update: str, target: str | None = None) -> PlanRequest:
    """Read the paste, the names to update (``"all"`` or names separated by spaces or commas) and the
    targets (``"phoenix ~> 1.8"``, several separated by ``;``). Raises ``InvalidInput``."""
    text = validate.deps_text(deps)
    try:
        parsed = parse_deps(text)
    except DepsInputError as exc:
        raise InvalidInput(f"deps could not be read: {exc}") from None
    return plan_request(parsed, update, target)


def plan_request(parsed: DepsInput, update: str, target: str | None = None) -> PlanRequest:
    """`parse_plan_request` for a paste already read (the service reads large ones off the event loop)."""
    targets = _targets(target)
    names = _update_names(update)
    lock, app, non_hex = _split(parsed)
    known = set(lock) | {dep.name for dep in app or ()} | {dep.name for dep in non_hex}
    if names != "all":
        unknown = [name for name in names if name not in known and name not in targets]
        if unknown:
            raise InvalidInput(
                f"update names {', '.join(unknown)}, which the pasted deps do not hold. Use package names as "
                "in mix.lock, 'all', or give a target (e.g. target='phoenix ~> 1.8') to add a package."
            )
        non_hex_names = {dep.name for dep in non_hex}
        if any(name in non_hex_names for name in names):
            raise InvalidInput(
                f"{', '.join(n for n in names if n in non_hex_names)}: not from Hex (git, path or private "
                "repo), so hex_plan cannot update it; update it with mix deps.update."
            )
        names = [name for name in names if name not in targets] + sorted(targets)
    return PlanRequest(
        lock=lock,
        app=app,
        non_hex=non_hex,
        update=names,
        targets=targets,
        input_format=parsed.format,
        unreadable=[skip for skip in parsed.skipped if skip.kind != "not_public"],
    )


def _update_names(update: str) -> list[str] | Literal["all"]:
    if len(update) > UPDATE_MAX_CHARS:
        raise InvalidInput(f"update is {len(update)} characters long; the limit is {UPDATE_MAX_CHARS}.")
    words = [word for word in update.replace(",", " ").split() if word]
    if not words:
        raise InvalidInput("update is empty: give package names (e.g. 'phoenix phoenix_live_view') or 'all'.")
    if [word.lower() for word in words] in (["all"], ["--all"]):
        return "all"
    if len(words) > MAX_UPDATE_NAMES:
        raise InvalidInput(
            f"update names {len(words)} packages; the limit is {MAX_UPDATE_NAMES}, or use 'all'."
        )
    return list(dict.fromkeys(validate.package_name(word, "update") for word in words))


def _targets(target: str | None) -> dict[str, str]:
    if target is None or not target.strip():
        return {}
    if len(target) > TARGET_MAX_CHARS:
        raise InvalidInput(f"target is {len(target)} characters long; the limit is {TARGET_MAX_CHARS}.")
    found: dict[str, str] = {}
    parts = [part.strip() for part in target.split(";") if part.strip()]
    if len(parts) > MAX_TARGETS:
        raise InvalidInput(f"target names {len(parts)} packages; the limit is {MAX_TARGETS}.")
    for part in parts:
        name, _, requirement = part.lstrip(":").partition(" ")
        name = validate.package_name(name.strip().rstrip(","), "target")
        text = requirement.strip().strip(",").strip().strip("\"'")
        if not text:
            raise InvalidInput(f"target {part!r} has no requirement: write it as 'phoenix ~> 1.8'.")
        try:
            found[name] = str(Requirement.parse(text))
        except VersionError as exc:
            raise InvalidInput(f"target {part!r}: {exc}. Write it as 'phoenix ~> 1.8'.") from None
    return found


def _split(
    parsed: DepsInput,
) -> tuple[dict[str, LockedPackage], list[AppRequirement] | None, list[NonHexDep]]:
    lock: dict[str, LockedPackage] = {}
    app: list[AppRequirement] | None = [] if parsed.format in ("mix.exs", "mix.lock+mix.exs") else None
    for spec in parsed.deps:
        if spec.version is not None:
            deps = None
            if spec.dependencies is not None:
                deps = tuple(Dep(d.package, d.requirement, d.optional, d.app) for d in spec.dependencies)
            lock[spec.name] = LockedPackage(spec.version, deps)
        if app is not None and (spec.declared or parsed.format == "mix.exs"):
            app.append(
                AppRequirement(spec.name, spec.requirement, spec.optional, spec.override, spec.app or "")
            )
    non_hex = [
        NonHexDep(skip.name, skip.reason.removesuffix(" dependency"))
        for skip in parsed.skipped
        if skip.kind == "not_public"
    ]
    return lock, app, non_hex
