"""Scenario table for the upgrade planner: a small registry, a lock, a request, and the expected plan.

Registries are written compactly: ``{"pkg": {"1.0.0": ["dep ~> 1.0", "other >= 0.0.0 optional"]}}``;
a dependency string is ``NAME REQUIREMENT`` with a trailing ``optional`` word for optional ones. The
lock records each locked package's dependencies as the registry lists them, as mix.lock does.

Scenarios marked ``hex_solver`` restate cases of hexpm/hex_solver's ``test/hex_solver/solver_test.exs``
in this form (same registry shape, same expected versions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from hex_mcp.plan import AppRequirement, Dep, LockedPackage, NonHexDep

Registry = Mapping[str, Mapping[str, Sequence[str]]]


def parse_dep(text: str) -> Dep:
    name, _, rest = text.partition(" ")
    optional = rest.endswith(" optional")
    requirement = rest.removesuffix(" optional")
    return Dep(name, requirement, optional)


class DictIndex:
    """An in-memory registry implementing ``hex_mcp.plan.Index``; counts the packages it is asked about."""

    def __init__(
        self,
        registry: Registry,
        retired: Mapping[tuple[str, str], str] | None = None,
        advisories: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.registry = registry
        self.retired = dict(retired or {})
        self.advisories = set(advisories)
        self.asked: list[str] = []

    def versions(self, name: str) -> Sequence[str]:
        self.asked.append(name)
        return list(self.registry.get(name, {}))

    def dependencies(self, name: str, version: str) -> Sequence[Dep]:
        return [parse_dep(text) for text in self.registry.get(name, {}).get(version, [])]

    def retirement(self, name: str, version: str) -> str | None:
        return self.retired.get((name, version))

    def has_advisory(self, name: str, version: str) -> bool:
        return (name, version) in self.advisories


def make_lock(registry: Registry, locked: Mapping[str, str]) -> dict[str, LockedPackage]:
    return {
        name: LockedPackage(version, tuple(parse_dep(d) for d in registry[name][version]))
        for name, version in locked.items()
    }


def app(*specs: str, override: Sequence[str] = ()) -> list[AppRequirement]:
    """``app("phoenix ~> 1.7", "jason")``: mix.exs deps; a bare name has no requirement."""
    out = []
    for spec in specs:
        name, _, req = spec.partition(" ")
        out.append(AppRequirement(name, req or None, override=name in override))
    return out


@dataclass(frozen=True)
class Scenario:
    id: str
    registry: Registry
    locked: Mapping[str, str]
    update: Sequence[str] | Literal["all"]
    app: Sequence[AppRequirement] | None
    targets: Mapping[str, str] = field(default_factory=dict)
    non_hex: Sequence[NonHexDep] = ()
    retired: Mapping[tuple[str, str], str] = field(default_factory=dict)
    advisories: Sequence[tuple[str, str]] = ()
    max_packages: int = 500
    # Expected plan: (name, old, new) changes, (name, version) additions, removed names,
    # (name, version, reason) flags, (name, version, latest) held packages, untouched non-Hex deps.
    changes: Sequence[tuple[str, str, str]] = ()
    added: Sequence[tuple[str, str]] = ()
    removed: Sequence[str] = ()
    flagged: Sequence[tuple[str, str, str]] = ()
    held: Sequence[tuple[str, str, str]] = ()
    untouched: Sequence[str] = ()
    incomplete: str | None = None
    # Expected conflict: the chain, one rendered step per line (None: a plan is expected).
    conflict: Sequence[str] | None = None


PHOENIX = {
    "phoenix": {
        "1.7.0": ["plug ~> 1.14", "phoenix_pubsub ~> 2.1", "jason ~> 1.0 optional"],
        "1.7.14": ["plug ~> 1.14", "phoenix_pubsub ~> 2.1", "jason ~> 1.0 optional"],
        "1.8.0": [
            "plug ~> 1.16",
            "phoenix_pubsub ~> 2.1",
            "phoenix_template ~> 1.0",
            "jason ~> 1.0 optional",
        ],
        "1.8.1": [
            "plug ~> 1.16",
            "phoenix_pubsub ~> 2.1",
            "phoenix_template ~> 1.0",
            "jason ~> 1.0 optional",
        ],
    },
    "plug": {"1.14.0": [], "1.14.2": [], "1.16.0": [], "1.16.1": [], "2.0.0": []},
    "phoenix_pubsub": {"2.1.1": [], "2.1.3": []},
    "phoenix_template": {"1.0.3": [], "1.0.4": []},
    "jason": {"1.4.0": [], "1.4.4": [], "2.0.0-rc.1": []},
    "phoenix_live_view": {
        "0.20.17": ["phoenix ~> 1.6.15 or ~> 1.7.0", "plug ~> 1.14"],
        "1.0.0": ["phoenix ~> 1.6.15 or ~> 1.7.0 or ~> 1.8.0", "plug ~> 1.15"],
        "1.0.5": ["phoenix ~> 1.6.15 or ~> 1.7.0 or ~> 1.8.0", "plug ~> 1.15"],
    },
}
PHOENIX_LOCK = {"phoenix": "1.7.0", "plug": "1.14.0", "phoenix_pubsub": "2.1.1", "jason": "1.4.0"}

SCENARIOS: list[Scenario] = [
    Scenario(
        "plain update",
        {"jason": {"1.4.0": [], "1.4.1": [], "1.4.4": []}},
        {"jason": "1.4.0"},
        ["jason"],
        app("jason ~> 1.4"),
        changes=[("jason", "1.4.0", "1.4.4")],
    ),
    Scenario(
        "blocked by the app's own requirement",
        {"plug": {"1.14.0": [], "1.14.2": [], "1.15.0": []}},
        {"plug": "1.14.0"},
        ["plug"],
        app("plug ~> 1.14.0"),
        changes=[("plug", "1.14.0", "1.14.2")],
        held=[("plug", "1.14.2", "1.15.0")],
    ),
    Scenario(
        "blocked by a locked parent's ~>",
        PHOENIX,
        PHOENIX_LOCK,
        ["plug"],
        app("phoenix ~> 1.7", "jason ~> 1.4"),
        changes=[("plug", "1.14.0", "1.16.1")],
        held=[("plug", "1.16.1", "2.0.0")],
    ),
    Scenario(
        "updating a parent unlocks the children the lock records",
        PHOENIX,
        PHOENIX_LOCK,
        ["phoenix"],
        app("phoenix ~> 1.7", "jason ~> 1.4"),
        changes=[
            ("jason", "1.4.0", "1.4.4"),
            ("phoenix", "1.7.0", "1.8.1"),
            ("phoenix_pubsub", "2.1.1", "2.1.3"),
            ("plug", "1.14.0", "1.16.1"),
        ],
        added=[("phoenix_template", "1.0.4")],
    ),
    Scenario(
        "a sibling that is not a child stays locked",
        {
            "a": {"1.0.0": ["c ~> 1.0"], "1.1.0": ["c ~> 1.0"]},
            "b": {"1.0.0": [], "1.2.0": []},
            "c": {"1.0.0": [], "1.3.0": []},
        },
        {"a": "1.0.0", "b": "1.0.0", "c": "1.0.0"},
        ["a"],
        app("a ~> 1.0", "b ~> 1.0"),
        changes=[("a", "1.0.0", "1.1.0"), ("c", "1.0.0", "1.3.0")],
    ),
    Scenario(
        "target requirement keeps a package on one minor line",
        PHOENIX,
        PHOENIX_LOCK,
        ["phoenix"],
        app("phoenix ~> 1.7", "jason ~> 1.4"),
        targets={"phoenix": "~> 1.7.0"},
        # jason is a child too (an optional one), so it is unlocked and moves to the newest stable.
        changes=[
            ("jason", "1.4.0", "1.4.4"),
            ("phoenix", "1.7.0", "1.7.14"),
            ("phoenix_pubsub", "2.1.1", "2.1.3"),
            ("plug", "1.14.0", "1.16.1"),
        ],
        held=[("phoenix", "1.7.14", "1.8.1")],
    ),
    Scenario(
        "update all",
        PHOENIX,
        PHOENIX_LOCK,
        "all",
        app("phoenix ~> 1.7", "jason ~> 1.4"),
        changes=[
            ("jason", "1.4.0", "1.4.4"),
            ("phoenix", "1.7.0", "1.8.1"),
            ("phoenix_pubsub", "2.1.1", "2.1.3"),
            ("plug", "1.14.0", "1.16.1"),
        ],
        added=[("phoenix_template", "1.0.4")],
    ),
    Scenario(
        "diamond conflict",
        {"a": {"1.0.0": ["c ~> 1.0"]}, "b": {"1.0.0": ["c ~> 2.0"]}, "c": {"1.0.0": [], "2.0.0": []}},
        {},
        "all",
        app("a ~> 1.0", "b ~> 1.0"),
        conflict=[
            "your mix.exs requires a ~> 1.0",
            "your mix.exs requires b ~> 1.0",
            "a 1.0.0 requires c ~> 1.0",
            "b 1.0.0 requires c ~> 2.0",
        ],
    ),
    Scenario(
        "diamond resolved by an older parent",
        {
            "a": {"1.0.0": ["c ~> 1.0"], "1.1.0": ["c ~> 2.0"]},
            "b": {"1.0.0": ["c ~> 1.0"]},
            "c": {"1.0.0": [], "2.0.0": []},
        },
        {},
        "all",
        app("a ~> 1.0", "b ~> 1.0"),
        added=[("a", "1.0.0"), ("b", "1.0.0"), ("c", "1.0.0")],
        held=[("a", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "or requirement takes the newest of either range",
        {"x": {"1.5.0": [], "2.1.0": [], "3.0.0": []}},
        {"x": "1.5.0"},
        ["x"],
        app("x ~> 1.0 or ~> 2.0"),
        changes=[("x", "1.5.0", "2.1.0")],
        held=[("x", "2.1.0", "3.0.0")],
    ),
    Scenario(
        "optional dependency nothing else needs stays out",
        {"a": {"1.0.0": [], "1.1.0": ["opt ~> 1.0 optional"]}, "opt": {"1.0.0": []}},
        {"a": "1.0.0"},
        ["a"],
        app("a ~> 1.0"),
        changes=[("a", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "optional dependency constrains once something selects it",
        {"a": {"1.0.0": ["opt ~> 1.0 optional"]}, "opt": {"1.0.0": [], "1.2.0": [], "2.0.0": []}},
        {"a": "1.0.0", "opt": "1.0.0"},
        ["opt"],
        app("a ~> 1.0", "opt >= 0.0.0"),
        changes=[("opt", "1.0.0", "1.2.0")],
        held=[("opt", "1.2.0", "2.0.0")],
    ),
    Scenario(
        "pre-release not wanted: stable first",
        {"foo": {"1.0.0": [], "1.1.0": [], "1.2.0-rc.1": []}},
        {"foo": "1.0.0"},
        ["foo"],
        app("foo ~> 1.0"),
        changes=[("foo", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "pre-release wanted through a target naming one",
        {"foo": {"1.1.0": [], "2.0.0-rc.1": [], "2.0.0-rc.2": []}},
        {"foo": "1.1.0"},
        ["foo"],
        app("foo ~> 1.0"),
        targets={"foo": "~> 2.0-rc"},
        changes=[("foo", "1.1.0", "2.0.0-rc.2")],
    ),
    Scenario(
        "pre-release inside a parent's range is accepted when nothing stable fits",
        {
            "phoenix": {"1.3.4": [], "1.4.0-rc.0": []},
            "phoenix_live_reload": {"1.1.0": ["phoenix ~> 1.3"]},
        },
        {"phoenix": "1.3.4", "phoenix_live_reload": "1.1.0"},
        ["phoenix"],
        app("phoenix ~> 1.4.0-rc", "phoenix_live_reload ~> 1.1"),
        changes=[("phoenix", "1.3.4", "1.4.0-rc.0")],
    ),
    Scenario(
        "retired and advisory versions are picked but flagged",
        {"a": {"1.0.0": [], "1.1.0": []}, "b": {"2.0.0": [], "2.0.1": []}},
        {"a": "1.0.0", "b": "2.0.0"},
        "all",
        app("a ~> 1.0", "b ~> 2.0"),
        retired={("a", "1.1.0"): "security: use 1.0.x"},
        advisories=[("b", "2.0.1")],
        changes=[("a", "1.0.0", "1.1.0"), ("b", "2.0.0", "2.0.1")],
        flagged=[("a", "1.1.0", "retired: security: use 1.0.x"), ("b", "2.0.1", "has a security advisory")],
    ),
    Scenario(
        "override ignores a package's requirement",
        {"foo": {"1.0.0": ["bar 2.0.0"]}, "bar": {"1.0.0": [], "2.0.0": []}},
        {"foo": "1.0.0", "bar": "1.0.0"},
        ["foo"],
        app("foo ~> 1.0", "bar 1.0.0", override=["bar"]),
    ),
    Scenario(
        "dependency not on Hex left alone and reported",
        {"jason": {"1.4.0": [], "1.4.4": [], "1.5.0": []}},
        {"jason": "1.4.0"},
        ["jason"],
        app("jason >= 1.0.0"),
        non_hex=[NonHexDep("my_lib", "git", (Dep("jason", "~> 1.4.0"),))],
        changes=[("jason", "1.4.0", "1.4.4")],
        held=[("jason", "1.4.4", "1.5.0")],
        untouched=["my_lib (git)"],
    ),
    Scenario(
        "a mix.exs requirement the lock no longer meets unlocks that package",
        {"jason": {"1.4.0": [], "1.5.0": []}, "plug": {"1.14.0": [], "1.15.0": []}},
        {"jason": "1.4.0", "plug": "1.14.0"},
        ["plug"],
        app("jason ~> 1.5", "plug ~> 1.14"),
        changes=[("jason", "1.4.0", "1.5.0"), ("plug", "1.14.0", "1.15.0")],
    ),
    Scenario(
        "a dependency the new version drops is removed",
        {"a": {"1.0.0": ["old ~> 1.0"], "2.0.0": []}, "old": {"1.0.0": []}},
        {"a": "1.0.0", "old": "1.0.0"},
        ["a"],
        app("a >= 1.0.0"),
        changes=[("a", "1.0.0", "2.0.0")],
        removed=["old"],
    ),
    Scenario(
        "target conflicts with a package the lock keeps",
        {"a": {"1.0.0": [], "2.0.0": ["c ~> 2.0"]}, "c": {"1.0.0": [], "2.0.0": []}},
        {"a": "1.0.0", "c": "1.0.0"},
        ["a"],
        app("a >= 1.0.0", "c >= 1.0.0"),
        targets={"a": "~> 2.0"},
        conflict=[
            "your target requires a ~> 2.0",
            "a 2.0.0 requires c ~> 2.0",
            "your mix.exs requires c >= 1.0.0",
            "mix.lock keeps c at 1.0.0",
        ],
    ),
    Scenario(
        "target conflicts with a locked parent's ~>",
        PHOENIX,
        PHOENIX_LOCK,
        ["plug"],
        app("phoenix ~> 1.7", "jason ~> 1.4"),
        targets={"plug": "~> 2.0"},
        conflict=[
            "your mix.exs requires phoenix ~> 1.7",
            "phoenix 1.7.0 requires plug ~> 1.14",
            "your target requires plug ~> 2.0",
        ],
    ),
    Scenario(
        "package-count bound stops the search",
        PHOENIX,
        {},
        "all",
        app("phoenix ~> 1.7", "phoenix_live_view ~> 1.0"),
        max_packages=2,
        incomplete="the search reached more than 2 packages; narrow the update to fewer packages or try again",
    ),
    # --- hexpm/hex_solver solver_test.exs, restated ---
    Scenario(
        "hex_solver: prioritize stable versions",
        {"foo": {"1.0.0": [], "1.1.0": [], "1.2.0-dev": []}},
        {},
        "all",
        app("foo ~> 1.0"),
        added=[("foo", "1.1.0")],
    ),
    Scenario(
        "hex_solver: backtrack 1",
        {
            "foo": {"1.1.0": ["bar 1.1.0", "baz 1.0.0"], "1.0.0": ["bar 1.0.0"]},
            "bar": {"1.1.0": ["baz 1.1.0"], "1.0.0": ["baz 1.0.0"]},
            "baz": {"1.1.0": [], "1.0.0": []},
        },
        {},
        "all",
        app("foo ~> 1.0"),
        added=[("bar", "1.0.0"), ("baz", "1.0.0"), ("foo", "1.0.0")],
        held=[("foo", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "hex_solver: backtrack 2",
        {
            "cowboy": {
                "2.6.0": ["ranch ~> 1.7.0"],
                "2.7.0": ["ranch ~> 1.7.1"],
                "2.8.0": ["ranch ~> 1.7.1"],
                "2.9.0": ["ranch 1.8.0"],
            },
            "gen_smtp": {"1.1.1": ["ranch >= 1.7.0"]},
            "ranch": {"1.8.0": [], "2.1.0": []},
        },
        {},
        "all",
        app("gen_smtp ~> 1.1.0", "cowboy ~> 2.7"),
        added=[("cowboy", "2.9.0"), ("gen_smtp", "1.1.1"), ("ranch", "1.8.0")],
    ),
    Scenario(
        "hex_solver: overlapping ranges",
        {
            "phoenix_live_view": {"1.0.0": ["phoenix ~> 1.0 or ~> 2.0"], "1.1.0": ["phoenix ~> 2.1"]},
            "phoenix": {"1.0.0": []},
        },
        {},
        "all",
        app("phoenix_live_view ~> 1.0 or ~> 1.1"),
        added=[("phoenix", "1.0.0"), ("phoenix_live_view", "1.0.0")],
        held=[("phoenix_live_view", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "hex_solver: loop",
        {"foo": {"1.0.0": ["bar 1.0.0"]}, "bar": {"1.0.0": ["foo 1.0.0"]}},
        {},
        "all",
        app("foo 1.0.0"),
        added=[("bar", "1.0.0"), ("foo", "1.0.0")],
    ),
    Scenario(
        "hex_solver: locked version kept (no downgrade, no upgrade)",
        {"foo": {"1.0.0": [], "1.1.0": [], "1.2.0": []}, "bar": {"1.0.0": [], "1.1.0": []}},
        {"foo": "1.1.0", "bar": "1.0.0"},
        ["bar"],
        app("foo ~> 1.0", "bar ~> 1.0"),
        changes=[("bar", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "hex_solver: skip optional with backtrack",
        {
            "foo": {
                "1.1.0": ["bar 1.1.0", "baz 1.0.0", "opt 1.0.0"],
                "1.0.0": ["bar 1.0.0", "opt 1.0.0 optional"],
            },
            "bar": {"1.1.0": ["baz 1.1.0", "opt 1.0.0"], "1.0.0": ["baz 1.0.0", "opt 1.0.0 optional"]},
            "baz": {"1.1.0": ["opt 1.0.0"], "1.0.0": ["opt 1.0.0 optional"]},
            "opt": {"1.0.0": []},
        },
        {},
        "all",
        app("foo ~> 1.0"),
        added=[("bar", "1.0.0"), ("baz", "1.0.0"), ("foo", "1.0.0")],
        held=[("foo", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "hex_solver: select optional with backtrack",
        {
            "foo": {
                "1.1.0": ["bar 1.1.0", "baz 1.0.0", "opt 1.0.0"],
                "1.0.0": ["bar 1.0.0", "opt 1.0.0 optional"],
            },
            "bar": {"1.1.0": ["baz 1.1.0", "opt 1.0.0"], "1.0.0": ["baz 1.0.0", "opt 1.0.0 optional"]},
            "baz": {"1.1.0": ["opt 1.0.0 optional"], "1.0.0": ["opt 1.0.0"]},
            "opt": {"1.0.0": []},
        },
        {},
        "all",
        app("foo ~> 1.0"),
        added=[("bar", "1.0.0"), ("baz", "1.0.0"), ("foo", "1.0.0"), ("opt", "1.0.0")],
        held=[("foo", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "hex_solver: select older optional",
        {"foo": {"1.0.0": [], "1.1.0": []}, "bar": {"1.0.0": ["foo ~> 1.0"]}},
        {},
        "all",
        [AppRequirement("foo", "~> 1.0.0", optional=True), AppRequirement("bar", "1.0.0")],
        added=[("bar", "1.0.0"), ("foo", "1.0.0")],
        held=[("foo", "1.0.0", "1.1.0")],
    ),
    Scenario(
        "hex_solver: optional with conflict",
        {
            "poison": {"1.0.0": ["decimal ~> 2.0 optional"]},
            "postgrex": {"1.0.0": ["decimal ~> 1.0"]},
            "ex_crypto": {"1.0.0": ["poison >= 1.0.0"]},
            "decimal": {"1.0.0": [], "2.0.0": []},
        },
        {},
        "all",
        app("ex_crypto >= 0.0.0", "postgrex >= 0.0.0"),
        # The chain shows how poison came in (through ex_crypto) before the clash on decimal.
        conflict=[
            "your mix.exs requires ex_crypto >= 0.0.0",
            "ex_crypto 1.0.0 requires poison >= 1.0.0",
            "your mix.exs requires postgrex >= 0.0.0",
            "poison 1.0.0 requires decimal ~> 2.0 (optional)",
            "postgrex 1.0.0 requires decimal ~> 1.0",
        ],
    ),
    Scenario(
        "hex_solver: override ignores a compatible constraint",
        {"foo": {"1.0.0": ["bar ~> 1.0.0"]}, "bar": {"1.0.0": [], "1.1.0": []}},
        {},
        "all",
        app("foo 1.0.0", "bar ~> 1.0", override=["bar"]),
        added=[("bar", "1.1.0"), ("foo", "1.0.0")],
    ),
]
