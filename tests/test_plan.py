"""The upgrade planner: the scenario table, conflict explanations word for word, bounds, hex.outdated status."""

from __future__ import annotations

import pytest

from hex_mcp.plan import (
    MAX_DEPS_PER_RELEASE,
    MAX_VERSIONS_PER_PACKAGE,
    AppRequirement,
    Blocked,
    Blocker,
    Change,
    Conflict,
    Dep,
    LockedPackage,
    Plan,
    PlanInputError,
    Possible,
    plan_update,
    update_status,
)
from tests.helpers import tokens
from tests.plan_scenarios import PHOENIX, PHOENIX_LOCK, SCENARIOS, DictIndex, Scenario, app, make_lock


def run(scenario: Scenario) -> Plan | Conflict:
    index = DictIndex(scenario.registry, scenario.retired, scenario.advisories)
    return plan_update(
        index,
        make_lock(scenario.registry, scenario.locked),
        scenario.update,
        app=scenario.app,
        non_hex=scenario.non_hex,
        targets=scenario.targets,
        max_packages=scenario.max_packages,
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    result = run(scenario)
    if scenario.conflict is not None:
        assert isinstance(result, Conflict), result
        lines = result.text.splitlines()
        assert lines[1:-1] == [f"- {step}" for step in scenario.conflict]
        return
    assert isinstance(result, Plan), getattr(result, "text", result)
    assert [(c.name, c.old, c.new) for c in result.changes] == list(scenario.changes)
    assert [(a.name, a.version) for a in result.added] == list(scenario.added)
    assert list(result.removed) == list(scenario.removed)
    assert [(f.name, f.version, f.reason) for f in result.flagged] == list(scenario.flagged)
    assert [(h.name, h.version, h.latest) for h in result.held] == list(scenario.held)
    assert list(result.untouched_non_hex) == list(scenario.untouched)
    assert result.incomplete_reason == scenario.incomplete


def test_at_least_25_scenarios() -> None:
    assert len(SCENARIOS) >= 25
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)


def by_id(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.id == name)


def test_changes_say_why() -> None:
    result = run(by_id("updating a parent unlocks the children the lock records"))
    assert isinstance(result, Plan)
    assert result.changes == (
        Change("jason", "1.4.0", "1.4.4", "dependency of phoenix, unlocked with it"),
        Change("phoenix", "1.7.0", "1.8.1", "updated as requested"),
        Change("phoenix_pubsub", "2.1.1", "2.1.3", "dependency of phoenix, unlocked with it"),
        Change("plug", "1.14.0", "1.16.1", "dependency of phoenix, unlocked with it"),
    )
    assert result.added[0].why == "required by phoenix 1.8.1 (~> 1.0)"


def test_mix_exs_mismatch_reason() -> None:
    result = run(by_id("a mix.exs requirement the lock no longer meets unlocks that package"))
    assert isinstance(result, Plan)
    assert result.changes[0].why == "mix.exs requires ~> 1.5, which the locked 1.4.0 does not meet"


def test_held_names_the_blockers() -> None:
    parent = run(by_id("blocked by a locked parent's ~>"))
    own = run(by_id("blocked by the app's own requirement"))
    non_hex = run(by_id("dependency not on Hex left alone and reported"))
    assert isinstance(parent, Plan) and isinstance(own, Plan) and isinstance(non_hex, Plan)
    assert parent.held[0].because == ("phoenix 1.7.0 requires ~> 1.14",)
    assert own.held[0].because == ("your mix.exs requires ~> 1.14.0",)
    assert non_hex.held[0].because == ("my_lib (not from Hex) requires ~> 1.4.0",)


def test_target_for_a_package_not_yet_used_adds_it() -> None:
    registry = {"a": {"1.0.0": []}, "b": {"0.9.0": [], "1.0.0": ["a ~> 1.0"]}}
    result = plan_update(
        DictIndex(registry), make_lock(registry, {"a": "1.0.0"}), [], app=app("a"), targets={"b": "~> 1.0"}
    )
    assert isinstance(result, Plan)
    assert [(a.name, a.version, a.why) for a in result.added] == [
        ("b", "1.0.0", "your target requires ~> 1.0")
    ]
    assert result.changes == ()


def test_without_mix_exs_top_level_is_inferred_from_the_lock() -> None:
    result = plan_update(DictIndex(PHOENIX), make_lock(PHOENIX, PHOENIX_LOCK), ["phoenix"])
    assert isinstance(result, Plan)
    assert result.notes == (
        "mix.exs not given: top-level dependencies inferred from mix.lock, with any version allowed",
    )
    assert ("phoenix", "1.7.0", "1.8.1") in [(c.name, c.old, c.new) for c in result.changes]


# --- conflict explanations, word for word ---


def test_conflict_text_parent_and_target() -> None:
    result = run(by_id("target conflicts with a locked parent's ~>"))
    assert isinstance(result, Conflict)
    assert result.text == (
        "No plan: no version of plug satisfies every requirement on it:\n"
        "- your mix.exs requires phoenix ~> 1.7\n"
        "- phoenix 1.7.0 requires plug ~> 1.14\n"
        "- your target requires plug ~> 2.0\n"
        "Next: aim for a different plug target; or update phoenix to a release that allows another plug, "
        'or, only if you know they work together, add {:plug, "...", override: true} to mix.exs.'
    )
    assert tokens(result.text) <= 300


def test_conflict_text_names_the_lock() -> None:
    result = run(by_id("target conflicts with a package the lock keeps"))
    assert isinstance(result, Conflict)
    assert result.text == (
        "No plan: no version of c satisfies every requirement on it:\n"
        "- your target requires a ~> 2.0\n"
        "- a 2.0.0 requires c ~> 2.0\n"
        "- your mix.exs requires c >= 1.0.0\n"
        "- mix.lock keeps c at 1.0.0\n"
        "Next: update c too (mix deps.update c); or update a to a release that allows another c, "
        'or, only if you know they work together, add {:c, "...", override: true} to mix.exs.'
    )
    assert [(s.source, s.holder, s.holder_versions, s.package, s.requirement) for s in result.chain] == [
        ("target", "your target", (), "a", "~> 2.0"),
        ("package", "a", ("2.0.0",), "c", "~> 2.0"),
        ("mix.exs", "your mix.exs", (), "c", ">= 1.0.0"),
        ("mix.lock", "mix.lock", (), "c", "1.0.0"),
    ]


def test_conflict_text_groups_parent_versions() -> None:
    registry = {
        "lv": {
            "1.0.0": ["phoenix ~> 1.8"],
            "1.0.1": ["phoenix ~> 1.8"],
            "1.0.2": ["phoenix ~> 1.8"],
            "1.0.3": ["phoenix ~> 1.8"],
        },
        "phoenix": {"1.7.0": [], "1.8.0": []},
    }
    result = plan_update(DictIndex(registry), {}, "all", app=app("lv ~> 1.0", "phoenix ~> 1.7.0"))
    assert isinstance(result, Conflict)
    assert result.text.splitlines()[1:3] == [
        "- your mix.exs requires lv ~> 1.0",
        "- lv 1.0.0 to 1.0.3 (4 versions) require phoenix ~> 1.8",
    ]
    assert tokens(result.text) <= 300


def test_conflict_unknown_package() -> None:
    result = plan_update(DictIndex({}), {}, "all", app=app("nope ~> 1.0"))
    assert isinstance(result, Conflict)
    assert result.text == (
        "No plan: nope is not a package on hex.pm (your mix.exs requires nope ~> 1.0).\n"
        "Next: check the spelling of nope, or drop it."
    )


def test_conflict_no_matching_version() -> None:
    registry = {"foo": {"1.0.0": [], "1.2.0": [], "2.0.0-rc.1": []}}
    result = plan_update(
        DictIndex(registry),
        make_lock(registry, {"foo": "1.0.0"}),
        ["foo"],
        app=app("foo ~> 1.0"),
        targets={"foo": "~> 9.0"},
    )
    assert isinstance(result, Conflict)
    assert result.text == (
        "No plan: your target requires foo ~> 9.0, but no release matches (newest stable: 1.2.0).\n"
        "Next: relax that requirement."
    )


# --- bounds ---


def test_deadline_stops_the_search_with_what_was_found() -> None:
    ticks = iter(range(1000))
    result = plan_update(
        DictIndex(PHOENIX),
        make_lock(PHOENIX, PHOENIX_LOCK),
        "all",
        app=app("phoenix ~> 1.7", "jason ~> 1.4"),
        deadline_seconds=4,
        clock=lambda: float(next(ticks)),
    )
    assert isinstance(result, Plan)
    assert result.incomplete_reason == (
        "the time budget ran out before the search finished; narrow the update to fewer packages or try again"
    )
    assert result.removed == ()
    assert "incomplete: the changes listed are tentative picks, not a finished plan" in result.notes


def test_package_bound_counts_distinct_packages() -> None:
    # phoenix, plug, phoenix_pubsub, phoenix_template, and jason, looked at though optional and left out.
    index = DictIndex(PHOENIX)
    complete = plan_update(index, {}, "all", app=app("phoenix ~> 1.7"), max_packages=5)
    assert isinstance(complete, Plan)
    assert complete.incomplete_reason is None
    assert sorted(set(index.asked)) == ["jason", "phoenix", "phoenix_pubsub", "phoenix_template", "plug"]
    assert [a.name for a in complete.added] == ["phoenix", "phoenix_pubsub", "phoenix_template", "plug"]
    cut = plan_update(DictIndex(PHOENIX), {}, "all", app=app("phoenix ~> 1.7"), max_packages=4)
    assert isinstance(cut, Plan)
    assert cut.incomplete_reason == (
        "the search reached more than 4 packages; narrow the update to fewer packages or try again"
    )


def test_held_without_a_direct_blocker_points_at_a_target() -> None:
    result = run(by_id("diamond resolved by an older parent"))
    assert isinstance(result, Plan)
    assert result.held[0].because == (
        "newer a releases need versions that conflict with the rest of the plan; "
        "plan again with the target a >= 1.1.0 to see the conflict",
    )


def test_hostile_registry_too_many_versions() -> None:
    registry = {"big": {f"1.0.{i}": [] for i in range(MAX_VERSIONS_PER_PACKAGE + 1)}}
    result = plan_update(DictIndex(registry), {}, "all", app=app("big"))
    assert isinstance(result, Plan)
    assert result.incomplete_reason == (
        f"big lists {MAX_VERSIONS_PER_PACKAGE + 1} releases, more than the {MAX_VERSIONS_PER_PACKAGE} allowed; "
        "narrow the update to fewer packages or try again"
    )


def test_hostile_registry_too_many_deps() -> None:
    deps = [f"d{i} ~> 1.0" for i in range(MAX_DEPS_PER_RELEASE + 1)]
    result = plan_update(DictIndex({"wide": {"1.0.0": deps}}), {}, "all", app=app("wide"))
    assert isinstance(result, Plan)
    assert result.incomplete_reason is not None
    assert result.incomplete_reason.startswith(f"wide 1.0.0 lists {MAX_DEPS_PER_RELEASE + 1} dependencies")


def test_invalid_requirement_in_registry_makes_that_release_unusable() -> None:
    registry = {"a": {"1.0.0": [], "1.1.0": ["b ~> banana"]}, "b": {"1.0.0": []}}
    result = plan_update(DictIndex(registry), {}, "all", app=app("a ~> 1.0"))
    assert isinstance(result, Plan)
    assert [(a.name, a.version) for a in result.added] == [("a", "1.0.0")]


def test_unparseable_versions_in_registry_are_skipped() -> None:
    registry = {"a": {"1.0.0": [], "v2": [], "1.1": []}}
    result = plan_update(DictIndex(registry), {}, "all", app=app("a"))
    assert isinstance(result, Plan)
    assert [(a.name, a.version) for a in result.added] == [("a", "1.0.0")]


# --- input errors ---


def test_unknown_name_to_update() -> None:
    with pytest.raises(PlanInputError) as info:
        plan_update(
            DictIndex(PHOENIX), make_lock(PHOENIX, PHOENIX_LOCK), ["phoenx"], app=app("phoenix ~> 1.7")
        )
    assert str(info.value) == (
        "not a Hex dependency in mix.lock or mix.exs: phoenx. "
        "Check the names (package names, as in mix.lock), or give a target to add one."
    )


def test_invalid_mix_exs_requirement() -> None:
    with pytest.raises(PlanInputError) as info:
        plan_update(DictIndex(PHOENIX), {}, "all", app=[AppRequirement("phoenix", "~> 1")])
    assert str(info.value).startswith("mix.exs: requirement on phoenix: invalid requirement '~> 1'")
    assert str(info.value).endswith("Fix it and ask again.")


def test_invalid_target() -> None:
    with pytest.raises(PlanInputError) as info:
        plan_update(DictIndex(PHOENIX), {}, "all", app=app("phoenix"), targets={"plug": "1.2"})
    assert str(info.value).startswith("your target for plug: invalid requirement '1.2'")


# --- update_status (mix hex.outdated) ---

OUTDATED_LOCK = make_lock(PHOENIX, PHOENIX_LOCK)


def test_status_possible() -> None:
    assert update_status("jason", "1.4.4", OUTDATED_LOCK, app("jason ~> 1.4")) == Possible("1.4.4")


def test_status_blocked_by_mix_exs() -> None:
    assert update_status("jason", "2.0.0", OUTDATED_LOCK, app("jason ~> 1.4")) == Blocked(
        "2.0.0",
        (Blocker("~> 1.4", "mix.exs", None, "mix.exs"), Blocker("~> 1.0", "phoenix", "1.7.0", "locked")),
    )


def test_status_blocked_by_locked_parent() -> None:
    assert update_status("plug", "2.0.0", OUTDATED_LOCK, app("phoenix ~> 1.7")) == Blocked(
        "2.0.0", (Blocker("~> 1.14", "phoenix", "1.7.0", "locked"),)
    )


def test_status_optional_requirement_alone_does_not_block() -> None:
    lock = {
        "a": LockedPackage("1.0.0", (Dep("opt", "~> 1.0", optional=True),)),
        "opt": LockedPackage("1.0.0", ()),
    }
    assert update_status("opt", "2.0.0", lock, app("a")) == Possible("2.0.0")
    assert update_status("opt", "2.0.0", lock, app("a", "opt")) == Blocked(
        "2.0.0", (Blocker("~> 1.0", "a", "1.0.0", "locked"),)
    )


def test_status_override_ignores_package_requirements() -> None:
    overridden = [AppRequirement("plug", ">= 1.0.0", override=True)]
    assert update_status("plug", "2.0.0", OUTDATED_LOCK, overridden) == Possible("2.0.0")


def test_status_reads_the_index_for_old_lock_entries() -> None:
    lock = {"phoenix": LockedPackage("1.7.0", None), "plug": LockedPackage("1.14.0", ())}
    assert update_status("plug", "2.0.0", lock, []) == Possible("2.0.0")
    assert update_status("plug", "2.0.0", lock, [], DictIndex(PHOENIX)) == Blocked(
        "2.0.0", (Blocker("~> 1.14", "phoenix", "1.7.0", "locked"),)
    )


def test_status_invalid_requirement_blocks() -> None:
    lock = {"a": LockedPackage("1.0.0", (Dep("b", "~> nope"),))}
    assert update_status("b", "1.0.0", lock, []) == Blocked(
        "1.0.0", (Blocker("~> nope", "a", "1.0.0", "locked"),)
    )


def test_status_invalid_latest_raises() -> None:
    with pytest.raises(ValueError, match="invalid version"):
        update_status("b", "latest", {}, [])


def test_round_limit_reports_incomplete(monkeypatch: pytest.MonkeyPatch) -> None:
    import hex_mcp.plan as plan_module

    monkeypatch.setattr(plan_module, "_MAX_ROUNDS", 2)
    result = run(by_id("update all"))
    assert isinstance(result, Plan)
    assert result.incomplete_reason == (
        "the resolver gave up after 2 rounds; narrow the update to fewer packages or try again"
    )


def test_conflict_path_is_cut_when_too_long() -> None:
    # app -> p0 -> p1 -> ... -> p7, which clashes with the app's own requirement on c: 8 hops, over the limit.
    registry: dict[str, dict[str, list[str]]] = {f"p{i}": {"1.0.0": [f"p{i + 1} ~> 1.0"]} for i in range(7)}
    registry["p7"] = {"1.0.0": ["c ~> 2.0"]}
    registry["c"] = {"1.0.0": [], "2.0.0": []}
    result = plan_update(DictIndex(registry), {}, "all", app=app("p0 ~> 1.0", "c ~> 1.0"))
    assert isinstance(result, Conflict)
    assert result.text.splitlines()[1:3] == [
        "- p7 1.0.0 requires c ~> 2.0",
        "- your mix.exs requires c ~> 1.0",
    ]
    short = plan_update(DictIndex(registry), {}, "all", app=app("p5 ~> 1.0", "c ~> 1.0"))
    assert isinstance(short, Conflict)
    assert short.text.splitlines()[1:5] == [
        "- your mix.exs requires p5 ~> 1.0",
        "- p5 1.0.0 requires p6 ~> 1.0",
        "- p6 1.0.0 requires p7 ~> 1.0",
        "- p7 1.0.0 requires c ~> 2.0",
    ]
