"""Speech in and out, for every tab: transcribing a clip (Whisper), reading a text aloud
(VITS), the Ask tab's voice input and the "Read aloud" buttons under the Caption and
Ask outputs. The Listen tab (ui/tabs/listen.py) lays out the full controls."""

from __future__ import annotations

import gradio as gr

from pipelines.cache import MODELS
from runtime import registry, settings
from runtime.audio import save_audio
from runtime.inputs import check_text, notify
from runtime.messages import InputError, Notice, model_names
from runtime.scripts import describe, main_script
from ui.chain import endpoint
from ui.context import Context
from ui.handlers import get_model, gpu, refusal
from ui.i18n import _
from ui.messages import text
from ui.server import outputs


@gpu
def transcribe(
    audio: str,
    language: str = "auto",
    task: str = "transcribe",
    model: str | None = None,
    progress=gr.Progress(track_tqdm=True),
) -> tuple[str, dict]:
    """Transcribe a speech clip with Whisper (up to 60 s), or translate it into English.

    Args:
        audio: The clip (WAV, FLAC, OGG, MP3 or AIFF).
        language: The spoken language's code (e.g. "en", "zh"), or "auto" to detect it.
        task: "transcribe" (in the spoken language) or "translate" (into English).
        model: Which speech recognition checkpoint to use; the profile's default when empty.

    Returns:
        The transcript.
    """
    # Transcribe a speech clip with Whisper, or translate it into English; returns the text.
    # (The whole result, with the language and the timed segments, goes to the Listen tab's table.)
    pipe = get_model("speech_recognition", model, progress).pipeline

    def on_window(done: float, total: float) -> None:
        progress((done, total), desc=text("listening", done=f"{done:.0f}", total=f"{total:.0f}"), unit="s")

    result = pipe(audio, language=language, task=task, callback=on_window)
    return result["text"], result


def _voices(text: str, model: str | None) -> tuple[registry.Checkpoint, list[registry.Checkpoint]]:
    """The picker's voice, and the voices that read ``text``'s main script when it doesn't
    (empty when it does, or when none does: the voice then says what it can't pronounce)."""
    checkpoint = registry.get_checkpoint("text_to_speech", model or None, MODELS.profile)
    script = main_script(text if isinstance(text, str) else "")
    if script is None or not checkpoint.scripts or script in checkpoint.scripts:
        return checkpoint, []
    return checkpoint, registry.readers("text_to_speech", {script}, MODELS.profile)


def voice_key(text: str, model: str | None) -> str:
    """The voice that reads ``text`` (as ``voice_for`` picks it), without a notice: for the status line."""
    checkpoint, readers = _voices(text, model)
    return readers[0].key if readers else checkpoint.key


def voice_for(text: str, model: str | None) -> str:
    """The voice that reads ``text``: ``model`` (the picker's) when it reads the script most
    of the text is in, else the first voice of the picker that does ("猫" goes to the
    Chinese voice, "cat" to the English one), with a notice saying so."""
    checkpoint, readers = _voices(text, model)
    if not readers:
        return checkpoint.key
    notify(
        Notice(
            "voice_switched",
            model=model_names(checkpoint),
            reader=model_names(readers[0]),
            reads=describe(checkpoint.scripts),
        )
    )
    return readers[0].key


@gpu
def speak(text: str, speaking_rate: float = 1.0, model: str | None = None, progress=gr.Progress()) -> str:
    """Read a text aloud, in a voice for its language.

    Args:
        text: The text to read (up to 500 characters), in English or Chinese: Chinese text is read by a Chinese voice.
        speaking_rate: How fast to speak (1 is normal).
        model: Which voice (text-to-speech checkpoint) to use; the voice for the text's language when empty.

    Returns:
        A 16-bit mono WAV file.
    """
    text = check_text(text, "text to speak", settings.MAX_SPEECH_CHARS)  # before the model loads
    pipe = get_model("text_to_speech", voice_for(text, model), progress).pipeline
    result = pipe(text, speaking_rate=speaking_rate)
    return str(save_audio(outputs.new_file("speech", ".wav"), result["audio"], result["sampling_rate"]))


def question_from_voice(audio: str | None, progress=gr.Progress()) -> str:
    """The Ask tab's voice input: an English transcript to use as the question."""
    if audio is None:  # the recording was cleared
        raise refusal(InputError("no_recording"))
    text, _result = transcribe(audio, language="en")
    if not text:
        raise refusal(InputError("no_words"))
    return text


def read_aloud_value(text: str | None, progress=gr.Progress()) -> gr.Audio:
    if not text or not text.strip():
        raise refusal(InputError("nothing_to_read"))
    return gr.Audio(value=speak(text), visible=True)


def voice_input(**kwargs) -> gr.Audio:
    """A microphone-or-upload input that hands the file to the pipeline untouched (it
    decodes, mixes down and resamples itself, see runtime/audio.py)."""
    return gr.Audio(sources=["microphone", "upload"], type="filepath", **kwargs)


def read_aloud(text: gr.Textbox, ctx: Context) -> gr.Audio:
    """A "Read aloud" button for ``text`` and the player it fills (hidden until then,
    and again when the text changes). Returns the player."""
    button = gr.Button(_("speech.read_aloud"), size="sm")
    player = gr.Audio(label=_("speech.player"), type="filepath", autoplay=True, visible=False, interactive=False)
    # A model's answer read aloud: a request, but no text the student typed.
    read = endpoint(read_aloud_value, ctx, text, typed=())
    button.click(read, text, player, api_visibility="private", concurrency_id="model")
    text.change(lambda: gr.Audio(value=None, visible=False), None, player, api_visibility="private", queue=False)
    return player


def ask_by_voice(
    voice: gr.Audio, question: gr.Textbox, answer_fn, inputs: list, answer: gr.Textbox, player: gr.Audio, ctx: Context
):
    """Wire a voice input: its transcript fills ``question``, then ``answer_fn(*inputs)``
    fills ``answer``, which is read aloud into ``player``. Returns the answering event."""
    private = dict(api_visibility="private", concurrency_id="model")
    heard = gr.on(
        [voice.stop_recording, voice.upload], endpoint(question_from_voice, ctx, voice), voice, question, **private
    )
    # The transcript is the student's question (typed by voice): logged with the answer's request.
    answered = heard.success(endpoint(answer_fn, ctx, inputs), inputs, answer, **private)
    answered.success(endpoint(read_aloud_value, ctx, answer, typed=()), answer, player, **private)
    return answered
