"""Elixir ``Version`` semantics in pure Python: parsing, SemVer ordering and requirement matching.

Hex packages are versioned with SemVer 2.0 and depend on each other through Elixir requirement
strings (``"~> 1.7"``, ``">= 1.0.0 and < 2.0.0"``, ``"~> 1.0 or ~> 2.0"``). Answering "what would
this requirement resolve to?" correctly means reproducing Elixir's rules exactly, not some other
ecosystem's: the ``~>`` upper bound excludes the pre-releases of that bound, only ``~>`` accepts a
``MAJOR.MINOR`` operand, and pre-releases are excluded unless asked for the way Hex does it.

Deliberate differences from Elixir's ``Version``:

* Build metadata (``1.0.0+build``) is rejected, in versions and in requirement operands: hex.pm
  refuses to publish such versions, so one showing up is a mistake worth reporting.
* ``and`` binds tighter than ``or`` (``a or b and c`` is ``a or (b and c)``), which is how Hex's
  resolver (hex_solver) reads requirements. Elixir's own ``Version.match?/3`` folds the clauses from
  the right without precedence, so ``a and b or c`` differs (it reads ``a and (b or c)``). Requirements
  published on hex.pm do not mix the two, so the difference is theoretical.
* Whitespace inside a requirement only separates tokens; Elixir's lexer glues stray text onto a
  preceding version, which can only ever produce an invalid version anyway.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Requirement",
    "Version",
    "VersionError",
    "highest_matching",
    "is_requirement",
    "sort_versions",
    "update_kind",
]

# Far beyond any real version or requirement; bounds the work done on pasted input and keeps
# int() away from its huge-number guard, which would raise a confusing message of its own.
_MAX_VERSION_LEN = 128
_MAX_REQUIREMENT_LEN = 1024

_IDENTIFIER_RE = re.compile(r"[0-9A-Za-z-]+")

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
            parts.append(int(ident))
        else:
            parts.append(ident)
    return tuple(parts)


def _parse_core(text: str, *, allow_two_part: bool, kind: str) -> tuple[Version, bool]:
    """Parse ``MAJOR.MINOR[.PATCH][-PRE]``; returns the version and whether PATCH was omitted."""
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


def _pre_key(pre: tuple[int | str, ...]) -> tuple[tuple[int, int, str], ...]:
    # SemVer/Erlang term order: numeric identifiers compare numerically and sort before
    # alphanumeric ones, which compare as ASCII strings; a longer list wins when one is a prefix.
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in pre)


@dataclass(frozen=True, slots=True)
class Version:
    """A SemVer 2.0 version as Hex accepts it: ``MAJOR.MINOR.PATCH[-PRE]``, no build metadata.

    Instances order by SemVer precedence: ``1.0.0-rc.2 < 1.0.0-rc.10 < 1.0.0``.
    """

    major: int
    minor: int
    patch: int
    pre: tuple[int | str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse strictly, as Elixir's ``Version.parse/1`` does (minus build metadata).

        Raises ``VersionError`` naming the offending part.
        """
        version, _ = _parse_core(text, allow_two_part=False, kind="version")
        return version

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

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after all of its pre-releases, hence the flag before the pre key.
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, _pre_key(self.pre))

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: Version) -> bool:
        return self._key() > other._key()

    def __ge__(self, other: Version) -> bool:
        return self._key() >= other._key()

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}.{self.patch}"
        if not self.pre:
            return base
        return base + "-" + ".".join(str(part) for part in self.pre)


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

    def matches(self, version: Version, allow_pre: bool) -> bool:
        # Elixir's rule (Version.Requirement.match_op?/3): with allow_pre false, the lower-bound
        # operators only admit a pre-release when their own operand is one. "==" already names one
        # exact version, and "<", "<=", "!=" are plain comparisons in Elixir too.
        pre_ok = allow_pre or self.version.is_prerelease or not version.is_prerelease
        bound = self.version
        if self.op == "==":
            return version == bound
        if self.op == "!=":
            return version != bound
        if self.op == ">":
            return version > bound and pre_ok
        if self.op == ">=":
            return version >= bound and pre_ok
        if self.op == "<":
            return version < bound
        if self.op == "<=":
            return version <= bound
        # "~>": the upper bound is the first pre-release ("-0") of the next minor (or major), so
        # that "~> 2.0.0" never admits 2.1.0-rc.1, whatever allow_pre says.
        if self.two_part:
            upper = Version(bound.major + 1, 0, 0, (0,))
        else:
            upper = Version(bound.major, bound.minor + 1, 0, (0,))
        return bound <= version < upper and pre_ok

    def __str__(self) -> str:
        if self.two_part:
            operand = f"{self.version.major}.{self.version.minor}{_pre_suffix(self.version.pre)}"
        else:
            operand = str(self.version)
        return operand if self.implicit else f"{self.op} {operand}"


def _lex_requirement(text: str) -> list[str]:
    """Split a requirement into operator, connective (``and``/``or``) and operand tokens."""
    tokens: list[str] = []
    for word in text.split():
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
        return VersionError(f"invalid requirement {text!r}: {reason}")

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

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse as Elixir's ``Version.parse_requirement/1`` does; raises ``VersionError``."""
        alternatives = _parse_requirement(text)
        normalized = " or ".join(" and ".join(str(clause) for clause in group) for group in alternatives)
        return cls(alternatives, normalized)

    def matches(self, version: Version | str, *, allow_pre: bool = False) -> bool:
        """Whether ``version`` satisfies this requirement.

        ``allow_pre=False`` (the default) is the rule Hex applies when resolving dependencies, i.e.
        Elixir's ``Version.match?(version, requirement, allow_pre: false)``: a pre-release version
        satisfies a ``>``, ``>=`` or ``~>`` clause only when that clause's own version is a
        pre-release (``~> 2.1.2`` rejects ``2.1.6-dev``; ``~> 2.1.2-dev`` and ``>= 2.1.0-dev``
        accept it). ``==`` matches a pre-release only when it names it, and ``<``, ``<=``, ``!=``
        compare plainly, exactly as in Elixir. ``allow_pre=True`` is Elixir's default ``match?``
        behaviour, for callers that explicitly ask for pre-releases. In both modes ``~>`` never
        admits a pre-release of its upper bound (``~> 2.0.0`` rejects ``2.1.0-rc.1``).

        A string ``version`` is parsed first and may raise ``VersionError``.
        """
        if isinstance(version, str):
            version = Version.parse(version)
        return any(all(clause.matches(version, allow_pre) for clause in group) for group in self.alternatives)

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
    best: tuple[Version, str] | None = None
    for text in versions:
        if text in exclude:
            continue
        version = Version.try_parse(text)
        if version is None or not req.matches(version, allow_pre=allow_pre):
            continue
        if best is None or version > best[0]:
            best = (version, text)
    return None if best is None else best[1]


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Sort newest first by SemVer precedence; unparseable strings go last, in their given order."""
    parsed: list[tuple[Version, str]] = []
    invalid: list[str] = []
    for text in versions:
        version = Version.try_parse(text)
        if version is None:
            invalid.append(text)
        else:
            parsed.append((version, text))
    parsed.sort(key=lambda item: item[0], reverse=True)
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
