"""The schemas tools/list publishes: titles gone, lists of objects named by their keys, fitted to a size."""

from __future__ import annotations

from typing import Any

from hex_mcp.tool_schemas import input_schema, output_schema

RETIREMENT = {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]}
RELEASE = {
    "type": "object",
    "properties": {"version": {"type": "string"}, "retirement": {"$ref": "#/$defs/Retirement"}},
}


def _schema(**properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "$defs": {
            "Release": RELEASE,
            "Retirement": RETIREMENT,
            "Unused": {"type": "object", "properties": {}},
        },
    }


def test_input_schema_loses_its_titles_and_keeps_the_rest() -> None:
    schema = {
        "title": "hex_packageArguments",
        "type": "object",
        "properties": {"name": {"title": "Name", "type": "string", "maxLength": 100}},
        "required": ["name"],
    }
    assert input_schema(schema) == {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 100}},
        "required": ["name"],
    }


def test_a_list_of_objects_is_named_by_its_keys_and_unused_definitions_go() -> None:
    schema = _schema(
        releases={"type": "array", "items": {"$ref": "#/$defs/Release"}, "description": "newest first"},
        tags={"type": "array", "items": {"type": "string"}},
    )
    assert output_schema(schema) == {
        "type": "object",
        "properties": {
            "releases": {"type": "array", "description": "newest first; objects with version, retirement"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }


def test_a_single_object_stays_typed_inline_and_defaults_are_dropped() -> None:
    # A definition used once is put in place: jsonschema resolves every $ref on every validation.
    schema = _schema(
        latest={"anyOf": [{"$ref": "#/$defs/Release"}, {"type": "null"}]},
        shown={"type": "integer", "default": 50},
    )
    release = {
        "type": "object",
        "properties": {"version": {"type": "string"}, "retirement": RETIREMENT},
    }
    assert output_schema(schema) == {
        "type": "object",
        "properties": {"latest": {"anyOf": [release, {"type": "null"}]}, "shown": {"type": "integer"}},
    }


def test_a_definition_used_twice_stays_a_reference() -> None:
    schema = _schema(
        old={"$ref": "#/$defs/Retirement"},
        new={"anyOf": [{"$ref": "#/$defs/Retirement"}, {"type": "null"}]},
    )
    assert output_schema(schema) == {
        "type": "object",
        "properties": {
            "old": {"$ref": "#/$defs/Retirement"},
            "new": {"anyOf": [{"$ref": "#/$defs/Retirement"}, {"type": "null"}]},
        },
        "$defs": {"Retirement": RETIREMENT},
    }


def test_past_the_size_bound_the_largest_definition_is_named_by_its_keys_first() -> None:
    schema = _schema(latest={"anyOf": [{"$ref": "#/$defs/Release"}, {"type": "null"}]})
    full = output_schema(schema)
    # Just under what the full schema needs: describing Release (the larger definition) is enough.
    fitted = output_schema(schema, max_bytes=len(str(full)) // 2)
    assert fitted == {
        "type": "object",
        "properties": {
            "latest": {
                "anyOf": [{"type": "object", "description": "keys: version, retirement"}, {"type": "null"}]
            }
        },
    }
    # However small the bound, the top level stays typed.
    assert output_schema(schema, max_bytes=1)["properties"]["latest"]["anyOf"][1] == {"type": "null"}
