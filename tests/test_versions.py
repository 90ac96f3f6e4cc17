"""Elixir ``Version`` semantics: parsing, ordering, requirements and the Hex pre-release rule.

Cases marked "Elixir docs" / "Elixir tests" are taken from Elixir's ``Version`` module
documentation and its ``version_test.exs``, so that behaviour stays identical to ``mix``.
"""

from __future__ import annotations

import itertools
import operator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hex_mcp.versions import (
    Requirement,
    Version,
    VersionError,
    hex_pick,
    highest_matching,
    is_requirement,
    sort_versions,
    update_kind,
)

# --- parsing -----------------------------------------------------------------------------------


PARSE_VALID: list[tuple[str, int, int, int, tuple[int | str, ...]]] = [
    ("1.2.3", 1, 2, 3, ()),
    ("0.0.0", 0, 0, 0, ()),
    ("10.20.30", 10, 20, 30, ()),
    ("2.0.1-alpha1", 2, 0, 1, ("alpha1",)),  # Elixir docs
    ("1.4.5-6-g3318bd5", 1, 4, 5, ("6-g3318bd5",)),  # Elixir tests: "-" inside an identifier
    ("1.4.5-6.7.eight", 1, 4, 5, (6, 7, "eight")),  # Elixir tests
    ("1.0.0-rc.10", 1, 0, 0, ("rc", 10)),
    ("1.0.0-0", 1, 0, 0, (0,)),
    ("1.0.0-0A.is.legal", 1, 0, 0, ("0A", "is", "legal")),
    ("1.0.0-x-y-z.--", 1, 0, 0, ("x-y-z", "--")),
]


@pytest.mark.parametrize(("text", "major", "minor", "patch", "pre"), PARSE_VALID)
def test_parse_valid(text: str, major: int, minor: int, patch: int, pre: tuple[int | str, ...]) -> None:
    version = Version.parse(text)
    assert (version.major, version.minor, version.patch, version.pre) == (major, minor, patch, pre)
    assert str(version) == text
    assert version.is_prerelease == bool(pre)


PARSE_INVALID: list[tuple[str, str]] = [
    ("1.2", "only '~>' accepts MAJOR.MINOR"),
    ("2.0-alpha1", "expected MAJOR.MINOR.PATCH"),  # Elixir docs
    ("2", "expected MAJOR.MINOR.PATCH"),
    ("1.2.3.4", "expected MAJOR.MINOR.PATCH"),
    ("01.2.3", "leading zero"),
    ("1.02.3", "leading zero"),
    ("1.2.03", "leading zero"),
    ("2.3.0-01", "leading zero"),  # Elixir tests
    ("1.2.3+build", "build metadata"),
    ("1.4.5+ignore", "build metadata"),  # Elixir accepts it; hex.pm does not
    ("1.0.0-alpha+001", "build metadata"),
    ("", "empty"),
    ("foobar", "expected MAJOR.MINOR.PATCH"),
    ("x.0.0", "not a non-negative integer"),
    ("v1.2.3", "drop the leading 'v'"),
    ("1.0.0-", "empty pre-release identifier"),
    ("1.0.0-a..b", "empty pre-release identifier"),
    ("1.0.0-a_b", "may only use"),
    ("1.0.0-é", "may only use"),
    (" 1.0.0", "not a non-negative integer"),
    ("1.-1.0", "expected MAJOR.MINOR.PATCH"),
    ("1.0.-1", "not a non-negative integer"),
    ("\u0661.0.0", "not a non-negative integer"),  # ARABIC-INDIC DIGIT ONE
    ("1" * 200 + ".0.0", "longer than"),
    ("100000000000000.0.0", "major has more than 14 digits"),  # current Elixir's cap
    ("1.100000000000000.0", "minor has more than 14 digits"),
    ("1.0.100000000000000", "patch has more than 14 digits"),
    ("1.0.0-rc.100000000000000", "has more than 14 digits"),
    ("1.0.0-" + "a" * 123, "longer than 128"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_INVALID)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(VersionError, match="invalid version") as info:
        Version.parse(text)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    assert Version.try_parse(text) is None


# --- ordering ----------------------------------------------------------------------------------

# (a, b, expected) with expected in {"gt", "lt", "eq"}: Elixir tests and docs for Version.compare/2.
COMPARE_CASES = [
    ("1.0.1", "1.0.0", "gt"),
    ("1.1.0", "1.0.1", "gt"),
    ("2.1.1", "1.2.2", "gt"),
    ("1.0.0", "1.0.0-dev", "gt"),
    ("1.2.3-dev", "0.1.2", "gt"),
    ("1.0.0-a.b", "1.0.0-a", "gt"),
    ("1.0.0-b", "1.0.0-a.b", "gt"),
    ("1.0.0-a", "1.0.0-0", "gt"),
    ("1.0.0-a.b", "1.0.0-a.a", "gt"),
    ("2.0.1-alpha1", "2.0.0", "gt"),
    ("1.0.0-10", "1.0.0-2", "gt"),
    ("1.0.0-rc.10", "1.0.0-rc.2", "gt"),
    ("1.0.0-beta", "1.0.0-rc1", "lt"),
    ("1.0.0", "1.0.1", "lt"),
    ("1.0.1", "1.1.0", "lt"),
    ("1.2.2", "2.1.1", "lt"),
    ("1.0.0-dev", "1.0.0", "lt"),
    ("0.1.2", "1.2.3-dev", "lt"),
    ("1.0.0-a", "1.0.0-a.b", "lt"),
    ("1.0.0-a.b", "1.0.0-b", "lt"),
    ("1.0.0-0", "1.0.0-a", "lt"),
    ("1.0.0-a.a", "1.0.0-a.b", "lt"),
    ("1.0.0-rc.1", "1.0.0-rc.1.1", "lt"),
    ("1.0.0-Z", "1.0.0-a", "lt"),  # ASCII order: upper case first
    ("1.0.0", "1.0.0", "eq"),
    ("1.0.0-dev", "1.0.0-dev", "eq"),
    ("1.0.0-a", "1.0.0-a", "eq"),
]


@pytest.mark.parametrize(("a", "b", "expected"), COMPARE_CASES)
def test_compare(a: str, b: str, expected: str) -> None:
    va, vb = Version.parse(a), Version.parse(b)
    assert (va > vb) == (expected == "gt")
    assert (va < vb) == (expected == "lt")
    assert (va == vb) == (expected == "eq")
    assert (va >= vb) == (expected != "lt")
    assert (va <= vb) == (expected != "gt")


def test_semver_spec_precedence_chain() -> None:
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ]
    parsed = [Version.parse(text) for text in chain]
    assert parsed == sorted(parsed)
    for lower, higher in itertools.pairwise(parsed):
        assert lower < higher


def test_sort_versions_hex_listing() -> None:
    listing = ["1.0.0-rc.10", "20.0.0-rc.1", "10.0.0", "1.0.0-rc.2", "2.0.0"]
    assert sort_versions(listing) == ["20.0.0-rc.1", "10.0.0", "2.0.0", "1.0.0-rc.10", "1.0.0-rc.2"]


def test_sort_versions_puts_unparseable_last_in_input_order() -> None:
    assert sort_versions(["1.0.0", "garbage", "2.0.0", "1.2"]) == ["2.0.0", "1.0.0", "garbage", "1.2"]
    assert sort_versions([]) == []


def test_versions_are_hashable_and_equal_by_value() -> None:
    assert Version.parse("1.0.0-rc.1") == Version(1, 0, 0, ("rc", 1))
    assert len({Version.parse("1.0.0"), Version(1, 0, 0)}) == 1


# --- requirements: Elixir's examples -----------------------------------------------------------

# (requirement, version, allow_pre, expected)
MATCH_CASES: list[tuple[str, str, bool, bool]] = [
    # Elixir docs: the allow_pre table ("true or false" rows appear once per value)
    ("~> 2.0", "2.1.0", True, True),
    ("~> 2.0", "2.1.0", False, True),
    ("~> 2.0", "3.0.0", True, False),
    ("~> 2.0", "3.0.0", False, False),
    ("~> 2.0.0", "2.0.5", True, True),
    ("~> 2.0.0", "2.0.5", False, True),
    ("~> 2.0.0", "2.1.0", True, False),
    ("~> 2.0.0", "2.1.0", False, False),
    ("~> 2.1.2", "2.1.6-dev", True, True),
    ("~> 2.1.2", "2.1.6-dev", False, False),
    ("~> 2.1-dev", "2.2.0-dev", True, True),
    ("~> 2.1-dev", "2.2.0-dev", False, True),
    ("~> 2.1.2-dev", "2.1.6-dev", True, True),
    ("~> 2.1.2-dev", "2.1.6-dev", False, True),
    (">= 2.1.0", "2.2.0-dev", True, True),
    (">= 2.1.0", "2.2.0-dev", False, False),
    (">= 2.1.0-dev", "2.2.6-dev", True, True),
    (">= 2.1.0-dev", "2.2.6-dev", False, True),
    # Elixir docs: match?/3 examples
    ("> 1.0.0", "2.0.0", True, True),
    ("== 1.0.0", "2.0.0", True, False),
    # Elixir tests: ==
    ("2.3.0", "2.3.0", True, True),
    ("2.3.0", "2.4.0", True, False),
    ("== 2.3.0", "2.3.0", True, True),
    ("== 2.3.0", "2.4.0", True, False),
    ("1.2.3-alpha", "1.2.3-alpha", False, True),
    ("== 1.2.3-alpha", "1.2.3-alpha", False, True),
    # Elixir tests: != (and its old spelling "!")
    ("!2.3.0", "2.4.0", True, True),
    ("!2.3.0", "2.3.0", True, False),
    ("!= 2.3.0", "2.4.0", True, True),
    ("!= 2.3.0", "2.3.0", True, False),
    # Elixir tests: >
    ("> 2.3.0", "2.4.0", True, True),
    ("> 2.3.0", "2.2.0", True, False),
    ("> 2.3.0", "2.3.0", True, False),
    ("> 1.2.3-alpha", "1.2.3", True, True),
    ("> 1.2.3-alpha", "1.2.3-alpha.1", True, True),
    ("> 1.2.3-alpha.beta", "1.2.3-alpha.beta.sigma", True, True),
    ("> 0.10.2", "0.10.2-dev", True, False),
    # Elixir tests: >=
    (">= 2.3.0", "2.4.0", True, True),
    (">= 2.3.0", "2.2.0", True, False),
    (">= 2.3.0", "2.3.0", True, True),
    (">= 1.0.0", "2.0.0", True, True),
    (">= 1.0.0", "1.0.0", True, True),
    # Elixir tests: <
    ("< 2.3.0", "2.2.0", True, True),
    ("< 2.3.0", "2.4.0", True, False),
    ("< 2.3.0", "2.3.0", True, False),
    ("< 1.2.3-alpha.1", "1.2.3-alpha.10", True, False),
    ("< 0.10.2", "0.10.2-dev", True, True),
    ("< 1.0.0-dev", "1.0.0", True, False),
    ("< 0.1.2", "1.2.3-dev", True, False),
    # Elixir tests: <=
    ("<= 2.3.0", "2.2.0", True, True),
    ("<= 2.3.0", "2.4.0", True, False),
    ("<= 2.3.0", "2.3.0", True, True),
    # Elixir tests: ~>
    ("~> 3.0", "3.0.0", True, True),
    ("~> 3.0", "3.2.0", True, True),
    ("~> 3.0", "4.0.0", True, False),
    ("~> 3.0", "4.4.0", True, False),
    ("~> 3.0.0", "3.0.2", True, True),
    ("~> 3.0.0", "3.0.0", True, True),
    ("~> 3.0.0", "3.1.0", True, False),
    ("~> 3.0.0", "3.4.0", True, False),
    ("~> 3.5", "3.6.0", True, True),
    ("~> 3.5", "3.5.0", True, True),
    ("~> 3.5", "4.0.0", True, False),
    ("~> 3.5", "5.0.0", True, False),
    ("~> 3.5.0", "3.5.2", True, True),
    ("~> 3.5.0", "3.5.4", True, True),
    ("~> 3.5.0", "3.6.0", True, False),
    ("~> 3.5.0", "3.6.3", True, False),
    ("~> 0.9.3-dev", "0.9.3", True, True),
    ("~> 0.9.3-dev", "0.10.0", True, False),
    ("~> 0.2.0", "0.3.0-dev", True, False),
    # Elixir tests: ~> never includes pre-releases of its upper bound
    ("~> 2.1.0", "2.2.0-dev", True, False),
    ("~> 2.1.0", "2.2.0-dev", False, False),
    ("~> 2.1.0-dev", "2.2.0-dev", True, False),
    ("~> 2.1.0-dev", "2.2.0-dev", False, False),
    ("~> 2.0", "3.0.0-rc.1", True, False),
    # Elixir tests: allow_pre
    ("~> 1.0", "1.1.0", True, True),
    ("~> 1.0", "1.1.0", False, True),
    ("~> 1.0", "1.1.0-beta", True, True),
    ("~> 1.0", "1.1.0-beta", False, False),
    ("~> 1.0.0-beta", "1.0.1-beta", False, True),
    (">= 1.0.0", "1.1.0", True, True),
    (">= 1.0.0", "1.1.0", False, True),
    (">= 1.0.0", "1.1.0-beta", True, True),
    (">= 1.0.0", "1.1.0-beta", False, False),
    (">= 1.0.0-beta", "1.1.0-beta", False, True),
    # Elixir tests: and / or
    ("> 0.9.0 and < 0.10.0", "0.9.3", True, True),
    ("> 0.9.0 and < 0.10.0", "0.10.2", True, False),
    ("0.9.1 or 0.9.3 or 0.9.5", "0.9.1", True, True),
    ("0.9.1 or 0.9.3 or 0.9.5", "0.9.3", True, True),
    ("0.9.1 or 0.9.3 or 0.9.5", "0.9.5", True, True),
    ("0.9.1 or 0.9.3 or 0.9.5", "0.9.6", True, False),
    # Common Hex requirements
    ("~> 1.0 or ~> 2.0", "2.5.1", False, True),
    ("~> 1.0 or ~> 2.0", "1.4.0", False, True),
    ("~> 1.0 or ~> 2.0", "3.0.0", False, False),
    ("~> 1.0 or ~> 2.0", "0.9.0", False, False),
    (">= 1.0.0 and < 2.0.0", "1.9.9", False, True),
    (">= 1.0.0 and < 2.0.0", "2.0.0", False, False),
    (">= 1.0.0 and < 2.0.0", "1.5.0-rc.1", False, False),
    (">= 0.0.0", "0.0.1", False, True),
    # Glued operators and extra whitespace lex like Elixir ("    >     2.4.0", ">2.4.0").
    (">2.4.0", "2.5.0", False, True),
    ("    >     2.4.0", "2.5.0", False, True),
    ("~>1.7", "1.8.0", False, True),
]


@pytest.mark.parametrize(("requirement", "version", "allow_pre", "expected"), MATCH_CASES)
def test_matches(requirement: str, version: str, allow_pre: bool, expected: bool) -> None:
    req = Requirement.parse(requirement)
    assert req.matches(version, allow_pre=allow_pre) is expected
    assert req.matches(Version.parse(version), allow_pre=allow_pre) is expected


def test_matches_defaults_to_hex_rule() -> None:
    assert not Requirement.parse("~> 2.1.2").matches("2.1.6-dev")
    assert Requirement.parse("~> 2.1.2").matches("2.1.6-dev", allow_pre=True)


# --- the "~>" translation table ----------------------------------------------------------------

# Elixir docs table; the upper bounds are written "-0" because "~>" never admits pre-releases of
# the upper bound while a plain "<" does.
TILDE_TABLE = [
    ("~> 2.0.0", ">= 2.0.0 and < 2.1.0-0"),
    ("~> 2.1.2", ">= 2.1.2 and < 2.2.0-0"),
    ("~> 2.1.3-dev", ">= 2.1.3-dev and < 2.2.0-0"),
    ("~> 2.0", ">= 2.0.0 and < 3.0.0-0"),
    ("~> 2.1", ">= 2.1.0 and < 3.0.0-0"),
    ("~> 2.0.0-rc.1", ">= 2.0.0-rc.1 and < 2.1.0-0"),
    ("~> 2.1-dev", ">= 2.1.0-dev and < 3.0.0-0"),
]

GRID = [
    f"{major}.{minor}.{patch}{pre}"
    for major in (1, 2, 3)
    for minor in (0, 1, 2)
    for patch in (0, 1, 2, 3, 4)
    for pre in ("", "-dev", "-rc.1", "-rc.2", "-0")
]


@pytest.mark.parametrize(("tilde", "translation"), TILDE_TABLE)
@pytest.mark.parametrize("allow_pre", [True, False])
def test_tilde_table(tilde: str, translation: str, allow_pre: bool) -> None:
    left, right = Requirement.parse(tilde), Requirement.parse(translation)
    for version in GRID:
        assert left.matches(version, allow_pre=allow_pre) == right.matches(version, allow_pre=allow_pre), (
            version
        )


TILDE_EDGES: list[tuple[str, str, bool]] = [
    ("~> 2.0.0-rc.1", "2.0.0-rc.1", True),
    ("~> 2.0.0-rc.1", "2.0.0-rc.0", False),
    ("~> 2.0.0-rc.1", "2.0.0-rc.10", True),
    ("~> 2.0.0-rc.1", "2.0.0", True),
    ("~> 2.0.0-rc.1", "2.0.9", True),
    ("~> 2.0.0-rc.1", "2.0.9-beta", True),  # the operand is a pre-release, so pre-releases are in
    ("~> 2.0.0-rc.1", "2.1.0-0", False),
    ("~> 2.0.0-rc.1", "2.1.0", False),
    ("~> 2.0.0-rc.1", "1.9.9", False),
]


@pytest.mark.parametrize(("requirement", "version", "expected"), TILDE_EDGES)
def test_tilde_prerelease_edges(requirement: str, version: str, expected: bool) -> None:
    assert Requirement.parse(requirement).matches(version) is expected


# --- the pre-release rule, both ways -----------------------------------------------------------


PRERELEASE_RULE: list[tuple[str, str, bool, bool]] = [
    ("~> 1.7", "1.8.0-rc.0", False, True),
    ("~> 1.8-rc", "1.8.0-rc.0", True, True),
    (">= 1.0.0", "2.0.0-rc.1", False, True),
    (">= 2.0.0-rc.0", "2.0.0-rc.1", True, True),
    ("> 1.0.0", "1.0.1-beta", False, True),
    ("== 2.0.0-rc.1", "2.0.0-rc.1", True, True),
    ("== 2.0.0", "2.0.0-rc.1", False, False),
    # Only the matching clause's own operand counts, as in Elixir.
    ("~> 1.0 or ~> 2.0-rc", "2.0.0-rc.1", True, True),
    ("~> 1.0 or ~> 2.0", "2.1.0-rc.1", False, True),
    (">= 1.0.0-rc.1 and < 2.0.0", "1.5.0-beta", True, True),
    # Upper bounds and "!=" are plain comparisons in Elixir, with or without allow_pre.
    ("< 2.0.0", "1.9.0-rc.1", True, True),
    ("<= 2.0.0", "2.0.0-rc.1", True, True),
    ("!= 1.0.0", "1.1.0-dev", True, True),
]


@pytest.mark.parametrize(("requirement", "version", "strict", "lenient"), PRERELEASE_RULE)
def test_prerelease_rule(requirement: str, version: str, strict: bool, lenient: bool) -> None:
    req = Requirement.parse(requirement)
    assert req.matches(version, allow_pre=False) is strict
    assert req.matches(version, allow_pre=True) is lenient


# --- and / or precedence -----------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    req = Requirement.parse("== 1.0.0 or >= 2.0.0 and < 3.0.0")
    assert req.matches("1.0.0")  # (== 1.0.0) or (>= 2.0.0 and < 3.0.0)
    assert req.matches("2.5.0")
    assert not req.matches("3.1.0")
    req = Requirement.parse(">= 2.0.0 and < 3.0.0 or == 1.0.0")
    assert req.matches("1.0.0")
    assert req.matches("2.5.0")
    assert not req.matches("1.5.0")


# --- requirement text --------------------------------------------------------------------------


REQUIREMENT_NORMALIZED: list[tuple[str, str]] = [
    ("~> 1.7", "~> 1.7"),
    ("~>1.7.14", "~> 1.7.14"),
    ("  >=1.0.0   and   <2.0.0 ", ">= 1.0.0 and < 2.0.0"),
    ("~> 1.0 or ~> 2.0", "~> 1.0 or ~> 2.0"),
    ("1.0.0", "1.0.0"),
    ("== 1.0.0", "== 1.0.0"),
    ("!2.3.0", "!= 2.3.0"),
    ("~> 2.1-dev", "~> 2.1-dev"),
    ("~> 2.0.0-rc.1", "~> 2.0.0-rc.1"),
]


@pytest.mark.parametrize(("text", "normalized"), REQUIREMENT_NORMALIZED)
def test_requirement_str_is_normalized(text: str, normalized: str) -> None:
    req = Requirement.parse(text)
    assert str(req) == normalized
    assert Requirement.parse(str(req)) == req


REQUIREMENT_INVALID: list[tuple[str, str]] = [
    ("", "empty requirement"),
    ("   ", "empty requirement"),
    ("1.2", "needs a full MAJOR.MINOR.PATCH"),
    (">= 1.2", "needs a full MAJOR.MINOR.PATCH"),
    ("< 2.0", "only '~>' accepts MAJOR.MINOR"),
    ("~> 1", "needs at least MAJOR.MINOR"),
    ("~> 3", "needs at least MAJOR.MINOR"),  # Elixir tests
    ("01.2.3", "leading zero"),
    ("~> 01.2", "leading zero"),
    ("1.2.3+build", "build metadata"),
    ("== 0.9.3+dev", "build metadata"),
    ("~> 1.0 and", "dangling 'and'"),
    ("~> 1.0 or", "dangling 'or'"),
    ("and ~> 1.0", "'and' at the start"),
    ("~> 1.0 and or ~> 2.0", "'or' right after 'and'"),
    ("== == 2.0.1", "'==' is followed by '=='"),  # Elixir docs
    (">>= 1.0.0", "'>' is followed by '>='"),
    (">=", "missing version after '>='"),
    ("foo", "expected MAJOR.MINOR.PATCH"),  # Elixir tests
    ("1.0.0 2.0.0", "join clauses with 'and' / 'or'"),
    ("~> 1.0 || ~> 2.0", "unexpected '||'"),
    ("~> 1.2.3.4", "expected MAJOR.MINOR.PATCH"),
    ("=1.0.0", "'=1'"),
    ("~> " + "1" * 2000, "longer than"),
    ("~>\t1.0", "'\\t1' is not a non-negative integer"),  # only a plain space separates, as in Elixir
    ("1.0.0\tand 2.0.0", "(only plain spaces separate tokens; found '\\t')"),
    (
        "~> 1.0\u00a0or ~> 2.0",
        "minor '0\\xa0or' is not a non-negative integer (only plain spaces separate tokens; found '\\xa0')",
    ),
    ("~> 100000000000000.0", "more than 14 digits"),
]


@pytest.mark.parametrize(("text", "message"), REQUIREMENT_INVALID)
def test_requirement_invalid(text: str, message: str) -> None:
    with pytest.raises(VersionError, match="invalid requirement") as info:
        Requirement.parse(text)
    assert message in str(info.value)


def test_matches_rejects_invalid_version() -> None:
    with pytest.raises(VersionError, match="invalid version 'foo'"):
        Requirement.parse("== 1.0.0").matches("foo")  # Elixir docs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.7.14", False),
        ("1.7.14-rc.0", False),
        (" 1.7.14 ", False),
        ("1.7", False),
        ("", False),
        ("~> 1.7", True),
        (">= 1.0.0", True),
        ("== 1.0.0", True),
        ("!= 1.0.0", True),
        ("<2.0.0", True),
        ("1.0.0 or 2.0.0", True),
        ("1.0.0 and 2.0.0", True),
    ],
)
def test_is_requirement(text: str, expected: bool) -> None:
    assert is_requirement(text) is expected


# --- helpers -----------------------------------------------------------------------------------

RELEASES = ["1.6.16", "1.7.0-rc.3", "1.7.0", "1.7.14", "1.8.0-rc.0", "1.8.0", "2.0.0-rc.1", "not-a-version"]


@pytest.mark.parametrize(
    ("requirement", "allow_pre", "exclude", "expected"),
    [
        ("~> 1.7", False, (), "1.8.0"),
        ("~> 1.7.0", False, (), "1.7.14"),
        ("~> 1.7.0", False, ("1.7.14",), "1.7.0"),
        ("~> 1.6", False, (), "1.8.0"),
        (">= 0.0.0", False, (), "1.8.0"),
        (">= 0.0.0", True, (), "2.0.0-rc.1"),
        ("~> 2.0-rc", False, (), "2.0.0-rc.1"),
        ("~> 3.0", False, (), None),
        ("== 1.7.0-rc.3", False, (), "1.7.0-rc.3"),
        ("~> 1.8", False, ("1.8.0",), None),
    ],
)
def test_highest_matching(
    requirement: str, allow_pre: bool, exclude: tuple[str, ...], expected: str | None
) -> None:
    req = Requirement.parse(requirement)
    assert highest_matching(RELEASES, req, allow_pre=allow_pre, exclude=exclude) == expected


def test_highest_matching_accepts_any_iterable_and_set_exclude() -> None:
    req = Requirement.parse("~> 1.0")
    assert highest_matching(iter(["1.0.0", "1.2.0", "1.1.0"]), req, exclude={"1.2.0"}) == "1.1.0"
    assert highest_matching([], req) is None


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("1.0.0", "2.0.0", "major"),
        ("1.9.9", "2.0.0-rc.1", "major"),
        ("1.0.0", "1.1.0", "minor"),
        ("1.0.5", "1.1.0-rc.0", "minor"),
        ("1.0.0", "1.0.1", "patch"),
        ("1.0.0-rc.1", "1.0.0", "pre"),
        ("1.0.0-rc.1", "1.0.0-rc.2", "pre"),
        ("1.0.0-rc.2", "1.0.0-rc.10", "pre"),
        ("1.0.0-rc.1", "1.0.1", "patch"),
        ("0.9.0", "0.10.0", "minor"),
        ("1.0.0", "1.0.0", ""),
        ("2.0.0", "1.9.0", ""),
        ("1.0.0", "1.0.0-rc.1", ""),
    ],
)
def test_update_kind(current: str, target: str, expected: str) -> None:
    assert update_kind(current, target) == expected


def test_update_kind_rejects_invalid() -> None:
    with pytest.raises(VersionError):
        update_kind("1.0", "1.1.0")


# --- properties --------------------------------------------------------------------------------

_identifier = st.one_of(
    st.integers(min_value=0, max_value=10_000),
    st.text("0123456789abcXYZ-", min_size=1, max_size=8).filter(lambda s: not s.isdigit()),
)
_versions = st.builds(
    Version,
    st.integers(0, 50),
    st.integers(0, 50),
    st.integers(0, 50),
    st.lists(_identifier, max_size=3).map(tuple),
)


@given(_versions)
def test_str_round_trips(version: Version) -> None:
    assert Version.parse(str(version)) == version


@given(_versions, _versions)
def test_ordering_is_consistent(a: Version, b: Version) -> None:
    assert (a < b) + (a == b) + (a > b) == 1
    assert (a <= b) == (not a > b)
    if a.pre == () and b.pre != () and (a.major, a.minor, a.patch) == (b.major, b.minor, b.patch):
        assert a > b


@given(_versions, _versions)
def test_tilde_agrees_with_its_translation(bound: Version, version: Version) -> None:
    tilde = Requirement.parse(f"~> {bound}")
    upper = Version(bound.major, bound.minor + 1, 0, (0,))
    translation = Requirement.parse(f">= {bound} and < {upper}")
    for allow_pre in (True, False):
        assert tilde.matches(version, allow_pre=allow_pre) == translation.matches(
            version, allow_pre=allow_pre
        )


# --- limits, comparisons with other types ------------------------------------------------------


def test_fourteen_digits_are_fine() -> None:
    version = Version.parse("99999999999999.0.0-99999999999999")
    assert (version.major, version.pre) == (99_999_999_999_999, (99_999_999_999_999,))
    assert Version.parse("1.0.0-" + "a" * 122).pre == ("a" * 122,)  # exactly 128 characters


@pytest.mark.parametrize("other", [5, "1.0.0", None, (1, 0, 0)])
def test_ordering_against_other_types_raises_type_error(other: object) -> None:
    version = Version.parse("1.0.0")
    for compare in (operator.lt, operator.le, operator.gt, operator.ge):
        with pytest.raises(TypeError, match="not supported between instances of 'Version'"):
            compare(version, other)  # type: ignore[arg-type]  # the mismatch is the point
    assert version != other
    assert not version == other  # noqa: SIM201 (testing __eq__ itself)


def test_sort_key_is_precomputed_and_not_part_of_equality() -> None:
    version = Version(1, 2, 3, ("rc", 1))
    assert version.key == (1, 2, 3, 0, ((1, 0, "rc"), (0, 1, "")))
    assert Version(1, 2, 3).key == (1, 2, 3, 1, ())
    assert repr(version) == "Version(major=1, minor=2, patch=3, pre=('rc', 1))"


def test_sort_versions_keeps_equal_versions_in_given_order() -> None:
    assert sort_versions(["1.0.0", "2.0.0", "1.0.0", "x"]) == ["2.0.0", "1.0.0", "1.0.0", "x"]


# --- Hex's resolver pick -----------------------------------------------------------------------

HEX_PICK_RELEASES = ["1.0.0", "1.1.0", "1.2.0-rc.0", "2.0.0-rc.1", "2.0.0-rc.2", "3.0.0-dev", "junk"]


@pytest.mark.parametrize(
    ("requirement", "exclude", "expected"),
    [
        ("~> 1.0", (), "1.1.0"),  # a stable version wins over a newer pre-release in range
        ("~> 1.0", ("1.1.0", "1.0.0"), "1.2.0-rc.0"),  # no stable left: the newest pre-release
        ("~> 1.1 and > 1.1.0", (), "1.2.0-rc.0"),  # allowed by plain order though the operands are stable
        ("> 1.1.0 and < 2.0.0", (), "2.0.0-rc.2"),  # "<" is plain order too: 2.0.0-rc.2 < 2.0.0
        (">= 0.0.0", (), "1.1.0"),
        ("~> 2.0", (), None),  # its lower bound 2.0.0 is above 2.0.0-rc.*
        ("~> 2.0-rc", (), "2.0.0-rc.2"),
        ("~> 1.1.0", (), "1.1.0"),
        ("~> 2.9", (), None),  # "~>" stops before 3.0.0-0, so 3.0.0-dev is out
        (">= 2.9.0", (), "3.0.0-dev"),
        ("== 2.0.0-rc.1", (), "2.0.0-rc.1"),
        ("!= 1.1.0 and < 2.0.0", (), "1.0.0"),
        ("~> 4.0", (), None),
    ],
)
def test_hex_pick(requirement: str, exclude: tuple[str, ...], expected: str | None) -> None:
    assert hex_pick(HEX_PICK_RELEASES, Requirement.parse(requirement), exclude=exclude) == expected


def test_hex_pick_differs_from_the_allow_pre_rule() -> None:
    req = Requirement.parse("~> 1.1 and > 1.1.0")
    assert highest_matching(HEX_PICK_RELEASES, req) is None  # Version.match?(..., allow_pre: false)
    assert hex_pick(HEX_PICK_RELEASES, req) == "1.2.0-rc.0"
    assert hex_pick(iter([]), req) is None
