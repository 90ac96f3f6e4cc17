"""Changelog sections: parsing every common heading style, selecting a version range, fitting a token budget.

Every changelog text here is written for these tests.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakehex.tarballs import hex_tarball, outer_sha256
from hex_mcp.changelog import (
    RenderedChangelog,
    Section,
    ShownSection,
    parse_sections,
    render_sections,
    select_sections,
)
from hex_mcp.tarball import read_changelog
from hex_mcp.versions import Version, VersionError
from tests.helpers import tokens

# --- parsing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "version", "date"),
    [
        ("## [1.8.0] - 2025-08-05", "1.8.0", "2025-08-05"),  # Keep a Changelog
        ("## [1.8.0](https://example.org/compare/v1.7.0...v1.8.0) (2025-08-05)", "1.8.0", "2025-08-05"),
        ("## v1.8.0 (2025-08-05)", "1.8.0", "2025-08-05"),  # Elixir style
        ("# 1.8.0", "1.8.0", None),
        ("### 1.8.0", "1.8.0", None),
        ("###### 1.8.0", "1.8.0", None),
        ("## v1.8.0-rc.0", "1.8.0-rc.0", None),
        ("## v1.8.0-rc.0 (2025-07-30)", "1.8.0-rc.0", "2025-07-30"),
        ("## 1.8.0 - 2025-08-05", "1.8.0", "2025-08-05"),
        ("## 1.8.0 / 2025-08-05", "1.8.0", "2025-08-05"),
        ("## 1.8.0 \u2014 2025-08-05", "1.8.0", "2025-08-05"),
        ("## v1.8.0 (unreleased)", "1.8.0", None),
        ("## V1.8.0", "1.8.0", None),
        ("## Version 1.8.0", "1.8.0", None),
        ("## release v1.8.0 - 2025-08-05", "1.8.0", "2025-08-05"),
        ("## [v1.8.0]", "1.8.0", None),
        ("## 1.8.0: the fast one", "1.8.0", None),
        ("## 1.8.0 ##", "1.8.0", None),  # closing hashes
        ("   ## 1.8.0", "1.8.0", None),  # up to three spaces of indentation
    ],
)
def test_heading_styles(heading: str, version: str, date: str | None) -> None:
    text = f"# Changelog\n\n{heading}\n\n- Add a thing\n\n## 1.7.0\n\n- Older thing\n"
    sections = parse_sections(text)
    assert [(s.version, s.date, s.body) for s in sections] == [
        (version, date, "- Add a thing"),
        ("1.7.0", None, "- Older thing"),
    ]
    assert sections[0].heading == heading.strip().strip("#").strip()


@pytest.mark.parametrize(
    "heading",
    [
        "## Upgrading from 1.6",
        "# Changelog for Demo v1.18",
        "## [Unreleased]",
        "## 01.2.3",  # leading zero: not a version
        "## 1.2.3.4",
        "## 1.8.0beta",  # glued words are not a pre-release
        "#1.8.0",  # no space: not an ATX heading
        "    ## 1.8.0",  # four spaces: an indented code line
    ],
)
def test_not_release_headings(heading: str) -> None:
    assert parse_sections(f"{heading}\n\n- text\n") == []


def test_setext_and_plain_headings() -> None:
    text = (
        "Demo NEWS\n"
        "=========\n"
        "\n"
        "2.0.0\n"
        "=====\n"
        "- Big release\n"
        "\n"
        "1.1.0 (2024-02-03)\n"
        "------------------\n"
        "- Setext level 2\n"
        "\n"
        "v1.0.1 (2024-01-02)\n"
        "- Plain line heading\n"
        "\n"
        "1.0.0 - 2023-12-01\n"
        "- First\n"
    )
    assert parse_sections(text) == [
        Section("2.0.0", None, "2.0.0", "- Big release"),
        Section("1.1.0", "2024-02-03", "1.1.0 (2024-02-03)", "- Setext level 2"),
        Section("1.0.1", "2024-01-02", "v1.0.1 (2024-01-02)", "- Plain line heading"),
        Section("1.0.0", "2023-12-01", "1.0.0 - 2023-12-01", "- First"),
    ]


def test_a_version_alone_inside_a_paragraph_is_not_a_heading() -> None:
    text = "## 1.1.0\n- Requires at least\n1.0.0\n- next item\n"
    assert parse_sections(text) == [
        Section("1.1.0", None, "1.1.0", "- Requires at least\n1.0.0\n- next item")
    ]


def test_keep_a_changelog_document() -> None:
    text = (
        "# Changelog\n"
        "All notable changes to this project are documented here.\n"
        "\n"
        "## [Unreleased]\n"
        "### Added\n"
        "- Work in progress\n"
        "\n"
        "## [0.3.0] - 2026-02-01\n"
        "### Added\n"
        "- `Demo.merge/2`\n"
        "### Removed\n"
        "- `Demo.old_merge/2`\n"
        "\n"
        "## [0.2.0] - 2026-01-01\n"
        "### Fixed\n"
        "- Off-by-one in `Demo.take/2`\n"
        "\n"
        "[Unreleased]: https://example.org/compare/v0.3.0...HEAD\n"
        "[0.3.0]: https://example.org/compare/v0.2.0...v0.3.0\n"
        "[0.2.0]: https://example.org/releases/v0.2.0\n"
    )
    assert parse_sections(text) == [
        Section(
            "0.3.0",
            "2026-02-01",
            "[0.3.0] - 2026-02-01",
            "### Added\n- `Demo.merge/2`\n### Removed\n- `Demo.old_merge/2`",
        ),
        Section("0.2.0", "2026-01-01", "[0.2.0] - 2026-01-01", "### Fixed\n- Off-by-one in `Demo.take/2`"),
    ]


def test_non_release_heading_of_the_same_level_ends_a_section() -> None:
    text = "## v1.0.0\n- One\n\n## Upgrade notes\nRead this.\n\n## v0.9.0\n- Nine\n"
    assert [s.body for s in parse_sections(text)] == ["- One", "- Nine"]


def test_deeper_non_release_headings_stay_in_the_section() -> None:
    text = "# 1.0.0\n## Features\n- One\n## Fixes\n- Two\n# 0.9.0\n- Nine\n"
    assert parse_sections(text)[0].body == "## Features\n- One\n## Fixes\n- Two"


def test_headings_inside_code_fences_are_ignored() -> None:
    text = (
        "## v1.1.0\n"
        "Config now reads:\n"
        "\n"
        "```elixir\n"
        "# 1.0.0 style\n"
        "config :demo, old: true\n"
        "```\n"
        "~~~\n"
        "## 0.1.0\n"
        "~~~\n"
        "## v1.0.0\n"
        "- First\n"
    )
    sections = parse_sections(text)
    assert [s.version for s in sections] == ["1.1.0", "1.0.0"]
    assert sections[0].body == (
        "Config now reads:\n\n```elixir\n# 1.0.0 style\nconfig :demo, old: true\n```\n~~~\n## 0.1.0\n~~~"
    )


def test_two_part_heading_grouping_patch_releases_is_not_a_section() -> None:
    text = (
        "# Changelog for v1.8\n"
        "\n"
        "## v1.8\n"
        "Overview of the 1.8 series.\n"
        "\n"
        "### v1.8.1 (2025-09-01)\n"
        "- Patch\n"
        "\n"
        "### v1.8.0 (2025-08-05)\n"
        "- Minor\n"
        "\n"
        "## v1.7\n"
        "\n"
        "### v1.7.0 (2025-01-01)\n"
        "- Older\n"
    )
    assert [(s.version, s.body) for s in parse_sections(text)] == [
        ("1.8.1", "- Patch"),
        ("1.8.0", "- Minor"),
        ("1.7.0", "- Older"),
    ]


def test_two_part_heading_alone_is_the_minor_release() -> None:
    text = "## 2.1\n- Two point one\n\n## 2.0 (2024-05-06)\n- Two\n\n### 1.9.0\n- Deeper but another minor\n"
    assert parse_sections(text) == [
        Section("2.1.0", None, "2.1", "- Two point one"),
        Section("2.0.0", "2024-05-06", "2.0 (2024-05-06)", "- Two"),
        Section("1.9.0", None, "1.9.0", "- Deeper but another minor"),
    ]


def test_first_occurrence_of_a_version_wins() -> None:
    text = "## 1.0.0\n- Real\n\n## 1.0.0\n- Copy-paste slip\n"
    assert parse_sections(text) == [Section("1.0.0", None, "1.0.0", "- Real")]


def test_crlf_and_cr_line_endings() -> None:
    assert parse_sections("## 1.0.0\r\n- A\r\n\r\n## 0.9.0\r- B\r") == [
        Section("1.0.0", None, "1.0.0", "- A"),
        Section("0.9.0", None, "0.9.0", "- B"),
    ]


def test_empty_and_headingless_text() -> None:
    assert parse_sections("") == []
    assert parse_sections("Just prose, no releases.\n") == []


def test_empty_section_body() -> None:
    assert parse_sections("## 1.0.1\n\n## 1.0.0\n- A\n") == [
        Section("1.0.1", None, "1.0.1", ""),
        Section("1.0.0", None, "1.0.0", "- A"),
    ]


# --- selecting -----------------------------------------------------------------------------------------------

SERIES = parse_sections(
    "## 1.10.0\n- ten\n## 1.10.0-rc.1\n- rc1\n## 1.10.0-rc.0\n- rc0\n## 1.9.2\n- 9.2\n"
    "## 1.9.10\n- 9.10 listed out of order\n## 1.9.0\n- 9.0\n## 1.8.0\n- 8\n"
)


@pytest.mark.parametrize(
    ("low", "high", "versions"),
    [
        ("1.9.0", "1.10.0", ["1.10.0", "1.10.0-rc.1", "1.10.0-rc.0", "1.9.10", "1.9.2"]),
        ("1.9.2", "1.9.10", ["1.9.10"]),  # by precedence: 1.9.10 > 1.9.2 although "1.9.10" < "1.9.2" as text
        ("1.10.0-rc.0", "1.10.0", ["1.10.0", "1.10.0-rc.1"]),
        ("1.7.0", "1.8.0", ["1.8.0"]),
        ("1.8.0", "1.8.0", []),
        ("1.10.0", "1.8.0", []),  # from after to: nothing in (from, to]
        ("2.0.0", "3.0.0", []),
    ],
)
def test_select_range(low: str, high: str, versions: list[str]) -> None:
    assert [s.version for s in select_sections(SERIES, low, high)] == versions


def test_select_accepts_versions() -> None:
    chosen = select_sections(SERIES, Version.parse("1.9.2"), Version.parse("1.9.10"))
    assert chosen == [Section("1.9.10", None, "1.9.10", "- 9.10 listed out of order")]


def test_select_rejects_an_invalid_bound() -> None:
    with pytest.raises(VersionError, match=r"expected MAJOR\.MINOR\.PATCH"):
        select_sections(SERIES, "1.9", "1.10.0")


# --- rendering -----------------------------------------------------------------------------------------------

RELEASES = """# Changelog

## v2.1.0 (2026-03-01)

### Enhancements
- Add `Pulsar.Stream.window/3`
- Speed up `Pulsar.decode/1` on large inputs

### Bug fixes
- Fix a crash when the topic name is empty

## v2.0.0 (2026-01-15)

### Breaking changes
- `Pulsar.connect/1` now returns `{:ok, conn}` instead of `conn`
- Drop support for Elixir 1.14

### Deprecations
- `Pulsar.legacy_send/2` is deprecated, use `Pulsar.send/3`

### Enhancements
- New telemetry events for reconnects
- Configurable backoff

## v1.9.1 (2025-11-02)

- Security: reject oversized frames (CVE-2025-12345)
- Fix typo in docs

## v1.9.0 (2025-10-20)

- Add `:timeout` option
- Improve error messages
"""
RANGE = select_sections(parse_sections(RELEASES), "1.8.0", "2.1.0")
FULL = """## 2.1.0 (2026-03-01)
### Enhancements
- Add `Pulsar.Stream.window/3`
- Speed up `Pulsar.decode/1` on large inputs

### Bug fixes
- Fix a crash when the topic name is empty

## 2.0.0 (2026-01-15)
### Breaking changes
- `Pulsar.connect/1` now returns `{:ok, conn}` instead of `conn`
- Drop support for Elixir 1.14

### Deprecations
- `Pulsar.legacy_send/2` is deprecated, use `Pulsar.send/3`

### Enhancements
- New telemetry events for reconnects
- Configurable backoff

## 1.9.1 (2025-11-02)
- Security: reject oversized frames (CVE-2025-12345)
- Fix typo in docs

## 1.9.0 (2025-10-20)
- Add `:timeout` option
- Improve error messages"""
FULL_TOKENS = 222
BREAKING_2_0 = """### Breaking changes
- `Pulsar.connect/1` now returns `{:ok, conn}` instead of `conn`
- Drop support for Elixir 1.14

### Deprecations
- `Pulsar.legacy_send/2` is deprecated, use `Pulsar.send/3`
[+3 lines not shown]"""


def render(max_tokens: int, sections: list[Section] = RANGE) -> RenderedChangelog:
    return render_sections(sections, max_tokens=max_tokens, count_tokens=tokens)


def test_everything_fits() -> None:
    assert tokens(FULL) == FULL_TOKENS
    result = render(FULL_TOKENS)
    assert result.text == FULL
    assert result.complete
    assert result.omitted == ()
    assert result.full_tokens == FULL_TOKENS
    assert [(s.version, s.date, s.complete) for s in result.sections] == [
        ("2.1.0", "2026-03-01", True),
        ("2.0.0", "2026-01-15", True),
        ("1.9.1", "2025-11-02", True),
        ("1.9.0", "2025-10-20", True),
    ]
    assert (
        result.sections[2].text == "- Security: reject oversized frames (CVE-2025-12345)\n- Fix typo in docs"
    )


def test_breaking_deprecation_and_security_lines_come_first() -> None:
    result = render(200)
    assert result.text == (
        f"## 2.0.0 (2026-01-15)\n{BREAKING_2_0}\n"
        "\n"
        "## 1.9.1 (2025-11-02)\n"
        "- Security: reject oversized frames (CVE-2025-12345)\n"
        "[+1 line not shown]\n"
        "\n"
        "+2 sections not shown (2.1.0, 1.9.0), 2 shortened; call hex_diff with a narrower range or "
        "max_tokens=222 to see all."
    )
    assert tokens(result.text) <= 200
    assert result == RenderedChangelog(
        text=result.text,
        sections=(
            ShownSection("2.0.0", "2026-01-15", BREAKING_2_0, complete=False),
            ShownSection(
                "1.9.1",
                "2025-11-02",
                "- Security: reject oversized frames (CVE-2025-12345)\n[+1 line not shown]",
                complete=False,
            ),
        ),
        omitted=("2.1.0", "1.9.0"),
        complete=False,
        full_tokens=222,
    )


def test_tighter_budget_keeps_the_newest_important_lines() -> None:
    result = render(150)
    assert result.text == (
        f"## 2.0.0 (2026-01-15)\n{BREAKING_2_0}\n"
        "\n"
        "+3 sections not shown (2.1.0, 1.9.1, 1.9.0), 1 shortened; call hex_diff with a narrower range or "
        "max_tokens=222 to see all."
    )
    assert result.omitted == ("2.1.0", "1.9.1", "1.9.0")


def test_one_line_under_its_heading() -> None:
    assert render(110).text == (
        "## 2.0.0 (2026-01-15)\n"
        "### Breaking changes\n"
        "- `Pulsar.connect/1` now returns `{:ok, conn}` instead of `conn`\n"
        "[+6 lines not shown]\n"
        "\n"
        "+3 sections not shown (2.1.0, 1.9.1, 1.9.0), 1 shortened; call hex_diff with a narrower range or "
        "max_tokens=222 to see all."
    )


def test_nothing_fits_but_the_note() -> None:
    result = render(60)
    assert result.text == (
        "+4 sections not shown (2.1.0, …, 1.9.0); call hex_diff with a narrower range or max_tokens=222 to "
        "see all."
    )
    assert result.sections == ()
    assert result.omitted == ("2.1.0", "2.0.0", "1.9.1", "1.9.0")


def test_budget_below_the_note_gives_the_short_note_then_nothing() -> None:
    assert (
        render(30).text
        == "Changelog not shown: max_tokens=30 is too small; call hex_diff with max_tokens=222."
    )
    empty = render(5)
    assert empty.text == ""
    assert empty.omitted == ("2.1.0", "2.0.0", "1.9.1", "1.9.0")
    assert not empty.complete


def test_without_important_lines_the_newest_sections_fill_the_budget() -> None:
    plain = select_sections(
        parse_sections(
            "## 0.4.0\n- Stream results from `Demo.query/2` lazily\n- Accept a `:limit` option in `Demo.query/2`\n"
            "\n## 0.3.0\n- Retry failed requests with exponential backoff\n- Log the request id with every error\n"
            "\n## 0.2.0\n- Support HTTP/2 connections\n\n## 0.1.1\n\n## 0.1.0\n- First release\n"
        ),
        "0.0.1",
        "0.4.0",
    )
    full = render(1000, plain)
    assert full.full_tokens == 96
    assert full.text.endswith(
        "## 0.2.0\n- Support HTTP/2 connections\n\n## 0.1.1\n\n## 0.1.0\n- First release"
    )
    assert render(95, plain).text == (
        "## 0.4.0\n- Stream results from `Demo.query/2` lazily\n- Accept a `:limit` option in `Demo.query/2`\n"
        "\n"
        "+4 sections not shown (0.3.0, …, 0.1.0); call hex_diff with a narrower range or max_tokens=96 to see all."
    )
    assert render(74, plain).text == (
        "## 0.4.0\n- Stream results from `Demo.query/2` lazily\n[+1 line not shown]\n"
        "\n"
        "+4 sections not shown (0.3.0, …, 0.1.0), 1 shortened; call hex_diff with a narrower range or "
        "max_tokens=96 to see all."
    )


SINGLE = parse_sections(
    "## 3.0.0\n"
    "- Faster startup when many modules are loaded\n"
    "- Removed `Demo.Legacy`\n"
    "  (it had been unused since 2.0)\n"
    "- Nicer log lines for failed jobs, with the job id\n"
    "- Backwards incompatible: options are now a keyword list\n"
)


def test_keywords_on_list_items_mark_them_important() -> None:
    assert render(60, SINGLE).text == (
        "## 3.0.0\n"
        "- Removed `Demo.Legacy`\n"
        "  (it had been unused since 2.0)\n"
        "[+3 lines not shown]\n"
        "\n"
        "1 section shortened; call hex_diff with a narrower range or max_tokens=61 to see all."
    )


def test_a_refused_important_line_keeps_ordinary_ones_out() -> None:
    # The removal does not fit; the shorter incompatibility note does, and the even shorter ordinary lines
    # must not take the room the removal was refused for.
    assert render(55, SINGLE).text == (
        "## 3.0.0\n"
        "- Backwards incompatible: options are now a keyword list\n"
        "[+4 lines not shown]\n"
        "\n"
        "1 section shortened; call hex_diff with a narrower range or max_tokens=61 to see all."
    )


def test_no_sections_render_empty() -> None:
    assert render(100, []) == RenderedChangelog("", (), (), complete=True, full_tokens=0)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=FULL_TOKENS + 20))
def test_never_over_budget(max_tokens: int) -> None:
    result = render(max_tokens)
    assert tokens(result.text) <= max_tokens
    assert result.complete == (max_tokens >= FULL_TOKENS)
    shown = {s.version for s in result.sections}
    assert shown.isdisjoint(result.omitted)
    assert shown | set(result.omitted) == {"2.1.0", "2.0.0", "1.9.1", "1.9.0"} or result.text == ""


# --- from tarball to text --------------------------------------------------------------------------------


def test_changelog_from_a_release_tarball_to_a_budgeted_answer() -> None:
    tarball = hex_tarball({"lib/pulsar.ex": "defmodule Pulsar do end\n", "CHANGELOG.md": RELEASES})
    changelog = read_changelog(tarball, expected_sha256=outer_sha256(tarball))
    chosen = select_sections(parse_sections(changelog.text), "1.9.1", "2.0.0")
    assert render(1000, chosen).text == FULL[FULL.index("## 2.0.0") : FULL.index("\n\n## 1.9.1")]


STYLES = {
    "keep-a-changelog": (
        "# Changelog\n\n## [Unreleased]\n\n## [0.3.0] - 2026-02-01\n### Added\n- Three\n\n"
        "## [0.2.0] - 2026-01-01\n### Fixed\n- Two\n\n[0.3.0]: https://example.org/v0.3.0\n"
    ),
    "elixir": "# Changelog\n\n## v0.3.0 (2026-02-01)\n\n  * Three\n\n## v0.2.0 (2026-01-01)\n\n  * Two\n",
    "bare-h1": "# 0.3.0\n\n- Three\n\n# 0.2.0\n\n- Two\n",
    "bare-h3": "# Demo\n\n### 0.3.0\n- Three\n### 0.2.0\n- Two\n",
    "dash-date": "## 0.3.0 - 2026-02-01\n- Three\n\n## 0.2.0 - 2026-01-01\n- Two\n",
    "pre-release": "## v0.3.0-rc.1\n- Three\n\n## v0.2.0\n- Two\n",
    "unreleased": "## v0.3.0 (unreleased)\n- Three\n\n## v0.2.0 (2026-01-01)\n- Two\n",
    "setext": "0.3.0\n=====\n- Three\n\n0.2.0\n=====\n- Two\n",
    "plain": "Demo news\n\nv0.3.0 (2026-02-01)\n- Three\n\nv0.2.0 (2026-01-01)\n- Two\n",
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_heading_style_through_a_release_tarball(style: str) -> None:
    name = "NEWS.md" if style == "plain" else "CHANGELOG.md"
    tarball = hex_tarball({"mix.exs": "defmodule Demo.MixProject do end\n", name: STYLES[style]})
    changelog = read_changelog(tarball, expected_sha256=outer_sha256(tarball))
    assert changelog.name == name
    sections = parse_sections(changelog.text)
    newest = "0.3.0-rc.1" if style == "pre-release" else "0.3.0"
    assert [s.version for s in sections] == [newest, "0.2.0"]
    assert [s.body.split("\n")[-1].strip(" -*") for s in sections] == ["Three", "Two"]
    assert [s.version for s in select_sections(sections, "0.2.0", "0.3.0")] == [newest]
