"""The app's tasks as MCP tools, through the real `mcp` client over streamable HTTP, as
Claude Desktop or Cursor would reach them: the tools are listed with their descriptions,
a text tool and an image tool answer, files go in as base64 data: URLs or as files
uploaded first, a URL elsewhere is refused, and bad input comes back as a tool error
with the app's message."""

import asyncio
import base64

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import IMAGES

CAT = IMAGES / "cat.jpg"


def session_calls(app_url: str, work):
    """Run ``work(session)`` in an initialised MCP session with the app."""

    async def run():
        async with (
            streamable_http_client(f"{app_url}gradio_api/mcp/") as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await work(session)

    return asyncio.run(run())


def text(result) -> str:
    return " ".join(getattr(part, "text", "") for part in result.content)


def test_every_named_endpoint_is_a_described_tool(app_url, client):
    tools = session_calls(app_url, lambda s: s.list_tools())
    named = {name.lstrip("/") for name in client.view_api(print_info=False, return_format="dict")["named_endpoints"]}
    described = {tool.name: tool for tool in tools.tools}
    assert named <= set(described)
    caption = described["caption"]
    assert caption.description.startswith("Write a one-sentence caption")
    assert "beam search" in caption.inputSchema["properties"]["num_beams"]["description"]
    assert all(tool.description.strip() for tool in described.values())


def test_tools_answer_text_and_image_calls(app_url):
    image = "data:image/jpeg;base64," + base64.b64encode(CAT.read_bytes()).decode()

    async def work(session):
        hits = await session.call_tool("search_by_text", {"query": "a cat", "top_k": 2})
        answer = await session.call_tool("vqa", {"image": image, "question": "What animal is this?"})
        caption = await session.call_tool("caption", {"image": image, "max_new_tokens": 5, "num_beams": 1})
        return hits, answer, caption

    hits, answer, caption = session_calls(app_url, work)
    assert not hits.isError and text(hits).count("gradio_api/file=") >= 2  # two images, as URLs on this server
    assert not answer.isError and text(answer).strip()
    assert not caption.isError and text(caption).strip() and "None" not in text(caption)  # the page's seed stays out


def test_a_file_uploaded_first_is_taken_by_its_url(app_url):
    """Gradio's upload tool puts the file on the app and hands the agent its URL here."""
    uploaded = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("cat.jpg", CAT.read_bytes())}).json()[0]
    url = f"{app_url}gradio_api/file={uploaded}"
    result = session_calls(app_url, lambda s: s.call_tool("classify", {"image": url, "labels": "cat, dog"}))
    assert not result.isError and "cat" in text(result)


def test_bad_input_and_foreign_urls_are_tool_errors_with_the_apps_message(app_url):
    async def work(session):
        empty = await session.call_tool("search_by_text", {"query": "  ", "top_k": 2})
        foreign = await session.call_tool("caption", {"image": "http://127.0.0.1:1/cat.png"})
        return empty, foreign

    empty, foreign = session_calls(app_url, work)
    assert empty.isError and "search text is empty" in text(empty)
    assert foreign.isError and "doesn't fetch URLs" in text(foreign)
