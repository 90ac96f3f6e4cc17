"""Elixir ``Version`` semantics in pure Python: parsing, SemVer ordering and requirement matching.

Hex packages are versioned with SemVer 2.0 and depend on each other through Elixir requirement
strings (``"~> 1.7"``, ``">= 1.0.0 and < 2.0.0"``, ``"~> 1.0 or ~> 2.0"``). Answering "what would
this requirement resolve to?" correctly means reproducing Elixir's rules exactly, not some other
ecosystem's: the ``~>`` upper bound excludes the pre-releases of that bound, only ``~>`` accepts a
``MAJOR.MINOR`` operand, ``and`` binds tighter than ``or`` (``a or b and c`` is ``a or (b and c)``,
in Elixir 1.14 as in current Elixir), and only a plain space separates tokens (``"~>\\t1.0"`` is
invalid, as in Elixir).

``tests/test_versions_elixir.py`` checks ``Version.parse``, ``Version.compare``,
``Version.parse_requirement`` and ``Version.match?`` (``allow_pre`` true and false) against the
installed Elixir on the test tables and a seeded random corpus; these are the only differences,
each one asserted there:

* Build metadata (``1.0.0+build``) is rejected, in versions and in requirement operands: hex.pm
  refuses to publish such versions, so one showing up is a mistake worth reporting.
* Every number (major, minor, patch and numeric pre-release identifiers) has at most 14 digits.
  Current Elixir rejects longer version numbers (``Version.parse("100000000000000.0.0")`` is
  ``:error``) so that hostile input cannot make it build huge integers; Elixir 1.14, the tests'
  oracle, accepts them. The same cap on numeric pre-release identifiers is this module's choice.
* A version longer than 128 characters or a requirement longer than 1024 is rejected: far beyond
  anything published, and it bounds the work done on pasted input.

Hex's resolver (hex_solver) does not apply the ``allow_pre: false`` rule at all: it prefers
stable versions instead; ``hex_pick`` reproduces that choice.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Literal

__all__ = [
    "Exact",
    "Latest",
    "Req",
    "Requirement",
    "Version",
    "VersionArg",
    "VersionError",
    "hex_pick",
    "highest_matching",
    "is_prerelease",
    "is_requirement",
    "parse_version_arg",
    "sort_versions",
    "update_kind",
]

# Far beyond any real version or requirement; bounds the work done on pasted input.
_MAX_VERSION_LEN = 128
_MAX_REQUIREMENT_LEN = 1024
# Current Elixir's cap on a version number; it also keeps int() far from its huge-number guard.
_MAX_DIGITS = 14

_IDENTIFIER_RE = re.compile(r"[0-9A-Za-z-]+")
# The shape nearly every real version has, checked in one regex call. Anything it does not match
# goes through the slow parser, which either accepts it too or explains what is wrong.
_NUMBER = rf"(0|[1-9][0-9]{{0,{_MAX_DIGITS - 1}}})"
_FAST_VERSION_RE = re.compile(rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")

Operator = Literal["==", "!=", ">", ">=", "<", "<=", "~>"]
UpdateKind = Literal["major", "minor", "patch", "pre", ""]

# Longest first, so ">=" is not read as ">" followed by "=". "!" is Elixir's old spelling of "!=".
_OPERATORS: tuple[tuple[str, Operator], ...] = (
    (">=", ">="),
    ("<=", "<="),
    ("~>", "~>"),
    ("==", "=="),
    ("!=", "!="),
    (">", ">"),
    ("<", "<"),
    ("!", "!="),
)
_OPERATOR_START = frozenset(text[0] for text, _ in _OPERATORS)

# A version's sort key: (major, minor, patch, release flag, pre-release key). The flag puts a
# release after all of its pre-releases; each pre-release identifier becomes (0, number, "") or
# (1, 0, text), which orders numbers numerically and before text (compared as ASCII), and a longer
# list after its own prefix, as SemVer and Erlang term order do.
_PreKey = tuple[tuple[int, int, str], ...]
_Key = tuple[int, int, int, int, _PreKey]


class VersionError(ValueError):
    """A version or requirement string that Elixir (or hex.pm) would not accept."""


def _is_digits(text: str) -> bool:
    # str.isdigit() alone also accepts non-ASCII digits (Arabic-Indic, Devanagari...), which Elixir rejects.
    return text.isascii() and text.isdigit()


def _parse_number(text: str, what: str, source: str, kind: str) -> int:
    if not _is_digits(text):
        raise VersionError(f"invalid {kind} {source!r}: {what} {text!r} is not a non-negative integer")
    if len(text) > 1 and text[0] == "0":
        raise VersionError(f"invalid {kind} {source!r}: {what} {text!r} has a leading zero")
    if len(text) > _MAX_DIGITS:
        raise VersionError(f"invalid {kind} {source!r}: {what} has more than {_MAX_DIGITS} digits")
    return int(text)


def _parse_pre(text: str, source: str, kind: str) -> tuple[int | str, ...]:
    parts: list[int | str] = []
    for ident in text.split("."):
        if not ident:
            raise VersionError(f"invalid {kind} {source!r}: empty pre-release identifier")
        if not _IDENTIFIER_RE.fullmatch(ident):
            raise VersionError(
                f"invalid {kind} {source!r}: pre-release identifier {ident!r} may only use [0-9A-Za-z-]"
            )
        if _is_digits(ident):
            if len(ident) > 1 and ident[0] == "0":
                raise VersionError(
                    f"invalid {kind} {source!r}: numeric pre-release identifier {ident!r} has a leading zero"
                )
            if len(ident) > _MAX_DIGITS:
                raise VersionError(
                    f"invalid {kind} {source!r}: numeric pre-release identifier {ident[:20]!r}... "
                    f"has more than {_MAX_DIGITS} digits"
                )
            parts.append(int(ident))
        else:
            parts.append(ident)
    return tuple(parts)


def _fast_pre(text: str) -> tuple[int | str, ...] | None:
    """Pre-release identifiers of text the fast regex matched, or None to defer to the slow parser."""
    parts: list[int | str] = []
    for ident in text.split("."):
        if ident.isdigit():  # ASCII only here: the regex admitted nothing else
            if (len(ident) > 1 and ident[0] == "0") or len(ident) > _MAX_DIGITS:
                return None
            parts.append(int(ident))
        else:
            parts.append(ident)
    return tuple(parts)


def _pre_key(pre: tuple[int | str, ...]) -> _PreKey:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in pre)


def _sort_key(major: int, minor: int, patch: int, pre: tuple[int | str, ...]) -> _Key:
    if not pre:
        return (major, minor, patch, 1, ())
    return (major, minor, patch, 0, _pre_key(pre))


def _fast_parse(text: str) -> tuple[int, int, int, tuple[int | str, ...]] | None:
    """Parse the common shape quickly; None means "ask the slow parser" (which may still accept)."""
    if len(text) > _MAX_VERSION_LEN:
        return None
    match = _FAST_VERSION_RE.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, pre_text = match.groups()
    if pre_text is None:
        return int(major), int(minor), int(patch), ()
    pre = _fast_pre(pre_text)
    if pre is None:
        return None
    return int(major), int(minor), int(patch), pre


def _parse_core(text: str, *, allow_two_part: bool, kind: str) -> tuple[Version, bool]:
    """Parse ``MAJOR.MINOR[.PATCH][-PRE]``; returns the version and whether PATCH was omitted."""
    fast = _fast_parse(text)
    if fast is not None:
        return Version(*fast), False
    if not text:
        raise VersionError(f"invalid {kind}: empty version")
    if len(text) > _MAX_VERSION_LEN:
        raise VersionError(f"invalid {kind} {text[:40]!r}...: longer than {_MAX_VERSION_LEN} characters")
    if text[0] in "vV" and _is_digits(text[1:2]):
        raise VersionError(f"invalid {kind} {text!r}: drop the leading {text[0]!r}")
    if "+" in text:
        raise VersionError(
            f"invalid {kind} {text!r}: build metadata ('+...') is not allowed, hex.pm rejects it"
        )
    core, dash, pre_text = text.partition("-")
    numbers = core.split(".")
    if len(numbers) == 2 and allow_two_part:
        major_text, minor_text = numbers
        patch_text: str | None = None
    elif len(numbers) == 3:
        major_text, minor_text, patch_text = numbers
    else:
        hint = ""
        if len(numbers) == 2 and not allow_two_part:
            hint = f" (only '~>' accepts MAJOR.MINOR; did you mean '~> {text}'?)"
        raise VersionError(f"invalid {kind} {text!r}: expected MAJOR.MINOR.PATCH[-PRE]{hint}")
    major = _parse_number(major_text, "major", text, kind)
    minor = _parse_number(minor_text, "minor", text, kind)
    patch = 0 if patch_text is None else _parse_number(patch_text, "patch", text, kind)
    pre = _parse_pre(pre_text, text, kind) if dash else ()
    return Version(major, minor, patch, pre), patch_text is None


@functools.lru_cache(maxsize=32_768)  # release lists are sorted and matched again on every warm answer
def _key_of(text: str) -> _Key | None:
    """The sort key of a version string, or None when it is not a valid version."""
    # The hot path of sorting and matching release lists, hence the inlined fast parse.
    match = _fullmatch(text) if len(text) <= _MAX_VERSION_LEN else None
    if match is not None:
        major, minor, patch, pre_text = match.groups()
        if pre_text is None:
            return (int(major), int(minor), int(patch), 1, ())
        pre = _fast_pre(pre_text)
        if pre is not None:
            return (int(major), int(minor), int(patch), 0, _pre_key(pre))
    version = Version.try_parse(text)
    return None if version is None else version.key


_fullmatch = _FAST_VERSION_RE.fullmatch


@dataclass(frozen=True, slots=True)
class Version:
    """A SemVer 2.0 version as Hex accepts it: ``MAJOR.MINOR.PATCH[-PRE]``, no build metadata.

    Instances order by SemVer precedence: ``1.0.0-rc.2 < 1.0.0-rc.10 < 1.0.0``. Comparing with
    anything but a ``Version`` raises ``TypeError`` (``==`` is simply false).
    """

    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...] = ()
    # Computed once: sorting and matching compare this tuple instead of rebuilding it per comparison.
    key: _Key = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _sort_key(self.major, self.minor, self.patch, self.pre))

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse strictly, as Elixir's ``Version.parse/1`` does (minus build metadata).

        Raises ``VersionError`` naming the offending part.
        """
        return _parse_version(text)

    @classmethod
    def try_parse(cls, text: str) -> Version | None:
        """Like ``parse`` but returns ``None`` for an invalid version."""
        try:
            return cls.parse(text)
        except VersionError:
            return None

    @property
    def is_prerelease(self) -> bool:
        return bool(self.pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key < other.key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key <= other.key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key > other.key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key >= other.key

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}{_pre_suffix(self.pre)}"


def _pre_suffix(pre: tuple[int | str, ...]) -> str:
    return "-" + ".".join(str(part) for part in pre) if pre else ""


@dataclass(frozen=True, slots=True)
class _Clause:
    """One ``<operator> <version>`` comparison of a requirement."""

    op: Operator
    version: Version
    # "~> 2.1" (patch omitted) widens the upper bound to the next major.
    two_part: bool = False
    # A bare "1.0.0" means "== 1.0.0"; remembered only to print the requirement as it was written.
    implicit: bool = False

    @property
    def upper(self) -> Version:
        """The exclusive upper bound of a ``~>`` clause: the first pre-release ("-0") of the next
        minor (or major), so that ``~> 2.0.0`` never admits ``2.1.0-rc.1``."""
        bound = self.version
        if self.two_part:
            return Version(bound.major + 1, 0, 0, (0,))
        return Version(bound.major, bound.minor + 1, 0, (0,))

    def __str__(self) -> str:
        if self.two_part:
            operand = f"{self.version.major}.{self.version.minor}{_pre_suffix(self.version.pre)}"
        else:
            operand = str(self.version)
        return operand if self.implicit else f"{self.op} {operand}"


@dataclass(frozen=True, slots=True)
class _Group:
    """The clauses joined by ``and``, folded into one interval check.

    Every operator but ``!=`` bounds the version from below, above or both, so a group is the
    intersection of those bounds, minus the ``!=`` versions, plus Elixir's pre-release gate.
    """

    low: _Key | None
    low_strict: bool
    high: _Key | None
    high_strict: bool
    excluded: frozenset[_Key]
    # Elixir's rule (Version.Requirement, allow_pre: false): a ">", ">=" or "~>" clause whose own
    # operand is not a pre-release rejects every pre-release. "==" names one exact version, and "<",
    # "<=", "!=" are plain comparisons in Elixir too.
    gates_pre: bool
    empty: bool

    @classmethod
    def of(cls, clauses: tuple[_Clause, ...]) -> _Group:
        low: _Key | None = None
        low_strict = False
        high: _Key | None = None
        high_strict = False
        excluded: set[_Key] = set()
        gates_pre = False

        def raise_low(key: _Key, strict: bool) -> None:
            nonlocal low, low_strict
            if low is None or key > low or (key == low and strict):
                low, low_strict = key, strict

        def lower_high(key: _Key, strict: bool) -> None:
            nonlocal high, high_strict
            if high is None or key < high or (key == high and strict):
                high, high_strict = key, strict

        for clause in clauses:
            key = clause.version.key
            op = clause.op
            if op == "==":
                raise_low(key, False)
                lower_high(key, False)
            elif op == "!=":
                excluded.add(key)
            elif op in (">", ">="):
                raise_low(key, op == ">")
                gates_pre = gates_pre or not clause.version.pre
            elif op in ("<", "<="):
                lower_high(key, op == "<")
            else:  # "~>"
                raise_low(key, False)
                lower_high(clause.upper.key, True)
                gates_pre = gates_pre or not clause.version.pre
        empty = (
            low is not None
            and high is not None
            and (low > high or (low == high and (low_strict or high_strict or low in excluded)))
        )
        return cls(low, low_strict, high, high_strict, frozenset(excluded), gates_pre, empty)

    def matches(self, key: _Key, is_pre: bool, allow_pre: bool) -> bool:
        if self.empty:
            return False
        low = self.low
        if low is not None and (key <= low if self.low_strict else key < low):
            return False
        high = self.high
        if high is not None and (key >= high if self.high_strict else key > high):
            return False
        if is_pre and self.gates_pre and not allow_pre:
            return False
        return key not in self.excluded


def _lex_requirement(text: str) -> list[str]:
    """Split a requirement into operator, connective (``and``/``or``) and operand tokens.

    Only a plain space separates tokens, as in Elixir: a tab or a non-breaking space stays inside
    its token and makes it invalid.
    """
    tokens: list[str] = []
    for word in text.split(" "):
        if not word:
            continue
        if word in ("and", "or"):
            tokens.append(word)
            continue
        # Operators may be glued to each other or to the operand (">=1.0.0", Elixir allows it).
        rest = word
        while rest and rest[0] in _OPERATOR_START:
            for op_text, _ in _OPERATORS:
                if rest.startswith(op_text):
                    tokens.append(op_text)
                    rest = rest[len(op_text) :]
                    break
            else:
                # A lone "=" is no operator; leave it in the operand so the error shows it.
                break
        if rest:
            tokens.append(rest)
    return tokens


_OPERATOR_BY_TEXT: dict[str, Operator] = dict(_OPERATORS)


def _parse_requirement(text: str) -> tuple[tuple[_Clause, ...], ...]:
    def fail(reason: str) -> VersionError:
        # Elixir splits on plain spaces only; a tab or a non-breaking space is the likely culprit.
        odd = next((char for char in text if char.isspace() and char != " "), None)
        hint = f" (only plain spaces separate tokens; found {odd!r})" if odd else ""
        return VersionError(f"invalid requirement {text!r}: {reason}{hint}")

    if len(text) > _MAX_REQUIREMENT_LEN:
        raise VersionError(f"invalid requirement: longer than {_MAX_REQUIREMENT_LEN} characters")
    tokens = _lex_requirement(text)
    if not tokens:
        raise fail("empty requirement")

    alternatives: list[tuple[_Clause, ...]] = []
    group: list[_Clause] = []
    index = 0
    while True:
        # One clause: an optional operator, then an operand.
        token = tokens[index]
        if token in ("and", "or"):
            where = "at the start" if index == 0 else f"right after {tokens[index - 1]!r}"
            raise fail(f"{token!r} {where} (expected a version or an operator)")
        op: Operator = "=="
        implicit = True
        if token in _OPERATOR_BY_TEXT:
            op = _OPERATOR_BY_TEXT[token]
            implicit = False
            index += 1
            if index == len(tokens):
                raise fail(f"missing version after {token!r}")
            operand = tokens[index]
            if operand in _OPERATOR_BY_TEXT or operand in ("and", "or"):
                raise fail(f"{token!r} is followed by {operand!r} instead of a version")
        else:
            operand = token
        try:
            version, two_part = _parse_core(operand, allow_two_part=op == "~>", kind="version")
        except VersionError as exc:
            numbers = operand.partition("-")[0].split(".")
            if op == "~>" and len(numbers) == 1 and _is_digits(numbers[0]):
                raise fail(f"'~> {operand}' needs at least MAJOR.MINOR, e.g. '~> {numbers[0]}.0'") from exc
            if op != "~>" and len(numbers) == 2 and all(_is_digits(n) for n in numbers):
                written = operand if implicit else f"{token} {operand}"
                raise fail(
                    f"{written!r} needs a full MAJOR.MINOR.PATCH version "
                    f"(only '~>' accepts MAJOR.MINOR, as in '~> {operand}')"
                ) from exc
            raise fail(str(exc).removeprefix("invalid version ")) from exc
        group.append(_Clause(op, version, two_part, implicit))
        index += 1

        if index == len(tokens):
            alternatives.append(tuple(group))
            break
        connective = tokens[index]
        if connective not in ("and", "or"):
            raise fail(f"unexpected {connective!r} after {operand!r} (join clauses with 'and' / 'or')")
        index += 1
        if index == len(tokens):
            raise fail(f"dangling {connective!r} at the end")
        if connective == "or":
            alternatives.append(tuple(group))
            group = []
    return tuple(alternatives)


@dataclass(frozen=True, slots=True)
class Requirement:
    """An Elixir version requirement such as ``"~> 1.7"`` or ``">= 1.0.0 and < 2.0.0"``.

    Parsed into alternatives (``or``) of clause groups (``and``). ``str()`` gives the requirement
    normalized: one space between operator and version, single spaces around ``and`` / ``or``.
    """

    alternatives: tuple[tuple[_Clause, ...], ...] = field(repr=False)
    text: str = ""
    # Each alternative folded into an interval once, so matching compares precomputed keys only.
    _groups: tuple[_Group, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        groups = tuple(_Group.of(group) for group in self.alternatives)
        object.__setattr__(self, "_groups", tuple(group for group in groups if not group.empty))

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse as Elixir's ``Version.parse_requirement/1`` does; raises ``VersionError``."""
        alternatives = _parse_requirement(text)
        normalized = " or ".join(" and ".join(str(clause) for clause in group) for group in alternatives)
        return cls(alternatives, normalized)

    def matches(self, version: Version | str, *, allow_pre: bool = False) -> bool:
        """Whether ``version`` satisfies this requirement.

        ``allow_pre=False`` (the default) is Elixir's ``Version.match?(version, requirement,
        allow_pre: false)``, the rule Mix documents for Hex: a pre-release version satisfies a
        ``>``, ``>=`` or ``~>`` clause only when that clause's own version is a pre-release
        (``~> 2.1.2`` rejects ``2.1.6-dev``; ``~> 2.1.2-dev`` and ``>= 2.1.0-dev`` accept it).
        ``==`` matches a pre-release only when it names it, and ``<``, ``<=``, ``!=`` compare
        plainly, exactly as in Elixir. ``allow_pre=True`` is Elixir's default ``match?``
        behaviour, for callers that explicitly ask for pre-releases. In both modes ``~>`` never
        admits a pre-release of its upper bound (``~> 2.0.0`` rejects ``2.1.0-rc.1``).

        A string ``version`` is parsed first and may raise ``VersionError``.
        """
        if isinstance(version, str):
            version = Version.parse(version)
        return self._matches_key(version.key, allow_pre)

    def _matches_key(self, key: _Key, allow_pre: bool) -> bool:
        is_pre = key[3] == 0
        # A plain loop: any() over a generator costs a third more on this hot path.
        for group in self._groups:  # noqa: SIM110
            if group.matches(key, is_pre, allow_pre):
                return True
        return False

    def __str__(self) -> str:
        return self.text


def is_requirement(text: str) -> bool:
    """Quick check telling a requirement (``"~> 1.7"``, ``"1.0.0 or 2.0.0"``) from an exact version.

    It only looks at the shape (an operator up front, or an ``and`` / ``or``); it does not validate,
    so callers still call ``Requirement.parse`` or ``Version.parse`` and report their errors.
    """
    stripped = text.strip()
    if not stripped:
        return False
    if stripped[0] in _OPERATOR_START:
        return True
    return any(word in ("and", "or") for word in stripped.split())


def highest_matching(
    versions: Iterable[str],
    req: Requirement,
    *,
    allow_pre: bool = False,
    exclude: Container[str] = (),
) -> str | None:
    """The highest of ``versions`` that satisfies ``req``, as given, or ``None``.

    Unparseable versions are skipped rather than fatal: a registry listing with one odd entry should
    not hide the answer. ``exclude`` holds versions to leave out, typically retired releases.
    """
    best_key: _Key | None = None
    best: str | None = None
    for text in versions:
        if text in exclude:
            continue
        key = _key_of(text)
        if key is None or (best_key is not None and key <= best_key):
            continue
        if req._matches_key(key, allow_pre):
            best_key, best = key, text
    return best


def hex_pick(versions: Iterable[str], req: Requirement, *, exclude: Container[str] = ()) -> str | None:
    """The version Hex's resolver picks for ``req`` from ``versions`` when nothing else constrains it.

    Hex 2.x resolves with hex_solver, which does not apply Elixir's ``allow_pre: false`` rule:
    a requirement allows every version inside its range by plain SemVer order, pre-releases
    included (``~>`` still stops before the pre-releases of its upper bound), and the candidates
    are then ranked stable first, newest first. So a pre-release is picked only when no stable
    version satisfies the requirement: ``~> 1.0`` over ``1.1.0`` and ``1.2.0-rc.0`` gives
    ``1.1.0``, and over ``1.2.0-rc.0`` alone gives ``1.2.0-rc.0``. Unparseable versions are
    skipped; ``exclude`` holds versions to leave out (hex_solver itself does not skip retired
    releases; Mix only warns about them). hex_solver's own requirement parser knows no ``!=``;
    here it is a plain exclusion.
    """
    # hex_solver: lib/hex_solver/package_lister.ex (pick_package/2 keeps the versions that
    # Constraint.allows?/2 and takes the first by Version.prioritize/2),
    # lib/hex_solver/constraints/range.ex (allows?/2 compares bounds only) and
    # lib/hex_solver/constraints/version.ex (prioritize/2: stable before pre-release, then newest).
    best_rank: tuple[int, _Key] | None = None
    best: str | None = None
    for text in versions:
        if text in exclude:
            continue
        key = _key_of(text)
        if key is None:
            continue
        rank = (key[3], key)  # key[3] is 1 for a stable version, 0 for a pre-release
        if (best_rank is None or rank > best_rank) and req._matches_key(key, True):
            best_rank, best = rank, text
    return best


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Sort newest first by SemVer precedence; unparseable strings go last, in their given order."""
    parsed: list[tuple[_Key, str]] = []
    invalid: list[str] = []
    for text in versions:
        key = _key_of(text)
        if key is None:
            invalid.append(text)
        else:
            parsed.append((key, text))
    # Sorting on the key alone keeps equal versions in their given order (the sort is stable).
    parsed.sort(key=itemgetter(0), reverse=True)
    return [text for _, text in parsed] + invalid


def update_kind(current: str, target: str) -> UpdateKind:
    """How big a step going from ``current`` to ``target`` is.

    ``"major"``, ``"minor"`` or ``"patch"`` name the highest number that changes; ``"pre"`` means
    only the pre-release part differs (``1.0.0-rc.1`` -> ``1.0.0``); ``""`` means ``target`` is not
    newer. Raises ``VersionError`` if either string is not a valid version.
    """
    old, new = Version.parse(current), Version.parse(target)
    if new <= old:
        return ""
    if new.major != old.major:
        return "major"
    if new.minor != old.minor:
        return "minor"
    if new.patch != old.patch:
        return "patch"
    return "pre"


def is_prerelease(text: str) -> bool:
    """Whether ``text`` names a pre-release (``1.8.0-rc.0``). Text that is no version at all is not one."""
    version = Version.try_parse(text)
    return version is not None and version.is_prerelease


# -- a version argument, parsed once -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latest:
    """``"latest"`` or nothing: the latest stable release."""

    def __str__(self) -> str:
        return "latest"


@dataclass(frozen=True, slots=True)
class Exact:
    """One exact version."""

    version: Version

    def __str__(self) -> str:
        return str(self.version)


@dataclass(frozen=True, slots=True)
class Req:
    """A requirement, resolved against a release list to one version."""

    requirement: Requirement
    text: str  # as the caller wrote it, for answers that echo the question

    def __str__(self) -> str:
        return self.text


VersionArg = Latest | Exact | Req


def parse_version_arg(text: str | None) -> VersionArg:
    """What a tool's version argument asks for; raises ``VersionError`` for text that is neither."""
    stripped = (text or "").strip()
    if not stripped or stripped.lower() == "latest":
        return Latest()
    if is_requirement(stripped):
        return Req(Requirement.parse(stripped), stripped)
    return Exact(Version.parse(stripped))


@functools.lru_cache(maxsize=16_384)
def _parse_version(text: str) -> Version:
    """`Version.parse`, remembered: versions are immutable, and answers parse the same release lists over and
    over (a warm hex_diff of phoenix parsed its 171 versions on every call)."""
    fast = _fast_parse(text)
    if fast is not None:
        return Version(*fast)
    version, _ = _parse_core(text, allow_two_part=False, kind="version")
    return version
