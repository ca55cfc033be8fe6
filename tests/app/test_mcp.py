"""The app's tasks as MCP tools, through the real `mcp` client over streamable HTTP, as
Claude Desktop or Cursor would reach them: the tools are listed with their descriptions,
a text tool and an image tool answer, files go in as base64 data: URLs or as files
uploaded first, a URL elsewhere is refused, and bad input comes back as a tool error
with the app's message."""

import asyncio
import base64
import io
import json

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from tests.conftest import IMAGES
from tools.loadtest import start_app

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


# --- Issue 36, finding 7: agents told apart, the login applies, lists of files work ---

USERS = {"ana": "pw-ana", "ben": "pw-ben"}


def data_url(colour: str) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def agent_calls(app_url: str, work, cookies: dict | None = None):
    """``work(session)`` in an MCP session of its own, sending ``cookies`` (a login) as an agent would."""

    async def run():
        async with (
            httpx.AsyncClient(cookies=cookies or {}, timeout=120) as http,
            streamable_http_client(f"{app_url}gradio_api/mcp/", http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await work(session)

    return asyncio.run(run())


def login(url: str, user: str) -> dict:
    answer = httpx.post(f"{url}login", data={"username": user, "password": USERS[user]})
    answer.raise_for_status()
    return dict(answer.cookies)


@pytest.fixture(scope="module")
def login_app(tmp_path_factory):
    env = {"PLAYGROUND_AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items()), "RATE_LIMIT": ""}
    with start_app(env=env, data_dir=tmp_path_factory.mktemp("mcp-login")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def agents_app(tmp_path_factory):
    """An app where each visitor has a gallery of their own, and one request at a time."""
    env = {"GALLERY_MODE": "session", "QUEUE_PER_CLIENT": "1", "RATE_LIMIT": ""}
    with start_app(env=env, data_dir=tmp_path_factory.mktemp("mcp-agents")) as (url, _):
        yield url


def test_a_tool_taking_a_list_of_files_is_called(app_url):
    images = [data_url("red"), data_url("blue")]
    result = session_calls(
        app_url, lambda s: s.call_tool("similarity_matrix", {"images": images, "texts": "red, blue"})
    )
    assert not result.isError, text(result)  # was "PointerToNowhere: '/$defs/FileData' does not exist"
    tools = session_calls(app_url, lambda s: s.list_tools())
    schemas = json.dumps([tool.inputSchema for tool in tools.tools])
    assert "$ref" not in schemas  # every tool's schema reads alone


def test_the_login_applies_to_the_mcp_server(login_app):
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
    }
    headers = {"accept": "application/json, text/event-stream"}
    refused = httpx.post(f"{login_app}gradio_api/mcp/", json=initialize, headers=headers)
    assert refused.status_code == 401 and "log in" in refused.json()["detail"], refused.text
    assert httpx.get(f"{login_app}gradio_api/mcp/schema").status_code == 401
    # A student's cookie opens it: the tools are listed, and called.
    cookies = login(login_app, "ana")
    assert httpx.get(f"{login_app}gradio_api/mcp/schema", cookies=cookies).status_code == 200

    async def work(session):
        return await session.list_tools(), await session.call_tool("search_by_text", {"query": "a cat", "top_k": 1})

    tools, hits = agent_calls(login_app, work, cookies)
    assert tools.tools and not hits.isError and "gradio_api/file=" in text(hits), text(hits)


def test_agents_have_their_own_gallery_and_share(agents_app):
    # Before, every agent was one client from 127.0.0.1, in the one session of Gradio's loopback client.
    def add(colour):
        return lambda s: s.call_tool("add_to_gallery", {"files": [data_url(colour)]})

    first = agent_calls(agents_app, add("red"))
    assert not first.isError and "Added 1" in text(first), text(first)
    # Another agent (another MCP session) starts with a gallery of its own.
    second = agent_calls(agents_app, add("green"))
    assert not second.isError and "Added 1" in text(second), text(second)
    # Each sees the one image it added (named as sent: file.png) beside the bundled ones, not the other's.
    assert text(first).count("'caption': 'file.png'") == text(second).count("'caption': 'file.png'") == 1, text(second)

    # Three agents at once, each with its own one-request share (QUEUE_PER_CLIENT=1).
    async def both():
        async def one(cookies):
            async with (
                httpx.AsyncClient(cookies=cookies, timeout=120) as http,
                streamable_http_client(f"{agents_app}gradio_api/mcp/", http_client=http) as (read, write, _),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return await session.call_tool("search_by_text", {"query": "a cat", "top_k": 1})

        return await asyncio.gather(*(one({}) for _ in range(3)))

    results = asyncio.run(both())
    assert not any(r.isError for r in results), [text(r) for r in results]
