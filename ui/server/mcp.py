"""The app's tasks as MCP tools (Model Context Protocol): Gradio serves every named
endpoint as a tool at ``/gradio_api/mcp/`` (``launch(mcp_server=True)``), described by
the handler's docstring; an agent (Claude Desktop, Cursor, ...) lists and calls them.

Files go in as base64 ``data:`` URLs, which Gradio's MCP server turns into uploads, or
as files uploaded first with Gradio's "File Upload" MCP server; an ``http(s)`` URL is
refused, as on the web API (the app never fetches a URL for a client). Files come back
as URLs on this server.

``fix_state_outputs`` works around a bug of Gradio 6.31's MCP server: for a queued
event with a ``gr.State`` output, its client hands back every output as one tuple, and
the server then pops the state's index from a one-item list ("pop index out of range"),
so every tool with a State output failed.

This is the one place the app replaces a method of Gradio (tests/test_gradio_public.py
names it): Gradio makes its MCP server inside ``launch()`` and calls
``pop_returned_state`` on every tool result, with no option or hook for the results,
and the failure happens inside the server, after any middleware has passed the request
on. The alternatives are worse: events without State outputs would change what the
tabs keep per session, and a server of the app's own would duplicate Gradio's tools.
Remove it with the Gradio release that fixes the bug (the test then says it is gone).

Tools that take lists of files use the components of ``ui/server/mcp_inputs.py``.
"""

from __future__ import annotations

from gradio.components import State


def _without_state(components, data):
    """``data`` (one value per output, or, from the queued path, a list holding the tuple
    of them) without the values of State outputs."""
    if len(components) > 1 and len(data) == 1 and isinstance(data[0], (tuple, list)):
        data = list(data[0])  # the queued path: every output in one tuple
    if len(data) != len(components):
        return data
    return [value for component, value in zip(components, data, strict=True) if not isinstance(component, State)]


def fix_state_outputs() -> None:
    """Give Gradio's MCP server a ``pop_returned_state`` that handles both shapes of result."""
    from gradio.mcp import GradioMCPServer

    GradioMCPServer.pop_returned_state = staticmethod(_without_state)
