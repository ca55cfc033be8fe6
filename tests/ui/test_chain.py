"""The chain every event goes through (ui/chain.py), in its order: the page's language is set
before the classroom's rules are checked, so a refusal is said in it; an event that only
shows something is held to the locks but never counted nor logged; a streaming handler
keeps its language at every step, whichever thread runs it, and is closed when Gradio
closes it; what Gradio reads of a handler (name, docstring, parameters) stays the handler's."""

import inspect
import json
import threading

import gradio as gr
import pytest

from classroom import rules
from classroom.policy import ClassroomPolicy
from ui.actions import parameters
from ui.chain import display, endpoint
from ui.context import Context
from ui.i18n import EN, ZH
from ui.server.language import page_language

ZH_PAGE = gr.Request(username="lena", cookies={"playground-locale": "zh-CN"})
EN_API = gr.Request(username="lena")


def context(tmp_path, text: str) -> Context:
    path = tmp_path / "lesson.yaml"
    path.write_text(text, encoding="utf-8")
    return Context("tiny", ClassroomPolicy(rules.load(path), "tiny"), None, None)


def make(prompt: str, num_inference_steps: int = 1, progress=gr.Progress()) -> str:
    """Make something of a prompt.

    Args:
        prompt: What to make.
        num_inference_steps: How many steps.
    """
    return f"{prompt} in {num_inference_steps} steps ({page_language()})"


def logged(ctx: Context) -> list[dict]:
    path = ctx.classroom.log.path
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_the_language_is_set_before_the_classroom_refuses(tmp_path):
    ctx = context(tmp_path, "locked: {num_inference_steps: {max: 2}}\nprompt_log: {enabled: true, file: p1.jsonl}")
    steps = ctx.classroom.control("num_inference_steps", gr.Slider, 1, 10, 1)  # as a tab builds it
    fn = endpoint(make, ctx, [gr.Textbox(), steps])
    assert steps.maximum == 2  # the control shows the rule too
    with pytest.raises(gr.Error) as refused:
        fn(ZH_PAGE, "a fox", 5)
    # The teacher's rule in the page's language, with its title: not the English as raised.
    assert refused.value.title == ZH["messages.title_classroom"]
    assert "num_inference_steps" not in refused.value.message and "老师" in refused.value.message
    with pytest.raises(gr.Error) as refused:
        fn(EN_API, "a fox", 5)  # an API client in English: the message as raised
    assert refused.value.title == EN["messages.title_classroom"]
    assert "`num_inference_steps`" in refused.value.message
    assert fn(ZH_PAGE, "a fox", 2) == "a fox in 2 steps (zh-CN)"  # the handler runs in that language too
    assert [("refused" in e, e["prompt"]) for e in logged(ctx)] == [(True, "a fox"), (True, "a fox"), (False, "a fox")]


def test_an_event_that_only_shows_something_is_not_counted_nor_logged(tmp_path):
    ctx = context(tmp_path, "limits: {requests_per_minute: 1}\nprompt_log: {enabled: true, file: p2.jsonl}")
    prompt, output = gr.Textbox(), gr.Textbox()

    def show_code(prompt: str, output: str) -> str:
        return f"make({prompt!r})  # {output}"

    request, shown = endpoint(make, ctx, [prompt]), display(show_code, ctx, [prompt, output])
    for _ in range(3):  # Show the code, after each request and again: never a request of its own
        assert shown(ZH_PAGE, "a fox", "a fox in 1 steps")
    assert request(ZH_PAGE, "a fox") == "a fox in 1 steps (zh-CN)"  # the one request the minute allows
    with pytest.raises(gr.Error, match="1"):
        request(ZH_PAGE, "a second fox")
    assert shown(ZH_PAGE, "a fox", "a fox in 1 steps")  # still shown: it is no request
    entries = logged(ctx)
    assert [e["prompt"] for e in entries] == ["a fox", "a second fox"]  # only what was typed, only the requests
    assert "refused" in entries[1] and all("output" not in e for e in entries)


def test_an_empty_model_picker_gets_the_teachers_default(tmp_path):
    ctx = context(tmp_path, "models: {caption: {allowed: [tiny-blip]}}")
    picker = ctx.classroom.guard_picker(gr.Dropdown(choices=["tiny-blip"], value="tiny-blip"), "caption")

    def which(model: str | None = None) -> str | None:
        return model

    assert endpoint(which, ctx, [picker])(EN_API, None) == "tiny-blip"
    assert display(which, ctx, [picker])(EN_API, "") == "tiny-blip"


def test_a_streaming_handler_keeps_its_language_at_every_step_in_any_thread(tmp_path):
    ctx = context(tmp_path, "message: hello")
    closed = []

    def stream(prompt: str):
        try:
            for _ in range(3):
                yield page_language()
        finally:
            closed.append(page_language())

    fn = endpoint(stream, ctx, [gr.Textbox()])
    assert inspect.isgeneratorfunction(fn)  # Gradio streams it
    steps, seen = fn(ZH_PAGE, "a fox"), []

    def step():  # a new thread starts with no context: as Gradio's next step may
        seen.append(next(steps))

    for _ in range(2):
        thread = threading.Thread(target=step)
        thread.start()
        thread.join()
    assert seen == ["zh-CN", "zh-CN"] and page_language() is None  # nothing leaks into this thread
    steps.close()  # Stop, or a closed page
    assert closed == ["zh-CN"]  # the handler's own cleanup ran, in its language


def test_a_streaming_handlers_failure_is_a_message_at_any_step(tmp_path):
    ctx = context(tmp_path, "message: hello")

    def stream(prompt: str):
        yield "a first frame"
        raise ValueError("The prompt is too long.")

    steps = endpoint(stream, ctx, [gr.Textbox()])(EN_API, "a fox")
    assert next(steps) == "a first frame"
    with pytest.raises(gr.Error, match="The prompt is too long"):
        next(steps)


def test_gradio_reads_the_handlers_name_docstring_and_parameters(tmp_path):
    from gradio import utils

    ctx = context(tmp_path, "message: hello")
    fn = endpoint(make, ctx, [gr.Textbox(), gr.Slider(1, 10, 1)])
    assert fn.__name__ == "make" and fn.__doc__ == make.__doc__
    assert parameters(fn) == parameters(make) == ["prompt", "num_inference_steps"]
    assert utils.get_function_params(fn) == utils.get_function_params(make)  # the API docs and MCP tools
    assert utils.get_function_description(fn)[1]["prompt"] == "What to make."
    first = next(iter(inspect.signature(fn).parameters.values()))
    assert utils.get_type_hints(fn)[first.name] is gr.Request  # Gradio hands the chain the request there


def test_a_display_is_held_to_the_locks_of_the_controls_it_reads_not_to_a_name(tmp_path):
    # Fusion locks `strategy`; the explain panels' decoding radio feeds a redraw whose
    # parameter is also called `strategy`: that display must not be refused, nor its radio narrowed.
    ctx = context(tmp_path, "locked: {strategy: {allowed: [early, late]}, num_beams: 1}")
    decoding = gr.Radio(["greedy", "beam"], value="greedy")
    beams = ctx.classroom.control("num_beams", gr.Slider, 1, 8, 3)  # built with its lock, as a tab builds it

    def redraw(state, strategy: str = "greedy") -> str:
        return strategy

    def show_code(beams_used: int) -> str:
        return f"num_beams={beams_used}"

    assert display(redraw, ctx, [gr.State(), decoding])(EN_API, None, "beam") == "beam"
    assert [c[1] for c in decoding.choices] == ["greedy", "beam"]
    endpoint(lambda num_beams=3: num_beams, ctx, [beams])  # a request bound to the locked control
    assert beams.value == 1 and not beams.interactive
    with pytest.raises(gr.Error):  # whatever the display calls it, the locked control holds
        display(show_code, ctx, [beams])(EN_API, 4)
