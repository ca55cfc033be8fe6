"""Ask tab: visual question answering (BLIP generates the answer, ViLT classifies it, a
vision-language model is asked for a word or a phrase)."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from explain import snippets
from explain.explanation import TOP_K
from runtime import settings
from runtime.backends import needs_local_model
from runtime.batching import batched, options_key
from runtime.inputs import check_text, load_image
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import examples, image_input, model_picker, model_status, status_line
from ui.context import Context
from ui.handlers import get_model, gpu
from ui.i18n import _
from ui.server.queue import batch_event
from ui.speech import ask_by_voice, read_aloud, voice_input

EXAMPLES = [
    ("cat.jpg", "What animal is this?"),
    ("coffee.jpg", "What is in the cup?"),
    ("astronaut.jpg", "What is the woman wearing?"),
    ("rocket.jpg", "Is it day or night?"),
    ("coins.jpg", "How many coins are there?"),
]
# The Chinese page's questions (answered in Chinese by a model that reads Chinese).
EXAMPLES_ZH = [
    ("cat.jpg", "这是什么动物？"),
    ("coffee.jpg", "杯子里有什么？"),
    ("astronaut.jpg", "这位女士穿着什么？"),
    ("rocket.jpg", "现在是白天还是晚上？"),
    ("coins.jpg", "有几枚硬币？"),
]


@gpu
def vqa(image: str, question: str, model: str | None = None, progress=gr.Progress(track_tqdm=True)) -> str:
    """Answer a question about an image in a word or a few (BLIP VQA generates the answer, ViLT picks it from 3,129 answers, a vision-language model such as Qwen3.5, SmolVLM or Gemma 3 is asked for a short answer).

    Args:
        image: The image the question is about.
        question: The question, e.g. "What animal is this?": in English for BLIP, ViLT and SmolVLM; Qwen3-VL, Qwen3.5 and Gemma 3 also read Chinese and answer in it.
        model: Which checkpoint to use (a VQA one, or a chat model such as qwen3.5-0.8b or smolvlm-256m); the profile's default when empty.

    Returns:
        The answer.
    """
    # The checks that need no model run first: a bad input is refused before a download.
    image, question = load_image(image), check_text(question, "question")
    loaded = get_model("vqa", model, progress)
    pipe = loaded.pipeline
    # Checked before batching, so that bad input fails this request alone, never a batch.
    pair = pipe.preprocess(image, question)
    return batched(loaded, pipe.forward, pair, options_key(pipe))


# --- Explain, How it works and Show the code ---------------------------------------


@gpu
def explain_vqa(
    image: str,
    question: str,
    model: str | None = None,
    candidates: str | None = None,
    top_k: int = 5,
    decoding: str = "greedy",
    layer: int = 0,
    progress=gr.Progress(track_tqdm=True),
):
    """Explain a VQA answer: the decoding steps with probabilities, the ranked candidate answers, and where in the image the model looked for the answer and for each word of the question.

    Args:
        image: The image the question is about.
        question: The question, in English.
        model: Which VQA checkpoint to use; the profile's default when empty.
        candidates: Optional comma-separated answers to score, e.g. "cat, dog, bird".
        top_k: How many ranked answers to return (1-20).
        decoding: Which strategy's attention maps to return: greedy or beam.
        layer: Which cross-attention layer to show; 0 averages all layers.

    Returns:
        The explanation as JSON and the attention heatmaps.
    """
    from explain import generation as explain_generation

    # The checks that need no model run first: a bad input is refused before a download.
    image, question = load_image(image), check_text(question, "question")
    pipe = get_model("vqa", model, progress).pipeline
    needs_local_model(pipe, "answer")
    explanation = explain_generation.explain_vqa(pipe, image, question, candidates=candidates, top_k=top_k)
    return explanation.record, panels.attention_gallery(explanation, decoding, layer), explanation


def _answers_chart(explanation) -> gr.BarPlot:
    if explanation is None:
        return gr.skip()
    # Numbered: two long answers may be shortened alike, and each needs its own bar.
    rows = [
        {panels.ANSWER: f"{n}. {panels.short(a['answer'], 12)}", panels.PROB: a["probability"] or 0.0}
        for n, a in enumerate(explanation.record["answers"], 1)
    ]
    return panels.probability_bars(pd.DataFrame(rows, columns=[panels.ANSWER, panels.PROB]))


def vqa_code(image, question, model, output):
    """Show the code for the answer on the page."""
    if not output or image is None:
        return "", None
    return panels.code_and_record(
        snippets.vqa_record(panels.loaded_model("vqa", model), image, check_text(question, "question"), output)
    )


def vqa_panel(demo, ctx, *, image, question, picker, answer) -> None:
    """The Ask tab's Explain, How it works and Show the code panels."""
    button, strategy, layer, summary, table, chart, maps, extra, record, state = panels.generation_panel(
        demo, ctx.classroom, "explain.vqa_title", "explain.vqa_intro", "explain.vqa_button", "explain_vqa"
    )
    with extra:
        with gr.Row():
            candidates = ctx.classroom.control(
                "candidates",
                gr.Textbox,
                label=_("explain.candidates"),
                info=_("explain.candidates_info"),
                placeholder="cat, dog, bird",
                max_length=1000,
            )
            top_k = ctx.classroom.control("top_k", gr.Slider, *TOP_K.ends, 5, step=1, label=_("explain.top_k"))
        answers = gr.BarPlot(
            x=panels.ANSWER,
            y=panels.PROB,
            label=_("explain.answers"),
            y_lim=[0, 1],
            height=340,
            sort="-y",
            x_label_angle=-30,
        )
    panels.how_it_works("explain.vqa_how")
    code, record_file = panels.show_code()

    inputs = [image, question, picker, candidates, top_k, strategy, layer]
    event = button.click(
        endpoint(explain_vqa, ctx, inputs),
        inputs,
        [record, maps, state],
        api_name="explain_vqa",
        concurrency_id="model",
    )
    render = panels.redraw_generation(ctx, state, strategy, layer, [summary, table, chart, maps])
    event.success(**render).then(
        display(_answers_chart, ctx, state), state, answers, api_visibility="private", queue=False
    ).then(display(panels.layer_slider, ctx, state), state, layer, api_visibility="private", queue=False)

    shown = [image, question, picker, answer]  # the answer, by the button or by voice: a display of it
    answer.change(display(vqa_code, ctx, shown), shown, [code, record_file], api_visibility="private")


def build(demo: gr.Blocks, ctx: Context) -> None:
    with gr.Tab(_("ask.tab"), id="ask"):
        gr.Markdown(_("ask.intro"))
        with gr.Row(equal_height=False):
            with gr.Column():
                image = image_input(label=_("common.image"), sources=["upload", "clipboard", "webcam"], height=340)
                question = ctx.classroom.control(
                    "question", gr.Textbox, label=_("ask.question"), placeholder=_("ask.placeholder"), max_length=500
                )
                voice = voice_input(label=_("speech.voice"))
                picker = model_picker("vqa", ctx.classroom)
                button = gr.Button(_("ask.button"), elem_id=run_id("vqa"), variant="primary")
            with gr.Column():
                # Read aloud's ``text`` too: a lock on that parameter fixes this box as well.
                answer = ctx.classroom.control("text", gr.Textbox, label=_("ask.answer"), lines=2, buttons=["copy"])
                spoken = read_aloud(answer, ctx)
                status = status_line(demo, "vqa", picker, ctx)
        pairs = [[[str(settings.EXAMPLE_IMAGES_DIR / name), q] for name, q in rows] for rows in (EXAMPLES, EXAMPLES_ZH)]
        examples(*pairs, inputs=[image, question])

        inputs = [image, question, picker]
        event = gr.on(
            [button.click, question.submit], endpoint(vqa, ctx, inputs), inputs, answer, api_name="vqa", **batch_event()
        )
        refresh = dict(
            fn=display(lambda m: model_status("vqa", m), ctx, picker),
            inputs=picker,
            outputs=status,
            api_visibility="private",
            queue=False,
        )
        event.then(**refresh)
        vqa_panel(demo, ctx, image=image, question=question, picker=picker, answer=answer)
        # Asked by voice: the transcript becomes the question, and the answer is read aloud.
        ask_by_voice(voice, question, vqa, inputs, answer, spoken, ctx).then(**refresh)


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their parameters).
ENDPOINTS = (vqa, explain_vqa)
