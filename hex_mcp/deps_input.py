"""Turn what a user pastes (a mix.lock, a mix.exs deps list, or ``name version`` lines) into deps.

No Elixir is needed: a small tolerant tokenizer reads Elixir literals (maps, tuples, lists,
keyword lists, strings, atoms) and skips anything else (function calls, operators, sigils,
comments), so real-world files with odd formatting, trailing commas or extra code still parse.
Whatever cannot be checked on the public Hex registry (git, path and umbrella dependencies,
private repositories) is reported back as skipped rather than silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, TypeGuard, TypeVar

from hex_mcp.validate import DEPS_MAX, NAME_PATTERN
from hex_mcp.versions import Requirement, Version, VersionError, is_requirement

__all__ = [
    "MAX_DEPS",
    "DepSpec",
    "DepsInput",
    "DepsInputError",
    "LockDep",
    "SkipKind",
    "SkippedDep",
    "parse_deps",
]

# "mix.lock+mix.exs": one paste holding both, read as both and merged.
Source = Literal["mix.lock", "mix.exs", "lines", "mix.lock+mix.exs"]
# Why an entry is not checked: it is a real dependency that lives off public Hex (git, path,
# umbrella, private repo), it could not be read (invalid requirement or version, an unknown lock
# shape, a dependency built by a function call), or it is past the MAX_DEPS / MAX_SKIPPED limits.
SkipKind = Literal["not_public", "unreadable", "limit"]

MAX_DEPS = 200
# Skipped entries are capped too, so a pasted log file cannot produce a thousand-line answer.
MAX_SKIPPED = 200
MAX_INPUT_CHARS = DEPS_MAX
# Real files nest brackets a handful of levels deep; anything deeper is skipped, not nested,
# which bounds the size of the term tree built from adversarial input.
_MAX_DEPTH = 100

_NAME_RE = re.compile(NAME_PATTERN)  # the names hex.pm serves, legacy upper-case ones included

_ACCEPTED_FORMATS = (
    'Accepted formats: a mix.lock file (%{"jason": {:hex, :jason, "1.4.4", ...}}), '
    'the deps of a mix.exs ({:phoenix, "~> 1.7"}, {:jason, "~> 1.4", optional: true}), '
    'or one dependency per line ("jason 1.4.4", "jason@1.4.4", "phoenix ~> 1.7").'
)


class DepsInputError(ValueError):
    """Nothing in the input could be read as a dependency."""


@dataclass(frozen=True, slots=True)
class LockDep:
    """One entry of a mix.lock dependency list: ``{:app, "req", [hex: :package, optional: bool]}``."""

    package: str
    requirement: str
    optional: bool = False
    app: str = ""


@dataclass(frozen=True, slots=True)
class DepSpec:
    """One Hex dependency to check.

    ``name`` is the Hex *package* name, which differs from the OTP application name when a
    dependency says ``hex: :other_name`` (that application name is kept in ``app``).
    ``version`` is an exact version (mix.lock, ``name version`` lines) and ``requirement`` a
    normalized requirement (mix.exs, ``name ~> 1.0`` lines); both are ``None`` when the input
    only named the package.
    """

    name: str
    version: str | None
    requirement: str | None
    source: Source
    app: str | None = None
    # What planning needs beyond the check; left out of equality so a spec still reads as its four facts.
    # mix.exs options:
    optional: bool = field(default=False, compare=False)
    override: bool = field(default=False, compare=False)
    # Declared in the pasted mix.exs (a top-level dependency of the app).
    declared: bool = field(default=False, compare=False)
    # mix.lock: the dependency list the lock records for this version; None when the lock has none.
    dependencies: tuple[LockDep, ...] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SkippedDep:
    """An entry that is not checked, with the reason (``"git dependency"``, ``"private repo 'x'"``).

    ``kind`` separates dependencies that are simply not on public Hex from entries the parser could
    not read, so an answer never files an invalid requirement under "not on public Hex".
    """

    name: str
    reason: str
    kind: SkipKind = "not_public"


@dataclass(slots=True)
class DepsInput:
    """What ``parse_deps`` read: the deps to check, what was skipped and why, and the format seen."""

    deps: list[DepSpec] = field(default_factory=list)
    skipped: list[SkippedDep] = field(default_factory=list)
    format: Source = "lines"


# --- tokenizer ---------------------------------------------------------------------------------

TokenKind = Literal["{", "}", "[", "]", "(", ")", "%{", ",", "=>", "atom", "key", "string", "ident", "other"]


@dataclass(slots=True)
class _Token:
    kind: TokenKind
    value: str = ""
    # Strings: whether the text was written as a plain literal (no "#{...}" interpolation).
    literal: bool = True


_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_@]*[?!]?")
_NUMBER_RE = re.compile(r"[0-9][0-9A-Za-z_.]*")
_SIGIL_RE = re.compile(r"~[A-Za-z]+")
_SIGIL_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">", "/": "/", "|": "|", '"': '"', "'": "'"}
_SINGLE: dict[str, TokenKind] = {
    "{": "{",
    "}": "}",
    "[": "[",
    "]": "]",
    "(": "(",
    ")": ")",
    ",": ",",
}


# Interpolations nest strings inside strings; past this depth they are read as plain text, which
# keeps recursion bounded without changing anything for real files.
_MAX_INTERPOLATION_DEPTH = 8


def _skip_interpolation(text: str, start: int, depth: int) -> int:
    """Index just after the ``}`` closing a ``#{`` whose body starts at ``start``."""
    braces = 1
    i = start
    while i < len(text):
        char = text[i]
        if char in "\"'":
            _, i, _ = _scan_quoted(text, i + 1, char, depth)
            continue
        if char == "{":
            braces += 1
        elif char == "}":
            braces -= 1
            if braces == 0:
                return i + 1
        i += 1
    return i


def _scan_quoted(text: str, start: int, quote: str, depth: int = 0) -> tuple[str, int, bool]:
    """Read a quoted literal whose body starts at ``start``; returns (value, end index, literal)."""
    out: list[str] = []
    literal = True
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1, literal
        if char == "#" and text.startswith("#{", i) and depth < _MAX_INTERPOLATION_DEPTH:
            literal = False
            end = _skip_interpolation(text, i + 2, depth + 1)
            out.append(text[i:end])
            i = end
            continue
        out.append(char)
        i += 1
    return "".join(out), i, literal


def _is_key_colon(text: str, i: int, *, quoted: bool = False) -> bool:
    # "name:" followed by whitespace is a keyword key; "name::" or "a:b" are something else.
    # Elixir wants the space after a quoted key too, but a minified paste ("jason":{...}) is
    # unambiguous enough to accept.
    if i >= len(text) or text[i] != ":":
        return False
    if i + 1 == len(text) or text[i + 1].isspace():
        return True
    return quoted and text[i + 1] != ":"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    length = len(text)
    while i < length:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            newline = text.find("\n", i)
            i = length if newline < 0 else newline + 1
        elif char in _SINGLE:
            tokens.append(_Token(_SINGLE[char]))
            i += 1
        elif text.startswith("%{", i):
            tokens.append(_Token("%{"))
            i += 2
        elif text.startswith("=>", i):
            tokens.append(_Token("=>"))
            i += 2
        elif text.startswith('"""', i):
            end = text.find('"""', i + 3)
            end = length if end < 0 else end
            tokens.append(_Token("string", text[i + 3 : end], literal="#{" not in text[i + 3 : end]))
            i = end + 3
        elif char == '"':
            value, i, literal = _scan_quoted(text, i + 1, '"')
            if _is_key_colon(text, i, quoted=True):
                tokens.append(_Token("key", value, literal))
                i += 1
            else:
                tokens.append(_Token("string", value, literal))
        elif char == "'":
            _, i, _ = _scan_quoted(text, i + 1, "'")
            tokens.append(_Token("other", "'"))
        elif char == ":" and text.startswith(':"', i):
            value, i, literal = _scan_quoted(text, i + 2, '"')
            tokens.append(_Token("atom", value, literal))
        elif char == ":" and (match := _IDENT_RE.match(text, i + 1)):
            tokens.append(_Token("atom", match.group()))
            i = match.end()
        elif char == "?" and i + 1 < length:
            # Character literal such as ?" or ?{: its character must not open a string or a tuple.
            i += 3 if text[i + 1] == "\\" else 2
            tokens.append(_Token("other", "?"))
        elif char == "~" and (match := _SIGIL_RE.match(text, i)):
            i = _skip_sigil(text, match.end())
            tokens.append(_Token("other", "~"))
        elif match := _IDENT_RE.match(text, i):
            i = match.end()
            if _is_key_colon(text, i):
                tokens.append(_Token("key", match.group()))
                i += 1
            else:
                tokens.append(_Token("ident", match.group()))
        elif match := _NUMBER_RE.match(text, i):
            tokens.append(_Token("ident", match.group()))
            i = match.end()
        else:
            tokens.append(_Token("other", char))
            i += 1
    return tokens


def _skip_sigil(text: str, i: int) -> int:
    """Index after a sigil body (and its modifiers) whose delimiter is at ``i``."""
    if text.startswith('"""', i) or text.startswith("'''", i):
        end = text.find(text[i : i + 3], i + 3)
        i = len(text) if end < 0 else end + 3
    elif i < len(text) and text[i] in _SIGIL_PAIRS:
        _, i, _ = _scan_quoted(text, i + 1, _SIGIL_PAIRS[text[i]])
    while i < len(text) and text[i].isalpha():
        i += 1
    return i


# --- a tolerant reader for Elixir literals ------------------------------------------------------


@dataclass(slots=True)
class _Atom:
    name: str


@dataclass(slots=True)
class _Str:
    value: str
    literal: bool


@dataclass(slots=True)
class _Tuple:
    items: tuple[_Term, ...]
    # False when the input ended (or an outer bracket closed) before this tuple's "}".
    closed: bool = True


@dataclass(slots=True)
class _List:
    items: tuple[_Term, ...]


@dataclass(slots=True)
class _Pair:
    """A keyword pair (``key: value``) or a map entry (``key => value``)."""

    key: _Term
    value: _Term


@dataclass(slots=True)
class _Other:
    """Anything that is not a plain literal: a variable, a call, an operator expression.

    ``items`` keeps the parts of an expression and what a ``(...)`` or ``%{...}`` held, so
    literals inside them (a mix.lock's ``%{...}``, deps inside a call) are still found.
    """

    text: str
    items: tuple[_Term, ...] = ()


_Term = _Atom | _Str | _Tuple | _List | _Pair | _Other

_CLOSER_OF = {"{": "}", "[": "]", "(": ")", "%{": "}", "root": ""}


class _Frame:
    """An open bracket while reading: its finished items and the item being read."""

    __slots__ = ("items", "key", "kind", "parts")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.items: list[_Term] = []
        self.parts: list[_Term] = []
        self.key: _Term | None = None

    def finish_item(self) -> None:
        if self.parts:
            value: _Term = self.parts[0] if len(self.parts) == 1 else _Other("expression", tuple(self.parts))
        elif self.key is not None:
            value = _Other("")
        else:
            return
        self.items.append(value if self.key is None else _Pair(self.key, value))
        self.parts = []
        self.key = None

    def build(self, closed: bool) -> _Term:
        self.finish_item()
        items = tuple(self.items)
        if self.kind == "{":
            return _Tuple(items, closed)
        if self.kind == "[":
            return _List(items)
        return _Other(self.kind, items)


def _read_terms(tokens: list[_Token]) -> list[_Term]:
    """Read Elixir literals from ``tokens`` in one pass, never failing.

    Everything lands in a tree of terms; brackets left open at the end are closed (tuples are
    marked as not closed), a closing bracket of the wrong kind closes the inner brackets up to its
    match, and one matching nothing is ignored. One pass and no backtracking keep the cost linear
    in the input whatever it holds.
    """
    stack = [_Frame("root")]
    ignored_depth = 0  # brackets opened beyond _MAX_DEPTH, skipped rather than nested further
    for token in tokens:
        kind = token.kind
        top = stack[-1]
        if kind in ("{", "[", "(", "%{"):
            if len(stack) > _MAX_DEPTH:
                ignored_depth += 1
            else:
                stack.append(_Frame(kind))
        elif kind in ("}", "]", ")"):
            if ignored_depth:
                ignored_depth -= 1
                continue
            match = next((n for n in range(len(stack) - 1, 0, -1) if _CLOSER_OF[stack[n].kind] == kind), 0)
            if match == 0:
                continue
            while len(stack) > match:
                frame = stack.pop()
                stack[-1].parts.append(frame.build(closed=len(stack) == match))
        elif ignored_depth:
            continue
        elif kind == ",":
            top.finish_item()
        elif kind == "key":
            top.finish_item()
            top.key = _Str(token.value, token.literal)
        elif kind == "=>":
            parts = top.parts
            top.parts = []
            top.key = parts[0] if len(parts) == 1 else _Other("expression", tuple(parts))
        elif kind == "string":
            top.parts.append(_Str(token.value, token.literal))
        elif kind == "atom":
            top.parts.append(_Atom(token.value))
        else:
            top.parts.append(_Other(token.value))
    while len(stack) > 1:
        frame = stack.pop()
        stack[-1].parts.append(frame.build(closed=False))
    root = stack[0]
    root.finish_item()
    return root.items


_Found = TypeVar("_Found")


def _walk(terms: list[_Term], found: Callable[[_Term], TypeGuard[_Found]]) -> list[_Found]:
    """Terms for which ``found`` is true, in source order, not looking inside those found."""
    results: list[_Found] = []
    stack: list[_Term] = list(reversed(terms))
    while stack:
        current = stack.pop()
        if found(current):
            results.append(current)
        elif isinstance(current, _Tuple | _List | _Other):
            stack.extend(reversed(current.items))
        elif isinstance(current, _Pair):
            stack.extend((current.value, current.key))
    return results


def _text(term: _Term | None) -> str | None:
    """The text of a literal string or atom (``"hexpm"``, ``:jason``), else ``None``."""
    if isinstance(term, _Str) and term.literal:
        return term.value
    if isinstance(term, _Atom):
        return term.name
    return None


# --- collecting results ------------------------------------------------------------------------


class _Collector:
    def __init__(self, source: Source) -> None:
        self.result = DepsInput(format=source)
        self.source: Source = source
        self.seen: set[str] = set()
        self.extra_deps = 0
        self.extra_skipped = 0
        # Skips that prove the input was a dependency list (git, path, private...), as opposed to
        # entries that could not be read at all.
        self.recognized = 0
        self.problems: list[str] = []

    def add(
        self,
        name: str,
        *,
        version: str | None,
        requirement: str | None,
        app: str | None,
        optional: bool = False,
        override: bool = False,
        dependencies: tuple[LockDep, ...] | None = None,
    ) -> None:
        if name in self.seen:
            return
        self.seen.add(name)
        if len(self.result.deps) >= MAX_DEPS:
            self.extra_deps += 1
            return
        self.result.deps.append(
            DepSpec(
                name,
                version,
                requirement,
                self.source,
                app if app != name else None,
                optional=optional,
                override=override,
                declared=self.source == "mix.exs",
                dependencies=dependencies,
            )
        )

    def skip(self, name: str, reason: str, *, recognized: bool) -> None:
        if recognized:
            self.recognized += 1
        elif len(self.problems) < 3:
            self.problems.append(f"{name}: {reason}")
        if len(self.result.skipped) >= MAX_SKIPPED:
            self.extra_skipped += 1
            return
        self.result.skipped.append(SkippedDep(name, reason, "not_public" if recognized else "unreadable"))

    def found_anything(self) -> bool:
        return bool(self.result.deps) or self.recognized > 0 or bool(self.result.skipped)

    def finish(self) -> DepsInput:
        if self.extra_deps:
            self.result.skipped.append(
                SkippedDep("...", f"{self.extra_deps} more (limit {MAX_DEPS})", "limit")
            )
        if self.extra_skipped:
            self.result.skipped.append(
                SkippedDep("...", f"{self.extra_skipped} more skipped entries", "limit")
            )
        if not self.result.deps and not self.recognized:
            detail = f" Problems: {'; '.join(self.problems)}." if self.problems else ""
            raise DepsInputError(
                f"no Hex dependency could be read from the input.{detail} {_ACCEPTED_FORMATS}"
            )
        return self.result


def _check_name(collector: _Collector, package: str, app: str) -> bool:
    if _NAME_RE.fullmatch(package):
        return True
    collector.skip(app, f"not a Hex package name: {package!r}", recognized=False)
    return False


def _repo_reason(repo: str) -> str | None:
    return None if repo == "hexpm" else f"private repo {repo!r}"


# --- mix.lock ----------------------------------------------------------------------------------

# First element of a lock entry's tuple. ``:package`` is the shape Hex wrote before the ``:hex`` tuple
# (``"cowboy": {:package, "1.0.0"}``, the key naming both the app and the package).
_LOCK_KINDS = frozenset({"hex", "git", "path", "package"})


def _lock_tuple(term: _Term) -> _Tuple | None:
    """The value of ``"name": {:atom, ...}`` (or ``"name" => {...}``), else ``None``."""
    if (
        isinstance(term, _Pair)
        and isinstance(term.value, _Tuple)
        and bool(term.value.items)
        and isinstance(term.value.items[0], _Atom)
        and _text(term.key) is not None
    ):
        return term.value
    return None


def _is_known_lock_entry(term: _Term) -> bool:
    value = _lock_tuple(term)
    return value is not None and _text(value.items[0]) in _LOCK_KINDS


def _is_lock_map(term: _Term) -> TypeGuard[_Other]:
    """A top-level ``%{...}`` holding only ``"name": {:atom, ...}`` pairs: a lock even if no kind is known."""
    return (
        isinstance(term, _Other)
        and term.text == "%{"
        and bool(term.items)
        and all(_lock_tuple(item) is not None for item in term.items)
    )


def _lock_entries(terms: list[_Term]) -> list[_Term]:
    """Every entry of the containers that hold lock entries, in source order.

    A container (the ``%{...}`` of a lock, the pasted fragment itself, or an old keyword-list lock)
    counts as a lock when one of its entries has a known kind, or when it is a top-level map of
    nothing but tagged tuples; then *all* its entries are returned, so an entry of an unknown shape
    is reported rather than dropped. Lock containers are not searched further: the dependency tuples
    nested inside an entry are not entries.
    """
    found: list[_Term] = []
    stack: list[tuple[tuple[_Term, ...], bool]] = [(tuple(terms), True)]
    while stack:
        items, top_level = stack.pop()
        if any(_is_known_lock_entry(item) for item in items):
            found.extend(items)
            continue
        for item in reversed(items):
            if top_level and _is_lock_map(item):
                found.extend(item.items)
            elif isinstance(item, _Tuple | _List | _Other):
                stack.append((item.items, False))
            elif isinstance(item, _Pair):
                stack.append(((item.value,), False))
    return found


def _parse_lock(tokens: list[_Token]) -> _Collector:
    collector = _Collector("mix.lock")
    for entry in _lock_entries(_read_terms(tokens)):
        if not isinstance(entry, _Pair) or (app := _text(entry.key)) is None:
            # Stray text between the entries (a pasted "..." or a broken line): not an entry.
            continue
        entry_tuple = _lock_tuple(entry)
        if entry_tuple is None:
            collector.skip(app, "unrecognized mix.lock entry (not a {:hex, ...} tuple)", recognized=False)
        elif not entry_tuple.closed:
            collector.skip(app, "unparseable mix.lock entry (truncated or unbalanced?)", recognized=False)
        else:
            _lock_entry(collector, app, entry_tuple.items)
    return collector


def _lock_entry(collector: _Collector, app: str, items: tuple[_Term, ...]) -> None:
    kind = _text(items[0])
    if kind == "git":
        collector.skip(app, "git dependency", recognized=True)
        return
    if kind == "path":
        collector.skip(app, "path dependency", recognized=True)
        return
    if kind == "package":
        # {:package, "version"}: Hex before 0.6; the app name is the package name.
        if len(items) == 2 and isinstance(items[1], _Str) and items[1].literal:
            _lock_hex(collector, app, app, items[1].value, "hexpm")
        else:
            collector.skip(app, "unparseable mix.lock entry (expected {:package, version})", recognized=False)
        return
    if kind != "hex":
        collector.skip(
            app, f"unrecognized mix.lock entry ({{:{kind}, ...}} is not a Hex package)", recognized=False
        )
        return
    # {:hex, :package, "version", "inner checksum", [managers], [deps], "repo", "outer checksum"};
    # lock files written by older Hex stop after the deps (no repo) or even after the version.
    package = _text(items[1]) if len(items) > 1 else None
    version_term = items[2] if len(items) > 2 else None
    version = _text(version_term) if isinstance(version_term, _Str) else None
    repo = _text(items[6]) if len(items) > 6 else "hexpm"
    if package is None or version is None or repo is None:
        collector.skip(
            app, "unparseable mix.lock entry (expected {:hex, :name, version, ...})", recognized=False
        )
        return
    deps = _lock_deps(items[5]) if len(items) > 5 else None
    _lock_hex(collector, app, package, version, repo, deps=deps)


_MAX_LOCK_DEPS = 500  # per entry; real packages list a few dozen at most


def _is_true(term: _Term | None) -> bool:
    return isinstance(term, _Other) and term.text == "true"


def _lock_deps(term: _Term) -> tuple[LockDep, ...] | None:
    """The dependency list of a lock entry; ``None`` when it is not a readable list."""
    if not isinstance(term, _List):
        return None
    found: list[LockDep] = []
    for item in term.items[:_MAX_LOCK_DEPS]:
        if not isinstance(item, _Tuple) or len(item.items) < 2 or (app := _text(item.items[0])) is None:
            continue
        requirement = item.items[1]
        opts: dict[str, _Term] = {}
        if len(item.items) > 2 and isinstance(item.items[2], _List):
            opts = {k: p.value for p in item.items[2].items if isinstance(p, _Pair) and (k := _text(p.key))}
        repo = _text(opts["repo"]) if "repo" in opts else "hexpm"
        if repo != "hexpm":
            continue  # a private package: its versions are not on public Hex, so it cannot constrain a plan
        package = (_text(opts["hex"]) if "hex" in opts else None) or app
        optional = _is_true(opts.get("optional"))
        text = requirement.value if isinstance(requirement, _Str) and requirement.literal else ">= 0.0.0"
        found.append(LockDep(package, text, optional, app if app != package else ""))
    return tuple(found)


def _lock_hex(
    collector: _Collector,
    app: str,
    package: str,
    version: str,
    repo: str,
    *,
    deps: tuple[LockDep, ...] | None = None,
) -> None:
    if reason := _repo_reason(repo):
        collector.skip(app, reason, recognized=True)
        return
    if not _check_name(collector, package, app):
        return
    try:
        Version.parse(version)
    except VersionError as exc:
        collector.skip(app, str(exc), recognized=False)
        return
    collector.add(package, version=version, requirement=None, app=app, dependencies=deps)


# --- mix.exs -----------------------------------------------------------------------------------


def _is_dep_tuple(term: _Term, *, in_function: bool = False) -> TypeGuard[_Tuple]:
    """``{:name, "req", ...}`` or ``{:name, opt: ..., ...}``; ``{:ok, x}`` and the like are not deps.

    A requirement that is not a string literal (``@version``, a sigil, a call) still makes a
    dependency when options follow it (``{:dep, ~r//, github: ...}``) or when the tuple sits in a
    deps function, so it is reported instead of being dropped.
    """
    if not isinstance(term, _Tuple) or len(term.items) < 2 or not isinstance(term.items[0], _Atom):
        return False
    second = term.items[1]
    if isinstance(second, _Str | _Pair) or _is_keywords(second):
        return True
    if not isinstance(second, _Other):
        return False
    return in_function or (
        len(term.items) > 2 and (isinstance(term.items[2], _Pair) or _is_keywords(term.items[2]))
    )


def _is_dep_in_function(term: _Term) -> TypeGuard[_Tuple]:
    return _is_dep_tuple(term, in_function=True)


def _is_keywords(term: _Term) -> bool:
    return isinstance(term, _List) and bool(term.items) and all(isinstance(x, _Pair) for x in term.items)


def _functions(tokens: list[_Token]) -> dict[str, list[tuple[int, int]]]:
    """Token ranges of every ``def``/``defp`` clause, by function name."""
    found: dict[str, list[tuple[int, int]]] = {}
    starts = [
        i
        for i in range(len(tokens) - 1)
        if tokens[i].kind == "ident"
        and tokens[i].value in ("def", "defp")
        and tokens[i + 1].kind in ("ident", "key")
    ]
    for start in starts:
        end = start + 2
        while end < len(tokens) and not (
            tokens[end].kind == "ident" and tokens[end].value in ("def", "defp", "defmodule")
        ):
            end += 1
        found.setdefault(tokens[start + 1].value, []).append((start, end))
    return found


def _deps_functions(tokens: list[_Token], functions: dict[str, list[tuple[int, int]]]) -> list[str]:
    """Names of the functions that hold dependencies, in source order.

    Those whose name ends in ``deps`` (``defp deps do ... end``), and the functions of the same
    text they call (``defp deps, do: common() ++ [...]``), transitively.
    """
    wanted = [name for name in functions if name.endswith("deps")]
    seen = set(wanted)
    queue = list(wanted)
    while queue:
        for start, end in functions[queue.pop()]:
            for i in range(start + 2, end - 1):
                name = tokens[i].value
                if (
                    tokens[i].kind == "ident"
                    and tokens[i + 1].kind == "("
                    and name in functions
                    and name not in seen
                ):
                    seen.add(name)
                    queue.append(name)
    return sorted(seen, key=lambda name: functions[name][0][0])


# Kernel constructs that combine dependency lists (``++ if(Mix.env() == :test, do: [...])``); their
# literal content is read, so they are not reported as calls that cannot be read.
_CONTROL_FLOW = frozenset({"if", "unless", "case", "cond", "for", "with"})


def _call_name(parts: tuple[_Term, ...], paren: int) -> str | None:
    """The dotted callee before the ``(...)`` at ``parts[paren]`` (``dep_spec``, ``Shared.deps``)."""
    names: list[str] = []
    for part in reversed(parts[:paren]):
        text = part.text if isinstance(part, _Other) else ""
        # Read back from the "(": identifier, ".", identifier, ... alternating.
        want_ident = not names or names[-1] == "."
        if not (_IDENT_RE.fullmatch(text) if want_ident else text == "."):
            break
        names.append(text)
    if not names or names[-1] == ".":
        return None
    return "".join(reversed(names))


def _single_call(term: _Term) -> tuple[str, bool] | None:
    """``(callee, has_args)`` when ``term`` is one call expression (``dep_spec(:foo)``), else ``None``."""
    if not isinstance(term, _Other) or term.text != "expression" or len(term.items) < 2:
        return None
    last = term.items[-1]
    if not (isinstance(last, _Other) and last.text == "("):
        return None
    name = _call_name(term.items, len(term.items) - 1)
    if name is None or name.count(".") * 2 + 1 != len(term.items) - 1:
        return None
    return name, bool(last.items)


def _call_label(name: str, has_args: bool) -> str:
    return f"{name}({'...' if has_args else ''})"


def _unread_calls(terms: list[_Term], defined: dict[str, list[tuple[int, int]]]) -> list[str]:
    """Calls that produce dependencies the text does not show, as labels (``dep_spec(...)``).

    A call that is an element of a dependency list, or an operand of ``++``, to a function not
    defined in the text. Calls to functions of the text are read through their bodies instead.
    """
    found: list[str] = []
    stack: list[_Term] = list(reversed(terms))
    while stack:
        term = stack.pop()
        if isinstance(term, _List) and any(_is_dep_tuple(item) for item in term.items):
            for item in term.items:
                call = _single_call(item)
                if call and call[0] not in defined and call[0] not in _CONTROL_FLOW:
                    found.append(_call_label(*call))
        if isinstance(term, _Other) and term.text == "expression":
            parts = term.items
            for i, part in enumerate(parts):
                if not (isinstance(part, _Other) and part.text == "(") or not _next_to_concat(parts, i):
                    continue
                name = _call_name(parts, i)
                if name and name not in defined and name not in _CONTROL_FLOW:
                    found.append(_call_label(name, bool(part.items)))
        if isinstance(term, _Tuple | _List | _Other):
            stack.extend(reversed(term.items))
        elif isinstance(term, _Pair):
            stack.extend((term.value, term.key))
    return found


def _next_to_concat(parts: tuple[_Term, ...], paren: int) -> bool:
    """Whether the call ending at ``parts[paren]`` is an operand of ``++``."""

    def plus(i: int) -> bool:
        if not 0 <= i < len(parts):
            return False
        part = parts[i]
        return isinstance(part, _Other) and part.text == "+"

    name = _call_name(parts, paren) or ""
    first = paren - (name.count(".") * 2 + 1)
    return (plus(paren + 1) and plus(paren + 2)) or (plus(first - 1) and plus(first - 2))


def _parse_exs(tokens: list[_Token], *, beside_lock: bool = False) -> _Collector:
    """Dependency tuples of a mix.exs; ``beside_lock``: the text also holds a mix.lock, whose entries
    (and the dependency tuples nested in them) are not read as mix.exs deps."""
    collector = _Collector("mix.exs")
    functions = _functions(tokens)
    names = _deps_functions(tokens, functions)
    regions = [r for name in names for r in functions[name]] or [(0, len(tokens))]
    for start, end in sorted(regions):
        terms = _read_terms(tokens[start:end])
        if beside_lock:
            terms = _without_lock(terms)
        for dep in _walk(terms, _is_dep_in_function if names else _is_dep_tuple):
            if not dep.closed:
                app = _text(dep.items[0]) or "?"
                collector.skip(app, "unparseable dependency (truncated or unbalanced?)", recognized=False)
                continue
            _exs_dep(collector, dep.items)
        for label in _unread_calls(terms, functions):
            collector.skip(
                label,
                "dependencies built by a function call that is not in the text; "
                "paste the {:name, requirement} tuples it returns",
                recognized=False,
            )
    return collector


def _is_lock_container(term: _Term) -> bool:
    return (
        _is_lock_map(term)
        or _is_known_lock_entry(term)
        or (isinstance(term, _List | _Other) and any(_is_known_lock_entry(item) for item in term.items))
    )


def _without_lock(terms: Iterable[_Term]) -> list[_Term]:
    """``terms`` with every mix.lock container taken out, at any depth (bounded by ``_MAX_DEPTH``)."""
    kept: list[_Term] = []
    for term in terms:
        if _is_lock_container(term):
            continue
        if isinstance(term, _Tuple):
            kept.append(_Tuple(tuple(_without_lock(term.items)), term.closed))
        elif isinstance(term, _List):
            kept.append(_List(tuple(_without_lock(term.items))))
        elif isinstance(term, _Other) and term.items:
            kept.append(_Other(term.text, tuple(_without_lock(term.items))))
        else:
            kept.append(term)
    return kept


def _exs_dep(collector: _Collector, items: tuple[_Term, ...]) -> None:
    app = _text(items[0]) or "?"
    requirement_term = items[1] if isinstance(items[1], _Str) else None
    opts: dict[str, _Term] = {}
    for item in items[1:]:
        pairs = item.items if isinstance(item, _List) else (item,)
        for pair in pairs:
            if isinstance(pair, _Pair) and (key := _text(pair.key)) is not None:
                opts.setdefault(key, pair.value)

    if "git" in opts or "github" in opts:
        collector.skip(app, "git dependency", recognized=True)
        return
    if "path" in opts:
        collector.skip(app, "path dependency", recognized=True)
        return
    if "in_umbrella" in opts:
        collector.skip(app, "umbrella dependency", recognized=True)
        return
    if "organization" in opts:
        organization = _text(opts["organization"]) or "?"
        collector.skip(app, f"private repo 'hexpm:{organization}'", recognized=True)
        return
    if "repo" in opts:
        repo = _text(opts["repo"])
        reason = _repo_reason(repo) if repo is not None else "private repo (not a literal name)"
        if reason:
            collector.skip(app, reason, recognized=True)
            return

    package = _text(opts["hex"]) if "hex" in opts else app
    if package is None:
        collector.skip(app, "the hex: package name is not a literal", recognized=False)
        return
    if not _check_name(collector, package, app):
        return
    requirement: str | None = None
    if not isinstance(items[1], _Str | _Pair) and not _is_keywords(items[1]):
        collector.skip(
            app, "the requirement is not a string literal (a variable, sigil or call)", recognized=False
        )
        return
    if requirement_term is not None:
        if not requirement_term.literal:
            collector.skip(
                app, "the requirement is built at run time (interpolated string)", recognized=False
            )
            return
        try:
            requirement = str(Requirement.parse(requirement_term.value))
        except VersionError as exc:
            collector.skip(app, str(exc), recognized=False)
            return
    collector.add(
        package,
        version=None,
        requirement=requirement,
        app=app,
        optional=_is_true(opts.get("optional")),
        override=_is_true(opts.get("override")),
    )


# --- name version lines ------------------------------------------------------------------------

_LINE_RE = re.compile(r"(?P<name>[^\s@:\"'=<>~!]+)[\"']?\s*(?:[@:]\s*)?(?P<rest>.*)")
_LOOSE_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]+")


def _parse_lines(text: str) -> _Collector:
    collector = _Collector("lines")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        # Tolerate list bullets and the punctuation of a pasted list or table.
        line = line.lstrip("*-•").strip().rstrip(",;").strip()
        if not line:
            continue
        match = _LINE_RE.fullmatch(line.lstrip(":\"'"))
        if match is None:
            collector.skip(f"line {number}", f"unparseable line: {line[:60]!r}", recognized=False)
            continue
        name = match["name"]
        rest = match["rest"].strip().strip("\"'").strip()
        if not _NAME_RE.fullmatch(name):
            if _LOOSE_NAME_RE.fullmatch(name):
                collector.skip(name, f"not a Hex package name: {name!r}", recognized=False)
            else:
                collector.skip(f"line {number}", f"unparseable line: {line[:60]!r}", recognized=False)
            continue
        if not rest:
            collector.add(name, version=None, requirement=None, app=None)
            continue
        if not is_requirement(rest) and len(rest.split()) > 1:
            collector.skip(f"line {number}", f"unparseable line: {line[:60]!r}", recognized=False)
            continue
        try:
            if is_requirement(rest):
                collector.add(name, version=None, requirement=str(Requirement.parse(rest)), app=None)
            else:
                collector.add(name, version=str(Version.parse(rest)), requirement=None, app=None)
        except VersionError as exc:
            collector.skip(name, str(exc), recognized=False)
    return collector


# --- a mix.lock and a mix.exs in one paste ---------------------------------------------------------


def _merge(lock: DepsInput, exs: DepsInput) -> DepsInput:
    """One dep per package: the locked version, with the mix.exs requirement and options when declared there.

    Packages the mix.exs declares but the lock lacks come after the locked ones (not fetched yet).
    """
    declared = {spec.name: spec for spec in exs.deps}
    deps = [
        replace(
            spec, requirement=own.requirement, optional=own.optional, override=own.override, declared=True
        )
        if (own := declared.get(spec.name)) is not None
        else spec
        for spec in lock.deps
    ]
    locked = {spec.name for spec in lock.deps}
    deps += [spec for spec in exs.deps if spec.name not in locked]
    seen = {skip.name for skip in lock.skipped}
    skipped = lock.skipped + [skip for skip in exs.skipped if skip.name not in seen]
    return DepsInput(deps=deps[:MAX_DEPS], skipped=skipped, format="mix.lock+mix.exs")


# --- entry point -------------------------------------------------------------------------------


def parse_deps(text: str) -> DepsInput:
    """Read dependencies from a pasted mix.lock, mix.exs (or its deps list), or ``name version`` lines.

    The format is detected: entries shaped like ``"name": {:hex, ...}`` make it a mix.lock, tuples
    like ``{:name, "~> 1.0"}`` a mix.exs, anything else is read line by line. A text holding both a
    mix.lock and mix.exs deps is read as both and merged (format ``"mix.lock+mix.exs"``). Deps are
    deduplicated by package name (first wins) and capped at ``MAX_DEPS``; the rest is reported in
    ``skipped``. Raises ``DepsInputError`` when no dependency at all could be read.
    """
    if len(text) > MAX_INPUT_CHARS:
        raise DepsInputError(
            f"input is {len(text)} characters, more than the {MAX_INPUT_CHARS} accepted. {_ACCEPTED_FORMATS}"
        )
    if not text.strip():
        raise DepsInputError(f"input is empty. {_ACCEPTED_FORMATS}")
    tokens = _tokenize(text)
    lock = _parse_lock(tokens)
    if lock.found_anything():
        exs = _parse_exs(tokens, beside_lock=True)
        if exs.result.deps or exs.recognized:
            return _merge(lock.finish(), exs.finish())
        return lock.finish()
    collector = _parse_exs(tokens)
    if collector.found_anything():
        return collector.finish()
    if any(token.kind == "ident" and token.value in ("defmodule", "defp", "def") for token in tokens):
        # Elixir source without dependency tuples: reading it line by line would turn words such
        # as "end" into package names.
        collector.problems.append("no {:name, requirement} dependency tuples in this Elixir code")
        return collector.finish()
    return _parse_lines(text).finish()
