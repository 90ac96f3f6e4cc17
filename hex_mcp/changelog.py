"""Split a changelog into per-version sections, pick the ones between two releases, and fit them to a budget.

Recognised version headings (any ATX level ``#`` to ``######``, case-insensitive words):

* Keep a Changelog: ``## [1.8.0] - 2025-08-05``, also with a link: ``## [1.8.0](https://...) (2025-08-05)``
* Elixir style: ``## v1.8.0 (2025-08-05)``, ``## v1.8.0-rc.0``, ``## v1.8.0 (unreleased)``
* bare: ``# 1.8.0``, ``### 1.8.0``, ``## 1.8.0 - 2025-08-05``, ``## 1.8.0 / 2025-08-05``
* worded: ``## Version 1.8.0``, ``## Release v1.8.0``
* setext: ``1.8.0`` underlined with ``===`` (level 1) or ``---`` (level 2)
* plain: a line holding only a version and optionally a date (``v1.8.0 (2025-08-05)``) after a blank line,
  as older NEWS files write them; such a line counts as a level-2 heading.

The version must open the heading, so ``## Upgrading from 1.6`` or ``# Changelog for v1.18`` are not sections.
A date is the first ``YYYY-MM-DD`` after the version. Headings inside fenced code blocks are ignored.

Two-part versions (``## v1.8``): when the next version heading is nested deeper (``### v1.8.1``), the two-part
heading only groups its patch releases and is not a section itself; otherwise it is the ``1.8.0`` release,
which is what a two-part heading means in changelogs that version by minor release.

A section's body runs to the next version heading, or to the next heading of its own level or higher (so
``## [Unreleased]`` ends the section before it). Keep a Changelog's link definitions at the end of the file
(``[1.8.0]: https://...``) are dropped from the last body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hex_mcp.versions import Version

__all__ = [
    "RenderedChangelog",
    "Section",
    "ShownSection",
    "parse_sections",
    "render_sections",
    "select_sections",
]


@dataclass(frozen=True, slots=True)
class Section:
    """One release's entry: ``version`` normalised (``1.8.0``), ``heading`` as written (without ``#``)."""

    version: str
    date: str | None
    heading: str
    body: str


@dataclass(frozen=True, slots=True)
class ShownSection:
    """What ``render_sections`` showed of one section (``text`` is the body shown, cut marker included)."""

    version: str
    date: str | None
    text: str
    complete: bool


@dataclass(frozen=True, slots=True)
class RenderedChangelog:
    """Sections fitted to a token budget: the text, what it shows and what it left out."""

    text: str
    sections: tuple[ShownSection, ...]
    omitted: tuple[str, ...]  # versions with nothing shown, newest first
    complete: bool  # every line of every section is in ``text``
    full_tokens: int  # what the uncut rendering needs; the max_tokens to ask for to see everything


# --- parsing -----------------------------------------------------------------------------------------------

_VERSION = r"(?P<version>\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)"
_DATE = r"(?P<date>\d{4}-\d{2}-\d{2})"
# The version opens the heading, optionally bracketed, prefixed by `v` or by the word "version"/"release".
_HEADING_VERSION_RE = re.compile(
    rf"\[?\s*(?:(?:version|release)\s+)?v?{_VERSION}(?=$|[\s\]\)\(,:;/\u2013\u2014])", re.IGNORECASE
)
_DATE_RE = re.compile(rf"(?<!\d){_DATE}(?!\d)")
_PLAIN_VERSION_LINE_RE = re.compile(
    rf"v?{_VERSION}(?:\s+(?:\(\d{{4}}-\d{{2}}-\d{{2}}\)|[-/\u2013\u2014]\s*\d{{4}}-\d{{2}}-\d{{2}}))?\s*",
    re.IGNORECASE,
)
_ATX_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SETEXT_RE = re.compile(r" {0,3}(=+|-+)[ \t]*")
_FENCE_RE = re.compile(r" {0,3}(```|~~~)")
_LIST_ITEM_RE = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_LINK_DEFINITION_RE = re.compile(r" {0,3}\[[^\]]+\]:\s*\S+.*")


@dataclass(frozen=True, slots=True)
class _Heading:
    line: int  # index of the first line after the heading
    start: int  # index of the heading's first line
    level: int
    text: str
    version: Version | None
    two_part: bool
    date: str | None


def _version_of(text: str) -> tuple[Version | None, bool, str | None]:
    """(version, written with two parts, date) of a heading's text; version None if it is not a release."""
    match = _HEADING_VERSION_RE.match(text)
    if match is None:
        return None, False, None
    raw = match["version"]
    core = raw.partition("-")[0]
    two_part = core.count(".") == 1
    version = Version.try_parse(raw.replace(core, core + ".0", 1) if two_part else raw)
    if version is None:
        return None, False, None
    date = _DATE_RE.search(text, match.end())
    return version, two_part, date["date"] if date else None


def _headings(lines: Sequence[str]) -> list[_Heading]:
    found: list[_Heading] = []
    in_fence: str | None = None
    for index, line in enumerate(lines):
        fence = _FENCE_RE.match(line)
        if fence:
            if in_fence is None:
                in_fence = fence[1]
            elif fence[1] == in_fence:
                in_fence = None
            continue
        if in_fence is not None:
            continue
        atx = _ATX_RE.fullmatch(line)
        if atx:
            text = (atx[2] or "").strip()
            found.append(_Heading(index + 1, index, len(atx[1]), text, *_version_of(text)))
            continue
        underline = _SETEXT_RE.fullmatch(lines[index + 1]) if index + 1 < len(lines) else None
        previous_blank = index == 0 or not lines[index - 1].strip()
        if (
            underline
            and len(underline[1]) >= 3
            and line.strip()
            and previous_blank
            and not _LIST_ITEM_RE.match(line)
        ):
            text = line.strip()
            level = 1 if underline[1][0] == "=" else 2
            found.append(_Heading(index + 2, index, level, text, *_version_of(text)))
            continue
        if previous_blank and _PLAIN_VERSION_LINE_RE.fullmatch(line):
            text = line.strip()
            found.append(_Heading(index + 1, index, 2, text, *_version_of(text)))
    # A setext underline may itself look like a heading start on the next pass; drop headings that overlap.
    kept: list[_Heading] = []
    for heading in found:
        if kept and heading.start < kept[-1].line:
            continue
        kept.append(heading)
    return kept


def _body(lines: Sequence[str], last: bool) -> str:
    body = list(lines)
    if last:
        while body and (not body[-1].strip() or _LINK_DEFINITION_RE.fullmatch(body[-1])):
            body.pop()
    return "\n".join(body).strip("\n")


def parse_sections(text: str) -> list[Section]:
    """The release sections of a changelog, in document order; the first occurrence of a version wins."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    headings = _headings(lines)
    sections: list[Section] = []
    seen: set[Version] = set()
    for position, heading in enumerate(headings):
        if heading.version is None:
            continue
        # Indices, not a slice: a slice per heading copies the rest of the list, which is quadratic in a
        # changelog of tens of thousands of headings.
        next_version = next(
            (headings[i] for i in range(position + 1, len(headings)) if headings[i].version is not None), None
        )
        if (
            heading.two_part
            and next_version is not None
            and next_version.level > heading.level
            and next_version.version is not None
            and (next_version.version.major, next_version.version.minor)
            == (heading.version.major, heading.version.minor)
        ):
            continue  # groups the patch releases below it
        end = next(
            (
                headings[i]
                for i in range(position + 1, len(headings))
                if headings[i].version is not None or headings[i].level <= heading.level
            ),
            None,
        )
        body_end = end.start if end is not None else len(lines)
        if heading.version in seen:
            continue
        seen.add(heading.version)
        sections.append(
            Section(
                version=str(heading.version),
                date=heading.date,
                heading=heading.text,
                body=_body(lines[heading.line : body_end], last=end is None),
            )
        )
    return sections


def select_sections(
    sections: Iterable[Section], from_version: Version | str, to_version: Version | str
) -> list[Section]:
    """The sections with ``from_version < version <= to_version`` by SemVer precedence, newest first.

    Pre-releases fall where precedence puts them: ``1.8.0-rc.0`` is inside (1.7.0, 1.8.0]. An empty list when
    ``from_version >= to_version``.
    """
    low = from_version if isinstance(from_version, Version) else Version.parse(from_version)
    high = to_version if isinstance(to_version, Version) else Version.parse(to_version)
    chosen = [(Version.parse(s.version), s) for s in sections]
    chosen = [(v, s) for v, s in chosen if low < v <= high]
    chosen.sort(key=lambda pair: pair[0], reverse=True)
    return [s for _, s in chosen]


# --- rendering ---------------------------------------------------------------------------------------------

_IMPORTANT_HEADING_RE = re.compile(
    r"break|backwards?[- ]?incompatib|incompatib|deprecat|remov|security|vulnerab", re.IGNORECASE
)
_IMPORTANT_LINE_RE = re.compile(
    r"\bbreaking\b|\bdeprecat\w*|\bremov(?:e|ed|es|al|ing)\b|\bsecurity\b|\bvulnerab\w*|\bCVE-\d"
    r"|\bbackwards?[- ]?incompatib\w*|\bincompatib\w*",
    re.IGNORECASE,
)
_SUBHEADING_RE = re.compile(r" {0,3}(#{1,6})[ \t]")
_MARKER_WORST = "[+99999 lines not shown]"
_SHORT_NOTE = (
    "Changelog not shown: max_tokens={max_tokens} is too small; call hex_diff with max_tokens={full}."
)


@dataclass(slots=True)
class _Block:
    """A heading, a list item with its continuation lines, or a paragraph, with trailing blank lines."""

    lines: list[str]
    heading_level: int  # 0 for anything but a heading
    parents: tuple[int, ...]  # indices of the enclosing sub-headings within the section
    important: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def content_lines(self) -> int:
        return sum(1 for line in self.lines if line.strip())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _blocks(body: str) -> list[_Block]:
    blocks: list[_Block] = []
    stack: list[int] = []  # enclosing sub-headings, outermost first
    in_fence: str | None = None
    for line in body.split("\n") if body else []:
        fence = _FENCE_RE.match(line)
        current = blocks[-1] if blocks else None
        if in_fence is not None or (current is not None and not line.strip()):
            if current is not None:
                current.lines.append(line)
            if fence and in_fence is not None and fence[1] == in_fence:
                in_fence = None
            continue
        heading = _SUBHEADING_RE.match(line)
        if heading:
            level = len(heading[1])
            while stack and blocks[stack[-1]].heading_level >= level:
                stack.pop()
            blocks.append(_Block([line], level, tuple(stack)))
            stack.append(len(blocks) - 1)
        elif (
            current is not None
            and current.heading_level == 0
            and not (_LIST_ITEM_RE.match(line) and _indent(line) <= _indent(current.lines[0]))
            and (line[:1] in (" ", "\t") or current.lines[-1].strip())
        ):
            current.lines.append(line)  # continuation of the item or paragraph
        else:
            blocks.append(_Block([line], 0, tuple(stack)))
        if fence:
            in_fence = fence[1]
    for block in blocks:
        if block.heading_level:
            block.important = bool(_IMPORTANT_HEADING_RE.search(block.lines[0]))
    for block in blocks:
        if block.heading_level == 0:
            block.important = any(blocks[p].important for p in block.parents) or bool(
                _IMPORTANT_LINE_RE.search(block.text)
            )
    return blocks


def _header(section: Section) -> str:
    return f"## {section.version} ({section.date})" if section.date else f"## {section.version}"


def _marker(hidden_lines: int) -> str:
    return f"[+{hidden_lines} {_plural(hidden_lines, 'line')} not shown]"


def _version_list(versions: Sequence[str]) -> str:
    # Up to three are listed; past that newest and oldest only, so the footer stays short whatever the range.
    return ", ".join(versions) if len(versions) <= 3 else f"{versions[0]}, …, {versions[-1]}"


def _footer(omitted: Sequence[str], shortened: int, full: int) -> str:
    parts = []
    if omitted:
        parts.append(
            f"+{len(omitted)} {_plural(len(omitted), 'section')} not shown ({_version_list(omitted)})"
        )
    if shortened:
        parts.append(f"{shortened} {'' if omitted else _plural(shortened, 'section') + ' '}shortened")
    return f"{', '.join(parts)}; call hex_diff with a narrower range or max_tokens={full} to see all."


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else noun + "s"


def _layout(
    sections: Sequence[Section],
    blocks: Sequence[Sequence[_Block]],
    shown: Sequence[set[int]] | None,
    headers: set[int] | None = None,
) -> tuple[list[str], list[ShownSection], list[str]]:
    """(section texts, shown sections, omitted versions) for the chosen blocks of each section, plus the
    block-less sections whose header is shown; ``shown`` None is everything."""
    texts: list[str] = []
    views: list[ShownSection] = []
    omitted: list[str] = []
    for index, section in enumerate(sections):
        section_blocks = blocks[index]
        chosen = set(range(len(section_blocks))) if shown is None else shown[index]
        if shown is not None and not chosen and index not in (headers or set()):
            omitted.append(section.version)
            continue
        lines = [line for b, block in enumerate(section_blocks) if b in chosen for line in block.lines]
        hidden = sum(block.content_lines for b, block in enumerate(section_blocks) if b not in chosen)
        while lines and not lines[-1].strip():
            lines.pop()
        if hidden:
            lines.append(_marker(hidden))
        body = "\n".join(lines)
        texts.append(f"{_header(section)}\n{body}" if body else _header(section))
        views.append(ShownSection(section.version, section.date, body, complete=not hidden))
    return texts, views, omitted


class _Fitter:
    """Admits blocks one at a time while an estimate of the rendered size stays within the budget.

    The estimate adds up each piece's own token count (headers, blocks, one marker per shortened section) and
    counts the footer for the current state exactly; pieces joined by newlines tokenise almost additively, and
    ``render_sections`` verifies the real total afterwards.
    """

    def __init__(
        self,
        sections: Sequence[Section],
        blocks: Sequence[Sequence[_Block]],
        max_tokens: int,
        full: int,
        count: Callable[[str], int],
    ) -> None:
        self.sections = sections
        self.blocks = blocks
        self.max_tokens = max_tokens
        self.full = full
        self.count = count
        self.shown: list[set[int]] = [set() for _ in sections]
        self.headers: set[int] = set()  # block-less sections admitted by their header alone
        self.admitted: list[tuple[int, int | None, tuple[int, ...]]] = []
        self.spent = 0  # headers and blocks, without markers and footer
        self.marker = count("\n" + _MARKER_WORST)

    def is_shown(self, s: int) -> bool:
        return bool(self.shown[s]) or s in self.headers

    def _estimate(self, extra: int, extra_section: int, extra_blocks: tuple[int, ...]) -> int:
        omitted = [
            section.version
            for s, section in enumerate(self.sections)
            if not self.is_shown(s) and s != extra_section
        ]
        shortened = sum(
            1
            for s in range(len(self.sections))
            if (self.is_shown(s) or s == extra_section)
            and len(self.shown[s]) + (len(extra_blocks) if s == extra_section else 0) < len(self.blocks[s])
        )
        footer = self.count("\n\n" + _footer(omitted, shortened, self.full))
        return self.spent + extra + shortened * self.marker + footer

    def try_admit(self, s: int, b: int | None) -> bool:
        cost = 0 if self.is_shown(s) else self.count("\n\n" + _header(self.sections[s]))
        added: tuple[int, ...] = ()
        if b is not None:
            block = self.blocks[s][b]
            added = tuple(i for i in (*block.parents, b) if i not in self.shown[s])
            cost += sum(self.count("\n" + self.blocks[s][i].text) for i in added)
        if self._estimate(cost, s, added) > self.max_tokens:
            return False
        self.spent += cost
        if b is None:
            self.headers.add(s)
        self.shown[s].update(added)
        self.admitted.append((s, b, added))
        return True

    def undo_last(self) -> None:
        s, b, added = self.admitted.pop()
        if b is None:
            self.headers.discard(s)
        self.shown[s].difference_update(added)

    def render(self) -> tuple[str, list[ShownSection], list[str]]:
        texts, views, omitted = _layout(self.sections, self.blocks, self.shown, self.headers)
        shortened = sum(not view.complete for view in views)
        footer = _footer(omitted, shortened, self.full)
        return "\n\n".join([*texts, footer]), views, omitted


def render_sections(
    sections: Sequence[Section],
    *,
    max_tokens: int,
    count_tokens: Callable[[str], int],
    reserved: int = 0,
) -> RenderedChangelog:
    """Render ``sections`` (newest first) in at most ``max_tokens`` tokens as counted by ``count_tokens``.

    When everything fits, every section is shown whole. Otherwise lines are admitted by priority: first the
    list items and paragraphs about breaking changes, deprecations, removals and security (under a sub-heading
    naming them, or mentioning them), from all sections newest first, each admitted if it still fits; then, if
    all of those fit, every other line, newest section first, until the first that does not fit. A line brings
    its sub-headings and its section's header along. Each shortened section ends with a marker counting the
    lines it hides, and a last line names the sections left out and the ``max_tokens`` that shows everything.

    ``reserved`` is what the caller spends around this text out of the same budget (a header line): it is added
    to the ``max_tokens`` the cut notes suggest, and to ``full_tokens``.
    """
    blocks = [_blocks(section.body) for section in sections]
    full_texts, full_views, _ = _layout(sections, blocks, None)
    full_text = "\n\n".join(full_texts)
    full = count_tokens(full_text) + reserved
    if full - reserved <= max_tokens:
        return RenderedChangelog(full_text, tuple(full_views), (), complete=True, full_tokens=full)

    fitter = _Fitter(sections, blocks, max_tokens, full, count_tokens)
    important_left_out = False
    for s, section_blocks in enumerate(blocks):
        for b, block in enumerate(section_blocks):
            if block.heading_level == 0 and block.important:
                # A long important item that does not fit leaves room for shorter ones after it.
                important_left_out |= not fitter.try_admit(s, b)
    # Ordinary lines only once every important one is in: otherwise a short ordinary line could take the room
    # an important one was refused for.
    for s, section_blocks in enumerate(blocks if not important_left_out else []):
        parents = {p for block in section_blocks if block.heading_level == 0 for p in block.parents}
        # Sub-headings come with their first line; one with no lines under it is admitted on its own.
        others = [b for b, block in enumerate(section_blocks) if block.heading_level == 0 or b not in parents]
        if not section_blocks and not fitter.try_admit(s, None):
            break
        if not all(fitter.try_admit(s, b) for b in others):
            break  # stop at the first miss, so what is shown stays the newest part of the range

    # The estimate can be off by a token or two where pieces join: verify, and back off until it fits.
    text, views, omitted = fitter.render()
    while count_tokens(text) > max_tokens and fitter.admitted:
        fitter.undo_last()
        text, views, omitted = fitter.render()
    if count_tokens(text) > max_tokens:
        views, omitted = [], [s.version for s in sections]
        text = _SHORT_NOTE.format(max_tokens=max_tokens + reserved, full=full)
        if count_tokens(text) > max_tokens:
            text = ""
    return RenderedChangelog(text, tuple(views), tuple(omitted), complete=False, full_tokens=full)
