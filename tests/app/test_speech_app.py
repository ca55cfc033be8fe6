"""Speech through the running app: /transcribe and /speak called with gradio_client,
each bad clip or text answered with its message while the app keeps serving; and the
speech handlers behind the Ask tab's voice input and the read-aloud buttons."""

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.conftest import ROOT
from tests.runtime.test_audio import BAD_FILES

AUDIO = ROOT / "assets" / "audio"


def test_speech_endpoints_and_their_required_parameters(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name, required, optional in [
        ("/transcribe", ["audio"], ["language", "task", "model"]),
        ("/speak", ["text"], ["speaking_rate", "model"]),
    ]:
        params = api[name]["parameters"]
        assert [p["parameter_name"] for p in params] == required + optional
        assert [p["parameter_name"] for p in params if not p["parameter_has_default"]] == required
    assert len(api["/transcribe"]["returns"]) == 1  # the text only; the timestamps stay in the UI


def test_transcribe_returns_the_text(client):
    text = client.predict(audio=handle_file(str(AUDIO / "what-animal.wav")), api_name="/transcribe")
    assert isinstance(text, str) and text
    assert text == client.predict(
        audio=handle_file(str(AUDIO / "what-animal.wav")),
        language="en",
        task="transcribe",
        model="tiny-whisper",
        api_name="/transcribe",
    )


@pytest.mark.parametrize(("name", "rate", "channels"), [("stereo-48k.flac", 48_000, 2), ("phone-8k.ogg", 8_000, 1)])
def test_transcribe_accepts_other_formats_rates_and_channels(client, tmp_path, name, rate, channels):
    speech, source_rate = sf.read(str(AUDIO / "what-animal.wav"), dtype="float32")
    import soxr

    speech = soxr.resample(speech, source_rate, rate)
    sf.write(str(tmp_path / name), np.stack([speech] * channels, axis=1), rate)
    assert isinstance(client.predict(audio=handle_file(str(tmp_path / name)), api_name="/transcribe"), str)


def test_speak_returns_audio_at_the_model_rate(client):
    path = client.predict(text="There are 2 cats on the sofa.", api_name="/speak")
    audio, rate = sf.read(path)
    info = sf.info(path)
    assert info.format == "WAV" and info.channels == 1
    assert rate == 16_000  # the tiny VITS's rate, as MMS-TTS
    assert len(audio) / rate > 0.1
    assert np.abs(audio).max() > 0


@pytest.mark.parametrize("case", ["corrupt", "m4a", "zero bytes", "silent", "too long", "4 kHz"])
def test_bad_clips_get_their_message_and_the_app_keeps_serving(client, tmp_path, case):
    make, message = BAD_FILES[case]
    with pytest.raises(AppError, match=message):
        client.predict(audio=handle_file(str(make(tmp_path))), api_name="/transcribe")
    assert client.predict(text="still here", api_name="/speak")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (dict(audio=None, api_name="/transcribe"), "No audio"),
        (dict(language="xx", api_name="/transcribe"), "`language`: must be one of .*, not 'xx'"),
        (dict(text="", api_name="/speak"), "empty"),
        (dict(text="word " * 200, api_name="/speak"), "the limit is 500"),
        (dict(text="привет", api_name="/speak"), "no letters"),  # no voice here reads Cyrillic (Chinese: Kokoro)
        # The input guard (ui/server/security.py) checks slider ranges and picker choices before the handler runs.
        (
            dict(text="hello", speaking_rate=9, api_name="/speak"),
            "`speaking_rate`: must be at least 0.5 and at most 2, not 9",
        ),
        (
            dict(text="hello", model="tiny-blip", api_name="/speak"),
            r"`model`: must be one of \['tiny-vits', 'tiny-kokoro'\], not 'tiny-blip'",
        ),
    ],
)
def test_bad_requests_get_their_message(client, request_, message):
    if "language" in request_:
        request_["audio"] = handle_file(str(AUDIO / "what-animal.wav"))
    with pytest.raises(AppError, match=message):
        client.predict(**request_)


# --- The handlers behind the Ask tab's voice input and the read-aloud buttons --------


def test_a_spoken_question_becomes_text(models):
    from ui.speech import question_from_voice

    question = question_from_voice(str(AUDIO / "what-animal.wav"))
    assert question and question == question.strip()
    with pytest.raises(gr.Error, match="No recording"):
        question_from_voice(None)


def test_read_aloud_fills_and_shows_the_player(models):
    from ui.speech import read_aloud_value

    update = read_aloud_value("a cat on a table")
    assert update.visible is True and sf.info(update.value["path"]).duration > 0
    with pytest.raises(gr.Error, match="nothing to read aloud"):
        read_aloud_value("  ")


def test_the_listen_tab_shows_timestamps_one_segment_a_line():
    from ui.tabs.listen import show_result

    result = {
        "text": "Hello there. Bye.",
        "language": "en",
        "chunks": [{"text": "Hello there.", "timestamp": (0.0, 1.5)}, {"text": "Bye.", "timestamp": (61.25, 62.0)}],
    }
    lines, details = show_result(result)
    assert lines == "0:00.00 → 0:01.50  Hello there.\n1:01.25 → 1:02.00  Bye."
    assert "English" in details and "2 segment" in details
    assert show_result(None) == ("", "")
