"""Inputs whose API schema an MCP agent can use: the tools that take lists of files
(Chat's images, the gallery's files, the CLIP lab's images) or a conversation sent back.

Gradio's MCP server nests each parameter's ``$defs`` inside the parameter, while its
``$ref`` points from the root of the tool's schema, so every call of such a tool failed
validation with "PointerToNowhere". These components give their input schema with the
definitions written in place (``inline_refs``); the page shows them as Gradio's own.

Gradio writes a stub of each component class beside its module on import
(``mcp_inputs.pyi``, for editors: the events the class has; skipped where the folder is
read-only); it is generated, so git and ruff ignore it.
"""

from __future__ import annotations

import gradio as gr

REF = "#/$defs/"


def inline_refs(schema: dict) -> dict:
    """``schema`` (a JSON schema) with every ``{"$ref": "#/$defs/Name"}`` replaced by the
    definition it names, wherever in the schema that definition was given, and no
    ``$defs`` left: a schema whose parts read alone. A definition that refers to itself
    is written once, then as ``{"type": "object"}``."""
    definitions: dict = {}

    def collect(node):
        if isinstance(node, dict):
            definitions.update(node.get("$defs", {}))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    def expand(node, seen: tuple = ()):
        if isinstance(node, list):
            return [expand(value, seen) for value in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF) and ref[len(REF) :] in definitions:
            name = ref[len(REF) :]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            if name in seen:
                return {"type": "object", **expand(rest, seen)}
            return {**expand(definitions[name], (*seen, name)), **expand(rest, seen)}
        return {key: expand(value, seen) for key, value in node.items() if key != "$defs"}

    collect(schema)
    return expand(schema)


class Files(gr.File):
    """``gr.File`` (file_count "multiple" or "directory") whose input schema reads alone."""

    def get_block_name(self) -> str:
        return "file"

    def api_info_as_input(self) -> dict:
        return inline_refs(super().api_info_as_input())


class Conversation(gr.Chatbot):
    """``gr.Chatbot`` whose input schema reads alone, for a conversation sent back."""

    def get_block_name(self) -> str:
        return "chatbot"

    def api_info_as_input(self) -> dict:
        return inline_refs(super().api_info_as_input())
