"""hex_plan's input, read before any upstream call, and the registry index the planner reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hex_mcp.errors import InvalidInput, PackageNotFound
from hex_mcp.fetch import Fetched
from hex_mcp.models import Freshness
from hex_mcp.plan import AppRequirement, Conflict, Dep, LockedPackage, NonHexDep, Plan, plan_update
from hex_mcp.plan_input import parse_plan_request
from hex_mcp.planning import RegistryIndex, _Missing, make_plan
from hex_mcp.registry import RegistryDependency, RegistryPackage, RegistryRelease, RegistryRetirement

pytestmark = pytest.mark.anyio

LOCK = (
    '%{"phoenix": {:hex, :phoenix, "1.7.14", "x", [:mix], [{:plug, "~> 1.14", [hex: :plug, repo: "hexpm", '
    'optional: false]}], "hexpm", "y"},\n'
    '  "plug": {:hex, :plug, "1.16.0", "x", [:mix], [], "hexpm", "y"},\n'
    '  "ui": {:git, "https://example.com/ui.git", "abc", []}}\n'
)


def test_a_lock_alone() -> None:
    request = parse_plan_request(LOCK, "phoenix")
    assert request.lock == {
        "phoenix": LockedPackage("1.7.14", (Dep("plug", "~> 1.14"),)),
        "plug": LockedPackage("1.16.0", ()),
    }
    assert request.app is None
    assert request.non_hex == [NonHexDep("ui", "git")]
    assert (request.update, request.targets, request.input_format) == (["phoenix"], {}, "mix.lock")


def test_a_lock_with_its_mix_exs_and_targets() -> None:
    exs = '{:phoenix, "~> 1.7", override: true},\n{:req, "~> 0.5"}\n'
    request = parse_plan_request(exs + LOCK, "phoenix, plug", "req ~> 0.5.1; :phoenix ~> 1.8")
    assert request.app == [
        AppRequirement("phoenix", "~> 1.7", override=True),
        AppRequirement("req", "~> 0.5"),
    ]
    assert request.targets == {"req": "~> 0.5.1", "phoenix": "~> 1.8"}
    # A target marks its package for update too.
    assert request.update == ["plug", "phoenix", "req"]
    assert request.input_format == "mix.lock+mix.exs"


def test_all_and_dash_dash_all() -> None:
    assert parse_plan_request(LOCK, "all").update == "all"
    assert parse_plan_request(LOCK, " --all ").update == "all"


@pytest.mark.parametrize(
    ("update", "target", "message"),
    [
        ("ui", None, "ui: not from Hex (git, path or private repo), so hex_plan cannot update it"),
        ("a " * 51, None, "update names 51 packages; the limit is 50, or use 'all'."),
        (
            "phoenix",
            "; ".join(f"p{i} ~> 1.0" for i in range(11)),
            "target names 11 packages; the limit is 10.",
        ),
        ("phoenix", "phoenix ~>", "target 'phoenix ~>'"),
        ("phoenix", "x" * 501, "target is 501 characters long; the limit is 500."),
        ("x" * 2001, None, "update is 2001 characters long; the limit is 2000."),
    ],
)
def test_bad_requests(update: str, target: str | None, message: str) -> None:
    with pytest.raises(
        InvalidInput, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        parse_plan_request(LOCK, update, target)


def _release(
    version: str, deps: tuple[RegistryDependency, ...] = (), retired: bool = False
) -> RegistryRelease:
    return RegistryRelease(
        version=version,
        inner_checksum=b"",
        outer_checksum=None,
        dependencies=deps,
        retirement=RegistryRetirement("security", "CVE-1") if retired else None,
        advisory_indexes=(0,) if retired else None,
        published_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def test_the_registry_index() -> None:
    private = RegistryDependency("secret", "~> 1.0", False, "secret", "hexpm:acme")
    public = RegistryDependency("plug", "~> 1.14", True, "plug", None)
    renamed = RegistryDependency("poison", "~> 3.0", False, "json", None)
    index = RegistryIndex(
        {
            "phoenix": RegistryPackage(
                "phoenix", "hexpm", (_release("1.7.14", (private, public, renamed), True),), None
            )
        },
        {"ghost"},
    )
    assert index.versions("phoenix") == ["1.7.14"]
    assert index.versions("ghost") == []
    assert index.dependencies("phoenix", "1.7.14") == [
        Dep("plug", "~> 1.14", True),
        Dep("poison", "~> 3.0", False, "json"),
    ]
    assert index.dependencies("phoenix", "9.9.9") == []
    assert index.retirement("phoenix", "1.7.14") == "security (CVE-1)"
    assert index.has_advisory("phoenix", "1.7.14")
    with pytest.raises(_Missing):
        index.versions("plug")


def test_without_mix_exs_the_app_is_not_quoted_as_mix_exs() -> None:
    index = RegistryIndex({"plug": RegistryPackage("plug", "hexpm", (_release("1.16.0"),), None)}, {"ghost"})
    lock = {"plug": LockedPackage("1.16.0", ()), "ghost": LockedPackage("1.0.0", ())}
    result = plan_update(index, lock, ["ghost"])
    assert isinstance(result, Conflict)
    assert (
        result.text.splitlines()[0]
        == "No plan: ghost is not a package on hex.pm (your app requires ghost any version)."
    )


def _pkg(name: str, releases: dict[str, tuple[RegistryDependency, ...]]) -> RegistryPackage:
    return RegistryPackage(name, "hexpm", tuple(_release(v, deps) for v, deps in releases.items()), None)


async def test_a_package_the_guess_missed_is_read_and_the_plan_made_again() -> None:
    """Dependencies of old releases are not read ahead; when the solver needs one, it is read then."""
    needs_b = (RegistryDependency("b", "~> 1.0", False, "b", None),)
    registry = {
        "a": _pkg("a", {"0.1.0": needs_b, **{f"1.{i}.0": () for i in range(10)}}),
        "b": _pkg("b", {"1.0.0": ()}),
    }
    asked: list[str] = []

    async def fetch(name: str) -> Fetched[RegistryPackage]:
        asked.append(name)
        if name not in registry:
            raise PackageNotFound(name)
        stamp = Freshness(source="hexpm", fetched_at="2026-01-01T00:00:00Z", age_seconds=0, from_cache=False)
        return Fetched(registry[name], stamp)

    request = parse_plan_request('{:a, "< 1.0.0"}', "all")
    outcome = await make_plan(fetch, request, max_packages=10)
    assert outcome.gathered.rounds == 2
    assert asked == ["a", "b"]
    assert isinstance(outcome.result, Plan)
    assert [(added.name, added.version) for added in outcome.result.added] == [("a", "0.1.0"), ("b", "1.0.0")]


async def test_a_package_missing_from_hex_is_named() -> None:
    async def fetch(name: str) -> Fetched[RegistryPackage]:
        raise PackageNotFound(name)

    outcome = await make_plan(fetch, parse_plan_request('{:nope, "~> 1.0"}', "all"), max_packages=10)
    assert isinstance(outcome.result, Conflict)
    assert outcome.result.text.startswith("No plan: nope is not a package on hex.pm")
