"""The events' guard (ui/server/security.py ``EventGuard``) on a small app of its own:
inputs refused before Gradio reads them, with the app's message, through each route a
client starts an event by; results with no server folder in their text, and a result
Gradio can't prepare said as a message instead of a bare error. It is middleware in
front of Gradio, so no Gradio method is replaced (tests/test_gradio_public.py)."""

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


@pytest.fixture(scope="module")
def app():
    with gr.Blocks() as demo:
        text, steps, out = gr.Textbox(), gr.Slider(1, 10, step=1), gr.Textbox()
        image = gr.Image()
        gr.Button().click(echo, [text, steps], out, api_name="echo")
        gr.Button().click(broken, text, image, api_name="broken")
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
