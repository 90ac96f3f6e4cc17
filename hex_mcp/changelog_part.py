"""The changelog part of hex_diff, decided without I/O: which entries, in how many tokens, or why none and where
to read them instead.

`release_notes` fetches and verifies the tarball; `changelog` splits and fits the text; this module turns either
outcome into a `ChangelogView`. The whole part (its header line included) stays within `max_tokens`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hex_mcp.changelog import parse_sections, render_sections, select_sections
from hex_mcp.models import ChangelogSection, ChangelogStatus, ChangelogView
from hex_mcp.tarball import ChangelogFile
from hex_mcp.versions import Version

__all__ = [
    "MAX_SECTIONS",
    "MAX_TOKENS_DEFAULT",
    "MAX_TOKENS_MAX",
    "MAX_TOKENS_MIN",
    "changelog_header",
    "changelog_view",
    "fallback_link",
]

MAX_TOKENS_DEFAULT = 1_200
# Below 100 not even the note saying the budget is too small fits beside a header; above 20,000 the answer is
# a document, not an answer: a narrower version range reads better.
MAX_TOKENS_MIN = 100
MAX_TOKENS_MAX = 20_000
# The newest entries in range that are fitted to the budget. Even 20,000 tokens show far fewer, and fitting costs
# time with every entry: a changelog of tens of thousands of one-line entries must not stall the answer.
MAX_SECTIONS = 200

# Link names hex.pm packages use for their source, in the order they are preferred after a "Changelog" link.
_REPOSITORY_LINKS = ("github", "gitlab", "codeberg", "bitbucket", "sourcehut", "source", "repository")


def fallback_link(links: Mapping[str, str], package_url: str) -> tuple[str, str]:
    """(label, url): the package's Changelog link, else its repository link, else its hex.pm page."""
    by_name = {name.strip().lower(): (name, url) for name, url in links.items() if url.startswith("http")}
    for name, (label, url) in by_name.items():
        if "changelog" in name or "changes" in name or "release notes" in name:
            return label, url
    for wanted in _REPOSITORY_LINKS:
        if wanted in by_name:
            return by_name[wanted]
    return "hex.pm", package_url


def changelog_header(file: str, read_from: str, low: str, count: int, older: str | None = None) -> str:
    """The part's first line; `older` names the newest entry left out by the MAX_SECTIONS cap, if any."""
    noun = "entry" if count == 1 else "entries"
    if older is not None:
        return (
            f"changelog ({file} of {read_from}) · newest {count} {noun} after {low} (older ones: call hex_diff "
            f"with to_version={older}):"
        )
    return f"changelog ({file} of {read_from}) · {count} {noun} after {low}:"


def changelog_view(
    *,
    low: str,
    high: str,
    found: ChangelogFile | None,
    failure: str | None,
    max_tokens: int,
    count_tokens: Callable[[str], int],
) -> ChangelogView:
    """The entries in (low, high] of `found` (read from `high`'s tarball), or why there are none.

    `failure` is the one-line reason when `found` is None. A view with no entries gets its `link` from the
    caller (see `fallback_link`), which may need a read of the package's links.
    """

    def view(status: ChangelogStatus, **fields: Any) -> ChangelogView:
        return ChangelogView(status=status, read_from=high, after=low, max_tokens=max_tokens, **fields)

    if found is None:
        return view("unavailable", note=failure or "no changelog could be read")
    sections = parse_sections(found.text)
    if not sections:
        return view(
            "no_sections",
            file=found.name,
            note=f"{found.name} has no version heading this server can read (such as '## 1.8.0')",
        )
    chosen = select_sections(sections, Version.parse(low), Version.parse(high))
    if not chosen:
        newest = max(sections, key=lambda s: Version.parse(s.version)).version
        return view(
            "empty_range",
            file=found.name,
            note=f"{found.name} has no entry after {low} up to {high} (its newest entry is {newest})",
        )
    older = chosen[MAX_SECTIONS].version if len(chosen) > MAX_SECTIONS else None
    chosen = chosen[:MAX_SECTIONS]
    header = changelog_header(found.name, high, low, len(chosen), older)
    # The header and the newline after it come out of the same budget, so the whole part fits max_tokens.
    reserved = count_tokens(header + "\n")
    budget = max(1, max_tokens - reserved)
    rendered = render_sections(chosen, max_tokens=budget, count_tokens=count_tokens, reserved=reserved)
    # Pieces tokenise almost additively; where they join across the header they could differ by a token.
    while (over := count_tokens(f"{header}\n{rendered.text}") - max_tokens) > 0 and budget > 1:
        budget = max(1, budget - over)
        rendered = render_sections(chosen, max_tokens=budget, count_tokens=count_tokens, reserved=reserved)
    return view(
        "shown",
        file=found.name,
        sections=[
            ChangelogSection(version=s.version, date=s.date, text=s.text, complete=s.complete)
            for s in rendered.sections
        ],
        omitted=list(rendered.omitted),
        complete=rendered.complete,
        full_tokens=rendered.full_tokens,
        older=older,
        text=rendered.text,
    )
