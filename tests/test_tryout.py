"""`hex-mcp call` and `hex-mcp tools`: argument parsing, and answers identical to an MCP host's."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, Tool

from fakehex.upstream import FakeUpstream
from hex_mcp import cli
from hex_mcp.config import Settings
from hex_mcp.server import create_server
from hex_mcp.tryout import (
    UsageError,
    coerce,
    describe_tools,
    example_call,
    list_tools,
    one_line,
    parse_arguments,
    read_value,
    result_text,
    schema_types,
)

RELEASES_TOOL = Tool(
    name="hex_releases",
    description="Release history. Second sentence.",
    input_schema={
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 100},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
            "requirement": {"type": ["string", "null"], "maxLength": 100, "default": None},
            "include_prereleases": {"type": "boolean", "default": False},
        },
    },
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads the environment; a developer's own HEX_MCP_* or keys must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("HEX_MCP_") or name in ("OANOR_API_KEY", "HEX_API_KEY"):
            monkeypatch.delenv(name)


@pytest.fixture
def cli_args(fake: FakeUpstream, tmp_path: Path, clean_env: None) -> list[str]:
    return ["--base-url", fake.hexpm_url, "--cache-dir", str(tmp_path / "cache")]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def mcp_call(settings: Settings, name: str, arguments: dict[str, Any]) -> CallToolResult:
    """The same call, made the way a host makes it."""

    async def go() -> CallToolResult:
        async with Client(create_server(settings), mode="legacy") as client:
            return await client.call_tool(name, arguments)

    return anyio.run(go)


# -- pure helpers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prop", "types"),
    [
        ({"type": "string"}, ["string"]),
        ({"type": ["string", "null"]}, ["string", "null"]),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, ["integer", "null"]),
        ({}, []),
    ],
)
def test_schema_types(prop: dict[str, Any], types: list[str]) -> None:
    assert schema_types(prop) == types


@pytest.mark.parametrize(
    ("raw", "prop", "value"),
    [
        ("42", {"type": "integer"}, 42),
        ("true", {"type": "boolean"}, True),
        ("No", {"type": "boolean"}, False),
        ("null", {"type": ["string", "null"]}, None),
        ("null", {"type": "string"}, "null"),
        ("123", {"type": "string"}, "123"),  # strings stay strings, even when they look like numbers
        ("~> 1.7", {"type": ["string", "null"]}, "~> 1.7"),
        ("1.5", {"type": "number"}, 1.5),
        ("name", {"type": ["string", "null"], "enum": ["name", None]}, "name"),
    ],
)
def test_coerce_follows_the_schema_types(raw: str, prop: dict[str, Any], value: Any) -> None:
    assert coerce(raw, prop) == value
    assert type(coerce(raw, prop)) is type(value)


@pytest.mark.parametrize(
    ("raw", "prop", "message"),
    [
        (
            "abc",
            {"type": "integer", "default": 50, "minimum": 1, "maximum": 500},
            "limit='abc' is not valid; limit takes: integer, default 50, 1-500.",
        ),
        (
            "maybe",
            {"type": "boolean", "default": False},
            "limit='maybe' is not valid; limit takes: boolean, default false.",
        ),
    ],
)
def test_coerce_explains_a_mistyped_value_in_one_line(raw: str, prop: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as raised:
        coerce(raw, prop, "limit")
    assert str(raised.value) == message


def test_read_value_reads_files_and_escapes_at(tmp_path: Path) -> None:
    lock = tmp_path / "mix.lock"
    lock.write_text('%{"jason": {:hex, :jason, "1.4.4"}}\n', encoding="utf-8")
    assert read_value(f"@{lock}") == lock.read_text(encoding="utf-8")
    assert read_value("@@handle") == "@handle"
    assert read_value("plain") == "plain"
    with pytest.raises(UsageError, match="cannot read"):
        read_value(f"@{tmp_path / 'missing.lock'}")


def test_parse_arguments_coerces_by_parameter() -> None:
    words = ["name=phoenix", "limit=3", "requirement=~> 1.7", "include_prereleases=true"]
    assert parse_arguments(RELEASES_TOOL, words) == {
        "name": "phoenix",
        "limit": 3,
        "requirement": "~> 1.7",
        "include_prereleases": True,
    }
    assert parse_arguments(RELEASES_TOOL, ["name=a=b"]) == {"name": "a=b"}  # only the first = splits


@pytest.mark.parametrize(
    ("words", "needle"),
    [
        (["phoenix"], "is not key=value"),
        (["=phoenix"], "is not key=value"),
        (["nme=phoenix"], "Did you mean 'name'?"),
        (["name=a", "name=b"], "given twice"),
    ],
)
def test_parse_arguments_rejects_what_cannot_be_a_call(words: list[str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle) as raised:
        parse_arguments(RELEASES_TOOL, words)
    assert "name" in str(raised.value)


def test_one_line_keeps_abbreviations_and_cuts_at_words() -> None:
    assert one_line("Exact name (e.g. 'plug'). More text.") == "Exact name (e.g. 'plug')."
    assert one_line("  spread\n over   lines ") == "spread over lines"
    cut = one_line("word " * 40, width=30)
    assert len(cut) <= 30
    assert cut.endswith("word…")
    assert one_line(None) == ""


def test_describe_tools_lists_types_defaults_and_bounds() -> None:
    text = describe_tools([RELEASES_TOOL])
    assert text.startswith("hex_releases — Release history.")
    assert "name                 string, required, 2-100 chars" in text
    assert "limit                integer, default 50, 1-500" in text
    assert "requirement          string|null, default null, at most 100 chars" in text
    assert "include_prereleases  boolean, default false" in text
    assert "e.g. hex-mcp call hex_releases name=phoenix" in text
    assert example_call(RELEASES_TOOL) == "hex-mcp call hex_releases name=phoenix"


# -- hex-mcp call ------------------------------------------------------------------------------------------


def test_call_prints_the_text_a_host_receives(
    capsys: pytest.CaptureFixture[str], cli_args: list[str], settings: Settings
) -> None:
    code, out, err = run_cli(capsys, "call", "hex_package", "name=phoenix", *cli_args)
    assert code == 0, err
    assert out.startswith("phoenix — ")
    expected = mcp_call(settings, "hex_package", {"name": "phoenix"})
    # The age line differs between two calls ("live" vs "cached"); everything above it is the same answer.
    assert out.splitlines()[:-1] == result_text(expected).splitlines()[:-1]


def test_call_json_prints_the_structured_content(
    capsys: pytest.CaptureFixture[str], cli_args: list[str], settings: Settings
) -> None:
    code, out, _ = run_cli(capsys, "call", "hex_package", "name=phoenix", "--json", *cli_args)
    assert code == 0
    data = json.loads(out)
    expected = mcp_call(settings, "hex_package", {"name": "phoenix"}).structured_content
    assert expected is not None
    assert data["name"] == "phoenix"
    assert data["latest_stable_version"] == expected["latest_stable_version"]
    assert set(data) == set(expected)


def test_call_coerces_integers_booleans_and_null(
    capsys: pytest.CaptureFixture[str], cli_args: list[str]
) -> None:
    code, out, err = run_cli(
        capsys,
        "call",
        "hex_releases",
        "name=phoenix",
        "limit=2",
        "include_prereleases=false",
        "requirement=~> 1.7",
        "--json",
        *cli_args,
    )
    assert code == 0, err
    assert json.loads(out)["name"] == "phoenix"
    code, _, err = run_cli(capsys, "call", "hex_release", "name=jason", "version=null", *cli_args)
    assert code == 0, err


def test_call_reads_at_file(capsys: pytest.CaptureFixture[str], cli_args: list[str], tmp_path: Path) -> None:
    query = tmp_path / "query.txt"
    query.write_text("json", encoding="utf-8")
    code, out, err = run_cli(capsys, "call", "hex_search", f"q=@{query}", "limit=3", *cli_args)
    assert code == 0, err
    assert out.startswith('search "json"')


def test_call_tool_error_goes_to_stderr_with_status_1(
    capsys: pytest.CaptureFixture[str], cli_args: list[str], settings: Settings
) -> None:
    code, out, err = run_cli(capsys, "call", "hex_package", "name=Bad", *cli_args)
    assert code == 1
    assert out == ""
    assert err.strip() == result_text(mcp_call(settings, "hex_package", {"name": "Bad"}))
    assert "Did you mean 'bad'?" in err
    code, out, err = run_cli(capsys, "call", "hex_package", "name=no_such_package_xyz", *cli_args)
    assert code == 1
    assert out == ""
    assert "No package 'no_such_package_xyz'" in err


def test_call_mistyped_or_missing_argument_is_one_line(
    capsys: pytest.CaptureFixture[str], cli_args: list[str], fake: FakeUpstream
) -> None:
    code, out, err = run_cli(capsys, "call", "hex_releases", "name=phoenix", "limit=abc", *cli_args)
    assert (code, out, err) == (
        2,
        "",
        "hex-mcp call: limit='abc' is not valid; limit takes: integer, default 50, 1-500.\n",
    )
    code, out, err = run_cli(capsys, "call", "hex_diff", "name=phoenix", *cli_args)
    assert (code, out) == (2, "")
    assert err == (
        "hex-mcp call: hex_diff needs from_version (string, required, at most 100 chars). "
        "Example: hex-mcp call hex_diff name=phoenix from_version=1.7.14\n"
    )
    assert fake.count() == 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["call", "hex_pkg", "name=phoenix"], "unknown tool 'hex_pkg'. Did you mean 'hex_package'?"),
        (["call", "hex_package", "phoenix"], "'phoenix' is not key=value"),
        (["call", "hex_package", "nme=phoenix"], "hex_package has no parameter 'nme'"),
        (["call"], "name a tool"),
    ],
)
def test_call_usage_errors_exit_2_and_list_tools(
    capsys: pytest.CaptureFixture[str], cli_args: list[str], fake: FakeUpstream, argv: list[str], needle: str
) -> None:
    code, out, err = run_cli(capsys, *argv, *cli_args)
    assert code == 2
    assert out == ""
    assert needle in err
    if argv[1:2] != ["hex_package"]:
        assert "hex_package, hex_releases, hex_release, hex_search, hex_meta" in err
    assert fake.count() == 0  # nothing was sent upstream


# -- hex-mcp tools -----------------------------------------------------------------------------------------


def test_tools_lists_every_tool_and_parameter(
    capsys: pytest.CaptureFixture[str], cli_args: list[str], settings: Settings
) -> None:
    code, out, _ = run_cli(capsys, "tools", *cli_args)
    assert code == 0
    tools = anyio.run(list_tools, settings)
    for tool in tools:
        assert f"\n{tool.name} — " in f"\n{out}"
        for param in tool.input_schema.get("properties") or {}:
            assert f"    {param} " in out
    assert "limit                integer, default 50, 1-500" in out
    assert "(no parameters)" in out  # hex_meta


def test_tools_json(capsys: pytest.CaptureFixture[str], cli_args: list[str], settings: Settings) -> None:
    code, out, _ = run_cli(capsys, "tools", "--json", *cli_args)
    assert code == 0
    listing = json.loads(out)
    assert [t["name"] for t in listing] == [t.name for t in anyio.run(list_tools, settings)]
    assert all({"name", "description", "inputSchema"} <= set(t) for t in listing)


# -- first contact from a terminal -------------------------------------------------------------------------


class _Tty:
    def isatty(self) -> bool:
        return True


def test_terminal_hint_points_to_call_tools_and_doctor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    monkeypatch.setattr("sys.stdin", _Tty())
    monkeypatch.setattr("hex_mcp.cli.anyio.run", lambda *args: None)  # do not actually wait for a client
    assert cli.serve(settings) == 0
    out, hint = capsys.readouterr()
    assert out == ""  # stdout belongs to the protocol
    assert hint.startswith("hex-mcp ") and "WARNING" not in hint
    assert "waiting for a client" in hint
    for command in ("hex-mcp tools", "hex-mcp call hex_package name=phoenix", "hex-mcp doctor"):
        assert command in hint


@pytest.mark.parametrize(
    ("transport", "host", "url"),
    [
        ("streamable-http", "127.0.0.1", "http://127.0.0.1:8123/mcp"),
        ("sse", "127.0.0.1", "http://127.0.0.1:8123/sse"),
        ("streamable-http", "::1", "http://[::1]:8123/mcp"),
    ],
)
def test_http_start_line_names_the_endpoint(settings: Settings, transport: str, host: str, url: str) -> None:
    assert cli.endpoint_url(dataclasses.replace(settings, transport=transport, host=host, port=8123)) == url


def test_every_tools_example_runs_as_printed(settings: Settings) -> None:
    """Each `e.g.` line of `hex-mcp tools` parses into a complete call: no placeholder, nothing missing."""
    for tool in anyio.run(list_tools, settings):
        words = shlex.split(example_call(tool))
        assert words[:3] == ["hex-mcp", "call", tool.name]
        arguments = parse_arguments(tool, words[3:])
        assert "VALUE" not in arguments.values()
