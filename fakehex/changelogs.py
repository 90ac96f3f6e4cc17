"""Release tarballs for the fixture packages that ship one: a synthetic changelog in each common heading style.

Every listed version of these packages has a tarball (`tarball(name, version)`) holding the changelog, a mix.exs
and one source file; its SHA-256 is the release's `checksum` in the fake's API documents and the outer checksum
in its signed registry files (`checksum(name, version)`), computed from the bytes served, so the two agree on
any zlib. The texts are written for these fixtures; the package names are invented.
"""

from __future__ import annotations

import functools

from fakehex.tarballs import hex_tarball, outer_sha256

# Keep a Changelog: `## [1.8.0] - 2025-08-05`, an Unreleased section, typed sub-headings, link definitions.
KEEP_A_CHANGELOG = """\
# Changelog

All notable changes to this project are documented in this file.
The format follows Keep a Changelog and the project adheres to Semantic Versioning.

## [Unreleased]

### Added
- Streaming reader for very large notebooks.

## [1.8.0] - 2025-08-05

### Breaking
- `Quillmark.render/2` now returns `{:ok, html}` or `{:error, reason}` instead of raising.
- Dropped support for Elixir 1.13 and 1.14.

### Added
- Footnote syntax (`[^1]`) in the default dialect.
- `:smart_quotes` option.

### Deprecated
- `Quillmark.render!/2` is deprecated in favour of pattern matching on `render/2`.

### Security
- Link targets with a `javascript:` scheme are now stripped (reported privately, no CVE assigned).

## [1.7.2] - 2025-05-19

### Fixed
- Nested lists lost their indentation after a code block.
- Tables with a trailing pipe rendered an empty column.

## [1.7.1] - 2025-03-02

### Fixed
- Crash on headings made only of whitespace.

## [1.7.0] - 2025-01-14

### Added
- Task lists (`- [ ]` and `- [x]`).

### Removed
- The `:legacy_tables` option, deprecated since 1.5.0.

## [1.6.0] - 2024-09-30

### Deprecated
- The `:legacy_tables` option; tables follow the GFM rules by default.

[Unreleased]: https://example.com/quillmark/compare/v1.8.0...HEAD
[1.8.0]: https://example.com/quillmark/compare/v1.7.2...v1.8.0
[1.7.2]: https://example.com/quillmark/compare/v1.7.1...v1.7.2
"""

# Elixir style: `## v1.8.0 (2025-08-05)`, with pre-releases in between.
ELIXIR_STYLE = """\
# Changelog

## v1.8.1 (2025-08-28)

  * Bug fixes
    * Reconnect after a half-open socket instead of waiting for the keepalive timeout

## v1.8.0 (2025-08-05)

  * Enhancements
    * Add `Brightwire.Pool.resize/2`
    * Telemetry events for every checkout

  * Backwards incompatible changes
    * `Brightwire.connect/1` requires the `:host` option; the `"localhost"` default is gone

## v1.8.0-rc.0 (2025-07-10)

  * Enhancements
    * Release candidate for the pooled transport

  * Deprecations
    * `Brightwire.checkout/1` is deprecated; use `Brightwire.Pool.checkout/2`

## v1.7.3 (2025-04-22)

  * Security fixes
    * Verify the peer certificate's host name by default (CVE-2099-0001); connections to a host whose
      certificate names another host now fail

## v1.7.2 (2025-02-11)

  * Bug fixes
    * Stop leaking a monitor per failed connection
"""

# `# 1.8.0`: level-one headings, no dates.
HASH_ONE = """\
# 2.1.0

- Tide tables can be exported as CSV.
- Removed `Tidepool.legacy_export/1`, deprecated in 1.9.0.

# 2.0.0

- Breaking: station ids are strings now (they were integers).
- New `Tidepool.Station.nearest/2`.

# 1.9.0

- Deprecated `Tidepool.legacy_export/1`; use `Tidepool.export/2`.
- Faster harmonic prediction.

# 1.8.0

- First release with moon phase data.
"""

# `### 1.8.0`: level-three headings under a title, with bold labels instead of sub-headings.
HASH_THREE = """\
Mossgate changelog
==================

### 0.5.0

**Security:** session tokens are compared in constant time.

**Changed:** the `:ttl` option is now in seconds, not milliseconds.

### 0.4.1

**Fixed:** `Mossgate.revoke/1` returned `:ok` for unknown tokens.

### 0.4.0

**Added:** token rotation with `Mossgate.rotate/2`.
"""

# `## v2.0.0-rc.1`: pre-release headings before the final release.
PRE_RELEASES = """\
# Emberline changelog

## v2.0.0 (2025-10-01)

### Breaking changes

- The `:format` option is removed; pass a formatter module instead.

### Fixes

- Multi-line messages keep their indentation.

## v2.0.0-rc.1 (2025-09-12)

- Formatter modules get the metadata map as a second argument.

## v2.0.0-rc.0 (2025-08-30)

- First release candidate of the formatter rewrite.
- Deprecated `Emberline.format/2`; it goes away in 2.0.0.

## v1.4.2 (2025-06-03)

- Fix the timestamp of the first line after a daylight-saving change.
"""

# `## 1.8.0 - 2025-08-05`: bare version and a dash-separated date.
DASH_DATE = """\
# Larkspur

## 3.2.0 - 2025-07-21

- Added `Larkspur.Schedule.every/2`.
- Security: cron expressions longer than 1,000 characters are refused, closing a denial of service.

## 3.1.1 - 2025-05-06

- Fixed a drift of one second per day on long-running schedules.

## 3.1.0 - 2025-03-18

- Added time-zone aware schedules.
- Deprecated `Larkspur.add/3`; use `Larkspur.Schedule.add/2`.

## 3.0.0 - 2024-12-02

- Breaking: jobs are supervised per schedule; `Larkspur.start_link/1` takes a `:name`.
"""

# `## v1.8.0 (unreleased)`: a release published while its heading still said "unreleased".
UNRELEASED_WORDS = """\
# Changelog

## v0.9.0 (unreleased)

- Breaking: `Fernvale.fetch/2` returns a map with string keys.
- Added retries with jitter.

## v0.8.2 (2025-04-04)

- Fixed a timeout that ignored the `:timeout` option.

## v0.8.1 (2025-02-20)

- Documentation fixes only.
"""

# A changelog whose headings carry no version this server can read.
NO_VERSION_HEADINGS = """\
# What's new

## Latest changes

- Everything is faster.

## Older changes

- Initial work.
"""

CHANGELOGS: dict[str, tuple[str, str] | None] = {
    "quillmark": ("CHANGELOG.md", KEEP_A_CHANGELOG),
    "brightwire": ("CHANGELOG.md", ELIXIR_STYLE),
    "tidepool": ("CHANGELOG.md", HASH_ONE),
    "mossgate": ("CHANGES.md", HASH_THREE),
    "emberline": ("CHANGELOG.md", PRE_RELEASES),
    "larkspur": ("HISTORY.md", DASH_DATE),
    "fernvale": ("CHANGELOG.md", UNRELEASED_WORDS),
    "driftwood": ("NEWS.md", NO_VERSION_HEADINGS),
    "plainpack": None,  # ships no changelog at all
}


def has_tarballs(name: str) -> bool:
    return name in CHANGELOGS


@functools.cache
def tarball(name: str, version: str) -> bytes:
    """The release tarball of one version of a package in `CHANGELOGS`."""
    files: dict[str, bytes | str] = {
        "mix.exs": f'defmodule {name.title()}.MixProject do\n  @version "{version}"\nend\n',
        f"lib/{name}.ex": f"defmodule {name.title()} do\n  def version, do: {version!r}\nend\n",
    }
    changelog = CHANGELOGS[name]
    if changelog is not None:
        files[changelog[0]] = changelog[1]
    metadata = f'{{<<"name">>,<<"{name}">>}}.\n{{<<"version">>,<<"{version}">>}}.\n'.encode()
    return hex_tarball(files, metadata=metadata)


def checksum(name: str, version: str) -> str:
    """The outer checksum the fake publishes for a release of a package in `CHANGELOGS`."""
    return outer_sha256(tarball(name, version))
