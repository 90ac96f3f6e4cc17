"""hex_diff's changelog part without I/O: the view `changelog_part` builds and the text `render` makes of it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hex_mcp import render
from hex_mcp.changelog_part import changelog_view, fallback_link
from hex_mcp.models import ChangelogView
from hex_mcp.tarball import ChangelogFile
from hex_mcp.tokens import count_tokens
from tests.helpers import tokens
from tests.test_upgrade_diff import _diff_view

CHANGELOG = """\
# Changelog

## v2.1.0 (2024-06-30)

### Breaking changes
- `Acme.parse/1` returns `{:ok, term}`.

### Enhancements
- Faster parsing of long inputs.
- `Acme.stream/2` reads from any enumerable, one chunk at a time.
- Error messages name the line and column of the first bad byte.
- A `:strict` option refuses duplicate keys instead of keeping the last one.

## v2.0.5 (2024-03-01)
- Fixed a crash on empty input.

## v2.0.4 (2024-01-02)
- Older entry, outside the range.
"""


def view(
    found: ChangelogFile | None = None, failure: str | None = None, max_tokens: int = 1200
) -> ChangelogView:
    return changelog_view(
        low="2.0.4",
        high="2.1.0",
        found=found,
        failure=failure,
        max_tokens=max_tokens,
        count_tokens=count_tokens,
    )


def test_shown_entries_render_after_the_code_diff_line() -> None:
    part = view(ChangelogFile("CHANGELOG.md", CHANGELOG))
    text = render.diff(_diff_view(changelog=part))
    assert text.split("code diff: https://diff.hex.pm/diff/acme/2.0.4..2.1.0\n", 1)[1] == (
        "changelog (CHANGELOG.md of 2.1.0) · 2 entries after 2.0.4:\n"
        "## 2.1.0 (2024-06-30)\n"
        "### Breaking changes\n"
        "- `Acme.parse/1` returns `{:ok, term}`.\n"
        "\n"
        "### Enhancements\n"
        "- Faster parsing of long inputs.\n"
        "- `Acme.stream/2` reads from any enumerable, one chunk at a time.\n"
        "- Error messages name the line and column of the first bad byte.\n"
        "- A `:strict` option refuses duplicate keys instead of keeping the last one.\n"
        "\n"
        "## 2.0.5 (2024-03-01)\n"
        "- Fixed a crash on empty input.\n"
        "source: hex.pm · cached 5m ago"
    )
    assert [(s.version, s.date, s.complete) for s in part.sections] == [
        ("2.1.0", "2024-06-30", True),
        ("2.0.5", "2024-03-01", True),
    ]
    assert (part.status, part.complete, part.omitted) == ("shown", True, [])
    assert part.full_tokens == tokens(render.changelog(part))


def test_a_cut_part_fits_its_budget_and_names_what_it_left_out() -> None:
    part = view(ChangelogFile("CHANGELOG.md", CHANGELOG), max_tokens=120)
    assert render.changelog(part) == (
        "changelog (CHANGELOG.md of 2.1.0) · 2 entries after 2.0.4:\n"
        "## 2.1.0 (2024-06-30)\n"
        "### Breaking changes\n"
        "- `Acme.parse/1` returns `{:ok, term}`.\n"
        "\n"
        "### Enhancements\n"
        "- Faster parsing of long inputs.\n"
        "[+3 lines not shown]\n"
        "\n"
        "+1 section not shown (2.0.5), 1 shortened; call hex_diff with a narrower range or max_tokens=145 to see all."
    )
    assert tokens(render.changelog(part)) <= 120
    assert (part.complete, part.omitted, part.full_tokens) == (False, ["2.0.5"], 145)
    assert [(s.version, s.complete) for s in part.sections] == [("2.1.0", False)]


def test_the_note_s_max_tokens_shows_everything() -> None:
    long_entries = "\n".join(
        f"## 2.0.{n}\n- Fix number {n} of many, described at some length here.\n" for n in range(5, 60)
    )
    found = ChangelogFile("CHANGELOG.md", long_entries)
    cut = changelog_view(
        low="2.0.4", high="2.0.59", found=found, failure=None, max_tokens=150, count_tokens=count_tokens
    )
    assert cut.complete is False and cut.full_tokens is not None
    whole = changelog_view(
        low="2.0.4",
        high="2.0.59",
        found=found,
        failure=None,
        max_tokens=cut.full_tokens,
        count_tokens=count_tokens,
    )
    assert whole.complete is True
    assert tokens(render.changelog(whole)) <= cut.full_tokens


@pytest.mark.parametrize(
    ("part", "line"),
    [
        (
            view(failure="the Hex repository has no tarball for acme 2.1.0"),
            "changelog: not shown — the Hex repository has no tarball for acme 2.1.0",
        ),
        (
            view(ChangelogFile("NEWS.md", "# News\n\n## Recent\n- Things.\n")).model_copy(
                update={"link": "https://github.com/acme/acme", "link_label": "GitHub"}
            ),
            "changelog: not shown — NEWS.md has no version heading this server can read (such as '## 1.8.0') · "
            "see GitHub: https://github.com/acme/acme",
        ),
        (
            view(ChangelogFile("CHANGELOG.md", "## 2.0.0\n- Old.\n")),
            "changelog: not shown — CHANGELOG.md has no entry after 2.0.4 up to 2.1.0 (its newest entry is 2.0.0)",
        ),
    ],
    ids=["unavailable", "no-sections", "empty-range"],
)
def test_no_entries_is_one_line(part: ChangelogView, line: str) -> None:
    assert render.changelog(part) == line
    assert part.sections == []


def test_a_diff_without_a_changelog_part_renders_as_before() -> None:
    assert "changelog" not in render.diff(_diff_view())


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        (
            {"GitHub": "https://github.com/a/b", "Changelog": "https://hexdocs.pm/b/changelog.html"},
            ("Changelog", "https://hexdocs.pm/b/changelog.html"),
        ),
        ({"Docs": "https://b.dev", "GitLab": "https://gitlab.com/a/b"}, ("GitLab", "https://gitlab.com/a/b")),
        (
            {"Release notes": "https://b.dev/notes", "GitHub": "https://github.com/a/b"},
            ("Release notes", "https://b.dev/notes"),
        ),
        ({"Source": "https://codeberg.org/a/b"}, ("Source", "https://codeberg.org/a/b")),
        (
            {"Changelog": "javascript:alert(1)", "Website": "https://b.dev"},
            ("hex.pm", "https://hex.pm/packages/b"),
        ),
        ({}, ("hex.pm", "https://hex.pm/packages/b")),
    ],
)
def test_fallback_link_prefers_changelog_then_repository(
    links: dict[str, str], expected: tuple[str, str]
) -> None:
    assert fallback_link(links, "https://hex.pm/packages/b") == expected


WORDS = st.sampled_from(
    [
        "fix",
        "add",
        "`Acme.run/2`",
        "breaking:",
        "security",
        "deprecated",
        "removed",
        "faster",
        "the",
        "option",
        "é",
        "日本",
    ]
)
LINES = st.lists(WORDS, min_size=1, max_size=12).map(lambda words: "- " + " ".join(words))


@settings(max_examples=60, deadline=None)
@given(
    entries=st.lists(st.lists(LINES, min_size=1, max_size=8), min_size=1, max_size=30),
    budget=st.integers(min_value=100, max_value=700),
    sub_headings=st.booleans(),
)
def test_any_changelog_part_fits_its_budget(
    entries: list[list[str]], budget: int, sub_headings: bool
) -> None:
    """Whatever the entries, the rendered part (header included) never exceeds max_tokens, and a cut says so."""
    blocks = []
    for n, lines in enumerate(entries):
        body = "\n".join(lines)
        blocks.append(
            f"## 1.{len(entries) - n}.0\n" + (f"### Breaking changes\n{body}" if sub_headings else body)
        )
    found = ChangelogFile("CHANGELOG.md", "\n\n".join(blocks))
    part = changelog_view(
        low="1.0.0",
        high=f"1.{len(entries)}.0",
        found=found,
        failure=None,
        max_tokens=budget,
        count_tokens=count_tokens,
    )
    text = render.changelog(part)
    assert tokens(text) <= budget
    assert part.complete or "call hex_diff with" in text
