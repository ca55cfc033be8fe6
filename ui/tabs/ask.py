"""Ask tab: visual question answering (BLIP generates the answer, ViLT classifies it)."""

from __future__ import annotations

import gradio as gr

from runtime import settings
from runtime.batching import options_key
from runtime.inputs import load_image
from ui import explain
from ui.common import get_model, gpu, image_input, model_picker, model_status, status_line, user_errors
from ui.i18n import _
from ui.server.serving import batch_event, batched
from ui.speech import ask_by_voice, read_aloud, voice_input

EXAMPLES = [
    ("cat.jpg", "What animal is this?"),
    ("coffee.jpg", "What is in the cup?"),
    ("astronaut.jpg", "What is the woman wearing?"),
    ("rocket.jpg", "Is it day or night?"),
    ("coins.jpg", "How many coins are there?"),
]


@gpu
@user_errors
def vqa(image: str, question: str, model: str | None = None, progress=gr.Progress(track_tqdm=True)) -> str:
    pipe = get_model("vqa", model, progress).pipeline
    # Checked here, so that bad input fails this request alone, never a batch.
    pair = (load_image(image), pipe.check_question(question))
    return batched(lambda pairs: pipe([i for i, _ in pairs], [q for _, q in pairs]), pair, options_key(pipe))


def build(demo: gr.Blocks) -> None:
    with gr.Tab(_("ask.tab"), id="ask"):
        gr.Markdown(_("ask.intro"))
        with gr.Row(equal_height=False):
            with gr.Column():
                image = image_input(label=_("common.image"), sources=["upload", "clipboard", "webcam"], height=340)
                question = gr.Textbox(label=_("ask.question"), placeholder=_("ask.placeholder"), max_length=500)
                voice = voice_input(label=_("speech.voice"))
                picker = model_picker("vqa")
                button = gr.Button(_("ask.button"), variant="primary")
            with gr.Column():
                answer = gr.Textbox(label=_("ask.answer"), lines=2, buttons=["copy"])
                spoken = read_aloud(answer)
                status = status_line(demo, "vqa", picker)
        examples = [[str(settings.EXAMPLE_IMAGES_DIR / name), q] for name, q in EXAMPLES]
        gr.Examples(examples, inputs=[image, question], label=_("common.examples"))

        event = gr.on([button.click, question.submit], vqa, [image, question, picker], answer, api_name="vqa",
                      **batch_event())  # fmt: skip
        event.then(lambda m: model_status("vqa", m), picker, status, api_visibility="private", queue=False)
        explain.vqa_panel(demo, image=image, question=question, picker=picker, answer=answer)
        # Asked by voice: the transcript becomes the question, and the answer is read aloud.
        event = ask_by_voice(voice, question, vqa, [image, question, picker], answer, spoken)
        event.then(lambda m: model_status("vqa", m), picker, status, api_visibility="private", queue=False)
