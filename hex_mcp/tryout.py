"""`hex-mcp call` and `hex-mcp tools`: try the tools from a terminal, through the same MCP path a host uses.

Both commands build the real server and talk to it with the MCP client over an in-memory JSON-RPC session
(`mode="legacy"`, the handshake Claude Desktop performs), so a terminal call is validated, executed and
reported exactly as a host's call would be. The only work done here is turning `key=value` words into the
JSON arguments the tool's input schema asks for, and printing the answer.

Results go to stdout; errors go to stderr. Exit status: 0 answered, 1 the tool reported an error, 2 usage
error (unknown tool or parameter, malformed `key=value`, unreadable `@file`).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextContent, Tool

from hex_mcp.config import Settings
from hex_mcp.server import create_server
from hex_mcp.text import shorten, split_sentence

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
DESCRIPTION_WIDTH = 100


class UsageError(ValueError):
    """The command line cannot be turned into a tool call; the message says how to fix it."""


# -- pure helpers ------------------------------------------------------------------------------------------


def schema_types(prop: Mapping[str, Any]) -> list[str]:
    """The JSON types a property accepts, in schema order (`type` may be a string or a list)."""
    raw = prop.get("type")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [t for t in raw if isinstance(t, str)]
    # anyOf-style schemas (pydantic's default for Optional) list their types one level down.
    types: list[str] = []
    for option in prop.get("anyOf") or []:
        if isinstance(option, Mapping):
            types.extend(t for t in schema_types(option) if t not in types)
    return types


def coerce(raw: str, prop: Mapping[str, Any], name: str = "value") -> Any:
    """Turn one command-line word into the JSON value the property's schema types ask for.

    A word that fits none of them is a `UsageError` in one line that says what a valid value looks like (the
    server's own validation report is a multi-line pydantic dump meant for programs).
    """
    types = schema_types(prop)
    if "null" in types and raw == "null":
        return None
    if "boolean" in types:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    if "integer" in types:
        try:
            return int(raw)
        except ValueError:
            pass
    if "number" in types:
        try:
            return float(raw)
        except ValueError:
            pass
    if types and "string" not in types and raw[:1] in "[{":
        try:
            return json.loads(raw)
        except ValueError:
            pass
    if types and "string" not in types:
        raise UsageError(f"{name}={raw!r} is not valid; {name} takes: {param_facts(prop, False)}.")
    return raw


def read_value(raw: str) -> str:
    """`@path` reads the file's text (handy for a whole mix.lock); `@@text` passes a literal `@text`."""
    if raw.startswith("@@"):
        return raw[1:]
    if raw.startswith("@"):
        path = Path(raw[1:]).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {raw[1:]!r} for {raw!r}: {exc}") from None
    return raw


def parse_arguments(tool: Tool, words: Sequence[str]) -> dict[str, Any]:
    """`key=value` words → the tool's JSON arguments, checked against its parameter names."""
    properties: Mapping[str, Any] = tool.input_schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for word in words:
        key, sep, raw = word.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(
                f"{word!r} is not key=value. Parameters of {tool.name}: {_param_names(tool)}. "
                f"Example: {example_call(tool)}"
            )
        if key not in properties:
            guess = difflib.get_close_matches(key, list(properties), n=1)
            hint = f" Did you mean {guess[0]!r}?" if guess else ""
            raise UsageError(f"{tool.name} has no parameter {key!r}.{hint} Parameters: {_param_names(tool)}.")
        if key in arguments:
            raise UsageError(f"{key!r} is given twice.")
        arguments[key] = coerce(read_value(raw), properties[key], key)
    missing = [name for name in tool.input_schema.get("required") or [] if name not in arguments]
    if missing:
        first = missing[0]
        raise UsageError(
            f"{tool.name} needs {first} ({param_facts(properties.get(first) or {}, True)}). "
            f"Example: {example_call(tool)}"
        )
    return arguments


def _param_names(tool: Tool) -> str:
    names = list((tool.input_schema.get("properties") or {}).keys())
    return ", ".join(names) if names else "(none)"


# A runnable sample for every required parameter of the tools (shell-quoted where it has a space).
_SAMPLES = {
    "name": "phoenix",
    "q": "json",
    "from_version": "1.7.14",
    "deps": "'jason 1.4.4'",
    "update": "all",
}


def example_call(tool: Tool) -> str:
    """A copy-pasteable `hex-mcp call` line with the tool's required parameters."""
    properties: Mapping[str, Any] = tool.input_schema.get("properties") or {}
    required = [name for name in tool.input_schema.get("required") or [] if name in properties]
    parts = [f"{name}={_SAMPLES.get(name, 'VALUE')}" for name in required]
    return " ".join(["hex-mcp call", tool.name, *parts])


def unknown_tool_message(name: str, tools: Sequence[Tool]) -> str:
    names = [tool.name for tool in tools]
    guess = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {guess[0]!r}?" if guess else ""
    return f"unknown tool {name!r}.{hint} Tools: {', '.join(names)}. `hex-mcp tools` lists their parameters."


# A sentence ends at ". " before a capital letter, but not after an abbreviation such as "e.g.".


def one_line(text: str | None, width: int = DESCRIPTION_WIDTH) -> str:
    """The first sentence of a description, cut at a word boundary to at most `width` characters."""
    sentence, _rest = split_sentence(" ".join((text or "").split()))
    return shorten(sentence, width - 1, ellipsis="…") if len(sentence) > width else sentence


def _span(low: Any, high: Any, unit: str = "") -> str | None:
    if low is not None and high is not None:
        return f"{low}-{high}{unit}"
    if high is not None:
        return f"at most {high}{unit}"
    if low is not None:
        return f"at least {low}{unit}"
    return None


def param_facts(prop: Mapping[str, Any], required: bool) -> str:
    """`integer, default 50, 1-500`: what a parameter accepts, without its description."""
    facts = ["|".join(schema_types(prop)) or "any"]
    if required:
        facts.append("required")
    elif "default" in prop:
        facts.append(f"default {json.dumps(prop['default'])}")
    bounds = [
        _span(prop.get("minimum"), prop.get("maximum")),
        _span(prop.get("minLength"), prop.get("maxLength"), " chars"),
    ]
    facts.extend(b for b in bounds if b)
    choices = [c for c in prop.get("enum") or [] if c is not None]
    if choices:
        facts.append("one of " + "|".join(str(c) for c in choices))
    return ", ".join(facts)


def describe_param(name: str, prop: Mapping[str, Any], required: bool, width: int = 0) -> str:
    """`limit  integer, default 50, 1-500 — How many releases ...`"""
    description = one_line(prop.get("description"), 70)
    return f"{name:<{width}}  {param_facts(prop, required)}" + (f" — {description}" if description else "")


def describe_tools(tools: Sequence[Tool]) -> str:
    """The `hex-mcp tools` listing: each tool, its one-line description, then its parameters."""
    blocks: list[str] = []
    for tool in tools:
        lines = [f"{tool.name} — {one_line(tool.description)}"]
        properties: Mapping[str, Any] = tool.input_schema.get("properties") or {}
        required = set(tool.input_schema.get("required") or [])
        width = max((len(name) for name in properties), default=0)
        if not properties:
            lines.append("    (no parameters)")
        lines.extend(
            f"    {describe_param(name, prop, name in required, width)}" for name, prop in properties.items()
        )
        lines.append(f"    e.g. {example_call(tool)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def result_text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


# -- the MCP round trips ---------------------------------------------------------------------------------


async def list_tools(settings: Settings) -> list[Tool]:
    async with Client(create_server(settings), mode="legacy") as client:
        return list((await client.list_tools()).tools)


async def call(settings: Settings, name: str, words: Sequence[str]) -> CallToolResult:
    """Parse the words against the tool's schema and call it; `UsageError` for an unknown tool or argument."""
    problem: UsageError | None = None
    result: CallToolResult | None = None
    async with Client(create_server(settings), mode="legacy") as client:
        # Nothing may raise inside the session: its task group would wrap the error in ExceptionGroups.
        tools = list((await client.list_tools()).tools)
        tool = next((t for t in tools if t.name == name), None)
        try:
            if tool is None:
                raise UsageError(unknown_tool_message(name, tools))
            arguments = parse_arguments(tool, words)
        except UsageError as exc:
            problem = exc
        else:
            result = await client.call_tool(name, arguments)
    if problem is not None:
        raise problem
    assert result is not None
    return result


# -- commands --------------------------------------------------------------------------------------------


def run_call(settings: Settings, args: argparse.Namespace) -> int:
    if not args.tool:
        tools = anyio.run(list_tools, settings)
        sys.stderr.write(
            "hex-mcp call: name a tool, e.g. `hex-mcp call hex_package name=phoenix`. Tools: "
            f"{', '.join(t.name for t in tools)}. `hex-mcp tools` lists their parameters.\n"
        )
        return 2
    try:
        result = anyio.run(call, settings, args.tool, list(args.arguments))
    except UsageError as exc:
        sys.stderr.write(f"hex-mcp call: {exc}\n")
        return 2
    if result.is_error:
        sys.stderr.write(result_text(result) + "\n")
        return 1
    if args.json:
        payload = result.structured_content if result.structured_content is not None else result_text(result)
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(result_text(result) + "\n")
    return 0


def run_tools(settings: Settings, args: argparse.Namespace) -> int:
    tools = anyio.run(list_tools, settings)
    if args.json:
        listing = [
            {"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools
        ]
        sys.stdout.write(json.dumps(listing, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(describe_tools(tools) + "\n")
    return 0
