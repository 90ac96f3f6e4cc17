"""The JSON schemas `tools/list` publishes, trimmed for the hosts that read them.

Every host pays for tool definitions on every turn, and the official Python client validates every structured
result against its tool's output schema with `jsonschema`, at roughly 30 µs for each list item it has to check
against an object schema. So the published schemas keep what a program relies on and leave out the rest:

- input and output schemas lose pydantic's titles ("Name" for `name`, "hex_packageArguments" for the whole);
- in output schemas, a list of objects is typed as an array whose item keys are named in its description, and
  not checked item by item (a 50-release answer took 4x the bare-server floor to validate); definitions that no
  longer have a reference are dropped, and so are defaults (every field of a result is sent). Nullable fields
  stay `anyOf` branches, which every schema dialect reads, and a definition used once is put where it is used
  (jsonschema resolves every `$ref` on every validation);
- an output schema is held to `OUTPUT_SCHEMA_BYTES` of compact JSON (about 800 o200k tokens; JSON schemas run at
  about 4 bytes a token, and tests/test_tools.py counts the real tokens): while it is larger, its largest nested
  object definition is named by its keys instead of typed field by field. The top level is always typed.

Pure: the MCP face (`server`) applies these to what the SDK derives from the tool signatures and views.
"""

from __future__ import annotations

import json
from typing import Any

_REF_PREFIX = "#/$defs/"
OUTPUT_SCHEMA_BYTES = 3_000


def input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The arguments' schema without titles."""
    lean: dict[str, Any] = _untitled(schema)
    if "properties" in lean:
        lean["properties"] = {name: _untitled(prop) for name, prop in lean["properties"].items()}
    return lean


def _untitled(node: Any) -> Any:
    """A schema node without its `title` (never applied to a `properties` mapping, whose keys are field names)."""
    return {k: v for k, v in node.items() if k != "title"} if isinstance(node, dict) else node


def output_schema(schema: dict[str, Any], max_bytes: int = OUTPUT_SCHEMA_BYTES) -> dict[str, Any]:
    """The result's schema: lists of objects described instead of checked item by item, then fitted to size."""
    defs: dict[str, Any] = schema.get("$defs", {})
    body = _loosen({k: v for k, v in schema.items() if k != "$defs"}, defs)
    published = _with_defs(body, defs)
    while _size(published) > max_bytes and published.get("$defs"):
        kept = published["$defs"]
        largest = max(kept, key=lambda name: _size(kept[name]))
        described = {
            "type": "object",
            "description": "keys: " + ", ".join(kept[largest].get("properties", {})),
        }
        body = _replace_ref(body, largest, described)
        defs = {name: _replace_ref(d, largest, described) for name, d in defs.items() if name != largest}
        published = _with_defs(body, defs)
    return _inline_single_use(published)


def _inline_single_use(schema: dict[str, Any]) -> dict[str, Any]:
    """Put a definition referenced once where it is used: jsonschema resolves every `$ref` on every validation
    (about 0.3 ms a call for `freshness` alone), and a lone reference saves no bytes."""
    defs: dict[str, Any] = schema.get("$defs", {})
    while True:
        counts = _ref_counts({k: v for k, v in schema.items() if k != "$defs"}) + _ref_counts(defs)
        single = next((name for name in defs if counts.count(name) == 1), None)
        if single is None:
            return schema
        inlined = defs[single]
        defs = {name: _replace_ref(d, single, inlined) for name, d in defs.items() if name != single}
        body = _replace_ref({k: v for k, v in schema.items() if k != "$defs"}, single, inlined)
        schema = {**body, "$defs": defs} if defs else body


def _ref_counts(node: Any) -> list[str]:
    if isinstance(node, list):
        return [name for item in node for name in _ref_counts(item)]
    if not isinstance(node, dict):
        return []
    own = [node["$ref"][len(_REF_PREFIX) :]] if isinstance(node.get("$ref"), str) else []
    return own + [name for v in node.values() for name in _ref_counts(v)]


def _with_defs(body: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`body` with the definitions it reaches, loosened, in their original order."""
    kept: dict[str, Any] = {}
    pending = _refs(body)
    while pending:
        name = pending.pop()
        if name in kept or name not in defs:
            continue
        kept[name] = _loosen(defs[name], defs)
        pending |= _refs(kept[name])
    return {**body, "$defs": {name: kept[name] for name in defs if name in kept}} if kept else body


def _replace_ref(node: Any, name: str, replacement: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_replace_ref(item, name, replacement) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("$ref") == _REF_PREFIX + name:
        return {**replacement, **{k: v for k, v in node.items() if k not in ("$ref", "type")}}
    return {k: _replace_ref(v, name, replacement) for k, v in node.items()}


def _size(schema: Any) -> int:
    return len(json.dumps(schema, separators=(",", ":"), ensure_ascii=False).encode())


def _loosen(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_loosen(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("properties"), dict):  # an output's defaults say nothing: every field is sent
        node = {
            **{k: v for k, v in node.items() if k != "title"},
            "properties": {k: _untitled(_no_default(v)) for k, v in node["properties"].items()},
        }
    items = node.get("items")
    if node.get("type") == "array" and isinstance(items, dict):
        target = _target(items, defs)
        if target.get("type") == "object" and "properties" in target:
            keys = ", ".join(target["properties"])
            said = f"{node['description']}; " if "description" in node else ""
            loose = {k: v for k, v in node.items() if k not in ("items", "description")}
            return {**loose, "description": f"{said}objects with {keys}"}
    return {k: _loosen(v, defs) for k, v in node.items()}


def _no_default(prop: Any) -> Any:
    return {k: v for k, v in prop.items() if k != "default"} if isinstance(prop, dict) else prop


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
