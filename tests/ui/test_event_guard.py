"""The events' guard (ui/server/security.py ``EventGuard``) on a small app of its own:
inputs refused before Gradio reads them, with the app's message, through each route a
client starts an event by; results with no server folder in their text, and a result
Gradio can't prepare said as a message instead of a bare error. It is middleware in
front of Gradio, so no Gradio method is replaced (tests/test_gradio_public.py)."""

import json

import gradio as gr
import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from starlette.middleware import Middleware

from runtime import settings
from tests.conftest import free_port
from ui.server.events import REFUSED_HEADER, EventGuard, guard_inputs


def echo(text: str, steps: float) -> str:
    return f"{text} x{steps:g} in {settings.DATA_DIR / 'models'}"


def broken(text: str) -> str:
    return "/nowhere/at/all.png"  # a gr.Image output Gradio can't prepare


def pick(choice: str, several: list, upload) -> str:
    return f"{choice} {several}"


@pytest.fixture(scope="module")
def app():
    with gr.Blocks() as demo:
        text, steps, out = gr.Textbox(), gr.Slider(1, 10, step=1), gr.Textbox()
        image = gr.Image()
        gr.Button().click(echo, [text, steps], out, api_name="echo")
        gr.Button().click(broken, text, image, api_name="broken")
        picks = [gr.Dropdown(["a", "b"]), gr.CheckboxGroup(["x", "y"]), gr.File(file_count="multiple")]
        gr.Button().click(pick, picks, out, api_name="pick")
    guard_inputs(demo)
    demo.queue(api_open=False)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        app_kwargs={"middleware": [Middleware(EventGuard)]},
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_inputs_are_refused_with_the_apps_message_then_served(app):
    client = Client(app, verbose=False)
    with pytest.raises(AppError, match="at most 10"):
        client.predict("hi", 11, api_name="/echo")
    with pytest.raises(AppError, match="must be text"):
        client.predict(5, 2, api_name="/echo")
    assert client.predict("hi", 2, api_name="/echo").startswith("hi x2")


def test_a_chinese_client_reads_the_refusal_in_chinese(app):
    client = Client(app, verbose=False, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(AppError) as refused:
        client.predict("hi", 11, api_name="/echo")
    assert any("\u4e00" <= c <= "\u9fff" for c in str(refused.value)), str(refused.value)


def test_the_plain_http_api_is_refused_the_same_way(app):
    with httpx.Client(base_url=app, timeout=60) as http:
        started = http.post("gradio_api/call/echo", json={"data": ["hi", 0]})
        assert started.status_code == 200, started.text
        stream = http.get(f"gradio_api/call/echo/{started.json()['event_id']}").text
    assert "event: error" in stream and "at least 1" in stream, stream


def test_the_api_by_parameter_name_is_refused_the_same_way(app):
    with httpx.Client(base_url=app, timeout=60) as http:
        started = http.post("gradio_api/call/v2/echo", json={"text": "hi", "steps": 0})
        assert started.status_code == 200, started.text
        stream = http.get(f"gradio_api/call/v2/echo/{started.json()['event_id']}").text
    assert "event: error" in stream and "at least 1" in stream, stream


def test_a_client_can_not_send_a_refusal_of_its_own(app):
    forged = Client(app, verbose=False, headers={REFUSED_HEADER: "%7B%22message%22%3A%22no%22%7D"})
    assert forged.predict("hi", 3, api_name="/echo").startswith("hi x3")


def test_text_results_name_no_server_folder(app):
    answer = Client(app, verbose=False).predict("hi", 2, api_name="/echo")
    assert str(settings.DATA_DIR) not in answer and "models" in answer, answer


def test_a_result_gradio_can_not_prepare_is_said_as_a_message(app):
    with pytest.raises(AppError) as failed:
        Client(app, verbose=False).predict("hi", api_name="/broken")
    assert "could not read an input or send the result" in str(failed.value), str(failed.value)


def test_a_chinese_client_reads_that_failure_in_chinese(app):
    client = Client(app, verbose=False, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(AppError) as failed:
        client.predict("hi", api_name="/broken")
    assert "Gradio 未能读取" in str(failed.value), str(failed.value)


def test_an_error_reply_on_a_result_route_comes_back_whole(app):
    # A result stream's route answered with an error (no session given): JSON, not an event stream.
    answer = httpx.get(f"{app}gradio_api/queue/data", timeout=30)
    assert answer.status_code >= 400 and answer.json(), answer.text


def refused(app, data: list, language: str | None = None) -> str:
    """The message of the error that the plain-HTTP API answers ``data`` for /pick with."""
    headers = {"Accept-Language": language} if language else {}
    with httpx.Client(base_url=app, timeout=60, headers=headers) as http:
        started = http.post("gradio_api/call/pick", json={"data": data})
        assert started.status_code == 200, started.text
        stream = http.get(f"gradio_api/call/pick/{started.json()['event_id']}").text
    assert "event: error" in stream, stream
    return json.loads(stream.split("event: error", 1)[1].split("data:", 1)[1].splitlines()[0])["error"]


def test_every_refusal_of_the_guard_is_said_in_the_clients_language(app):
    # A choice that isn't offered, a file that wasn't uploaded: English for a client that asks
    # for no language (as the tests of the whole app read it), Chinese for one that asks for it.
    upload = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    assert refused(app, ["c", [], None]) == "`choice`: must be one of ['a', 'b'], not 'c' (str)."
    assert refused(app, ["c", [], None], "zh-CN") == "`choice`必须是 ['a', 'b'] 之一，而不是 'c' (str)。"
    assert refused(app, ["a", ["z"], None]) == "`several`: must be a list of some of ['x', 'y'], not ['z'] (list)."
    assert "中若干项组成的列表" in refused(app, ["a", ["z"], None], "zh-CN")
    assert refused(app, ["a", [], "/etc/passwd"]).startswith("`upload`: must be a file uploaded to this app")
    assert refused(app, ["a", [], "/etc/passwd"], "zh-CN").startswith("`upload`必须是上传到这个应用的文件")
    assert refused(app, ["a", [], [upload]]) == (
        "`upload`: The file was not uploaded to this app. Upload the file first (gradio_client: handle_file(path))."
    )
    assert refused(app, ["a", [], [upload]], "zh-CN") == (
        "`upload`：这个文件不是上传到这个应用的。请先上传文件（gradio_client：handle_file(path)）。"
    )
    assert refused(app, ["a", [], [{"url": "https://example.com/a.png"}]], "zh-CN").startswith(
        "`upload`：这个应用不替客户端获取 URL"
    )
    assert refused(app, ["a", [], ["data:image/png;base64,A"]], "zh-CN") == "以 data: URL 给出的文件无法解码。"
