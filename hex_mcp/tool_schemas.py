"""The JSON schemas `tools/list` publishes, trimmed for the hosts that read them.

Every host pays for tool definitions on every turn, and the official Python client validates every structured
result against its tool's output schema with `jsonschema`, at roughly 30 µs for each list item it has to check
against an object schema. So the published schemas keep what a program relies on and leave out the rest:

- input schemas lose pydantic's titles ("Name" for `name`, "hex_packageArguments" for the whole);
- in output schemas, a list of objects is typed as an array whose item keys are named in its description, and
  not checked item by item (a 50-release answer took 4x the bare-server floor to validate); definitions that no
  longer have a reference are dropped. Nullable fields stay `anyOf` branches, which every schema dialect reads.

Pure: the MCP face (`server`) applies these to what the SDK derives from the tool signatures and views.
"""

from __future__ import annotations

from typing import Any

_REF_PREFIX = "#/$defs/"


def input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The arguments' schema without titles."""
    lean = {k: v for k, v in schema.items() if k != "title"}
    if "properties" in lean:
        lean["properties"] = {
            name: {k: v for k, v in prop.items() if k != "title"} for name, prop in lean["properties"].items()
        }
    return lean


def output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The result's schema with lists of objects described instead of checked item by item."""
    defs: dict[str, Any] = schema.get("$defs", {})
    body = _loosen({k: v for k, v in schema.items() if k != "$defs"}, defs)
    kept: dict[str, Any] = {}
    pending = _refs(body)
    while pending:
        name = pending.pop()
        if name in kept or name not in defs:
            continue
        kept[name] = _loosen(defs[name], defs)
        pending |= _refs(kept[name])
    return {**body, "$defs": {name: kept[name] for name in defs if name in kept}} if kept else body


def _loosen(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_loosen(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    items = node.get("items")
    if node.get("type") == "array" and isinstance(items, dict):
        target = _target(items, defs)
        if target.get("type") == "object" and "properties" in target:
            keys = ", ".join(target["properties"])
            said = f"{node['description']}; " if "description" in node else ""
            loose = {k: v for k, v in node.items() if k not in ("items", "description")}
            return {**loose, "description": f"{said}objects with {keys}"}
    return {k: _loosen(v, defs) for k, v in node.items()}


def _target(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        found: dict[str, Any] = defs.get(ref[len(_REF_PREFIX) :], {})
        return found
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"][len(_REF_PREFIX) :]} if isinstance(node.get("$ref"), str) else set()
    return found.union(*(_refs(v) for v in node.values())) if node else found
