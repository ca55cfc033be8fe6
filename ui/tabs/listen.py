"""Listen tab: speech to text with timestamps (Whisper), and text to speech (MMS-TTS/VITS)."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from explain import snippets
from pipelines.limits import TEXT_TO_SPEECH
from runtime import settings
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import examples, model_picker, model_status, session_state, status_line
from ui.context import Context
from ui.i18n import _
from ui.messages import locale, text
from ui.server.queue import model_event
from ui.speech import speak, transcribe, voice_input, voice_key

AUDIO_EXAMPLES = ["what-animal.wav", "multimodal-models.ogg"]
AUDIO_EXAMPLES_ZH = ["zh-what-animal.wav", "multimodal-models.ogg"]  # "这是什么动物？"
SPEAK_EXAMPLES = [
    "A cat is sitting on a wooden table next to a cup of coffee.",
    "There are 3 rockets and 12 stars in the picture.",
    "Multimodal models can see, read, listen and speak.",
]
# Read by the Chinese voice (the numbers as Chinese numerals).
SPEAK_EXAMPLES_ZH = [
    "一只猫坐在木桌上，旁边有一杯咖啡。",
    "图片里有3枚火箭和12颗星星。",
    "多模态模型能看、能读、能听、能说。",
]
# Whisper knows 99 languages; the common ones by their own names, any other code can be typed.
LANGUAGES = {
    "en": "English",
    "zh": "中文",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "ja": "日本語",
    "ko": "한국어",
    "ru": "Русский",
    "pt": "Português",
    "it": "Italiano",
    "ar": "العربية",
    "hi": "हिन्दी",
    "nl": "Nederlands",
    "tr": "Türkçe",
    "pl": "Polski",
    "sv": "Svenska",
    "uk": "Українська",
    "vi": "Tiếng Việt",
    "id": "Bahasa Indonesia",
}


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60)
    return f"{int(minutes)}:{seconds:05.2f}"


def show_result(result: dict | None) -> tuple[str, str]:
    """The timed segments, one a line ("0:02.40 → 0:05.10  text"), and a line about the
    language, from a transcription result."""
    if not result:
        return "", ""
    lines = [f"{_clock(c['timestamp'][0])} → {_clock(c['timestamp'][1])}  {c['text']}" for c in result["chunks"]]
    return "\n".join(lines), text("language_line", name=language_name(result["language"]), count=len(lines))


def transcribe_code(audio, task: str, model: str | None, result: dict | None):
    """Show the code for a transcription: a program that reads the clip as the app did."""
    loaded = panels.loaded_model("speech_recognition", model) if result else None
    if loaded is None or getattr(loaded, "remote", False):  # a model server's: no local program to give
        return "", None
    return panels.code_and_record(snippets.transcribe_record(loaded, audio, task, result))


def language_name(code: str) -> str:
    """A language code Whisper detected ("mt") as the page's language names it ("Maltese",
    "马耳他语"), from the Unicode CLDR's names (Babel); the code itself if it has none."""
    from babel import Locale

    where = Locale.parse("zh_Hans") if locale().startswith("zh") else Locale("en")
    return where.languages.get({"jw": "jv"}.get(code, code)) or code  # Whisper's "jw" is Javanese


def _listen_row(demo: gr.Blocks, ctx: Context) -> SimpleNamespace:
    """Speech to text: the recording, its language and task, and the transcript."""
    with gr.Row(equal_height=False):
        with gr.Column():
            audio = voice_input(label=_("listen.audio"))
            with gr.Row():
                language = ctx.classroom.control(
                    "language",
                    gr.Dropdown,
                    [(_("listen.auto"), "auto"), *((f"{name} ({code})", code) for code, name in LANGUAGES.items())],
                    value="auto",
                    label=_("listen.language"),
                    info=_("listen.language_info"),
                    allow_custom_value=True,
                )
                task = ctx.classroom.control(
                    "task",
                    gr.Radio,
                    [(_("listen.transcribe"), "transcribe"), (_("listen.translate"), "translate")],
                    value="transcribe",
                    label=_("listen.task"),
                    info=_("listen.task_info"),
                )
            picker = model_picker("speech_recognition", ctx.classroom)
            button = gr.Button(_("listen.button"), elem_id=run_id("transcribe"), variant="primary")
        with gr.Column():
            transcript = gr.Textbox(label=_("listen.transcript"), lines=4, buttons=["copy"])
            details = gr.Markdown()
            segments = gr.Textbox(label=_("listen.segments"), lines=6, max_lines=14, buttons=["copy"])
            status = status_line(demo, "speech_recognition", picker, ctx)
    clips = [
        [[str(settings.EXAMPLE_AUDIO_DIR / name)] for name in names] for names in (AUDIO_EXAMPLES, AUDIO_EXAMPLES_ZH)
    ]
    examples(*clips, inputs=[audio])
    return SimpleNamespace(
        audio=audio,
        language=language,
        task=task,
        picker=picker,
        button=button,
        transcript=transcript,
        details=details,
        segments=segments,
        status=status,
    )


def _speak_row(demo: gr.Blocks, ctx: Context) -> SimpleNamespace:
    """Text to speech: the text, its speaking rate and the voice."""
    gr.Markdown(_("speak.intro"))
    with gr.Row(equal_height=False):
        with gr.Column():
            text = ctx.classroom.control(
                "text",
                gr.Textbox,
                label=_("speak.text"),
                placeholder=_("speak.placeholder"),
                lines=3,
                max_length=settings.MAX_SPEECH_CHARS,
            )
            speaking_rate = ctx.classroom.control(
                "speaking_rate",
                gr.Slider,
                *TEXT_TO_SPEECH["speaking_rate"].ends,
                1.0,
                step=0.1,
                label=_("speak.rate"),
                info=_("speak.rate_info"),
            )
            picker = model_picker("text_to_speech", ctx.classroom)
            button = gr.Button(_("speak.button"), elem_id=run_id("speak"), variant="primary")
        with gr.Column():
            speech = gr.Audio(label=_("speak.output"), type="filepath", autoplay=True, interactive=False)
            status = status_line(demo, "text_to_speech", picker, ctx)
    examples([[t] for t in SPEAK_EXAMPLES], [[t] for t in SPEAK_EXAMPLES_ZH], inputs=[text])
    return SimpleNamespace(
        text=text, speaking_rate=speaking_rate, picker=picker, button=button, speech=speech, status=status
    )


def _wire_listen(page: SimpleNamespace, code: gr.Code, record_file: gr.File, ctx: Context) -> None:
    """Transcribe: the transcript, then its segments, details and Show the code."""
    # The transcript is the endpoint's answer; the full result goes to a State, which
    # API clients don't see, and from there into the table.
    result = session_state()
    inputs = [page.audio, page.language, page.task, page.picker]
    event = gr.on(
        [page.button.click, page.audio.stop_recording],
        endpoint(transcribe, ctx, inputs),
        inputs,
        [page.transcript, result],
        api_name="transcribe",
        **model_event("speech_recognition"),
    )
    shown = display(show_result, ctx, result)
    event.success(shown, result, [page.segments, page.details], api_visibility="private", queue=False)
    code_of = [page.audio, page.task, page.picker, result]
    event.success(display(transcribe_code, ctx, code_of), code_of, [code, record_file], api_visibility="private")
    status_shown = display(lambda m: model_status("speech_recognition", m), ctx, page.picker)
    event.then(status_shown, page.picker, page.status, api_visibility="private", queue=False)


def _wire_speak(page: SimpleNamespace, ctx: Context) -> None:
    """Speak: the speech, and the status line naming the voice that read it."""
    inputs = [page.text, page.speaking_rate, page.picker]
    event = gr.on(
        [page.button.click, page.text.submit],
        endpoint(speak, ctx, inputs),
        inputs,
        page.speech,
        api_name="speak",
        concurrency_id="model",
    )
    # The status line names the voice that read the text (Chinese goes to the Chinese voice).
    voice = display(lambda m, said: model_status("text_to_speech", voice_key(said, m)), ctx, [page.picker, page.text])
    event.then(voice, [page.picker, page.text], page.status, api_visibility="private", queue=False)


def build(demo: gr.Blocks, ctx: Context) -> None:
    with gr.Tab(_("listen.tab"), id="listen"):
        gr.Markdown(_("listen.intro"))
        listen = _listen_row(demo, ctx)
        speak_ = _speak_row(demo, ctx)
        panels.how_it_works("listen.how")
        code, record_file = panels.show_code()
        _wire_listen(listen, code, record_file, ctx)
        _wire_speak(speak_, ctx)


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their parameters).
ENDPOINTS = (speak, transcribe)
