"""Speech recognition pipeline on the tiny Whisper: result structure, timestamps,
languages, long-form decoding and bad input."""

import numpy as np
import pytest

from runtime import settings
from tests.conftest import ROOT

AUDIO = ROOT / "assets" / "audio"
QUESTION = str(AUDIO / "what-animal.wav")


@pytest.fixture(scope="module")
def pipe(models):
    return models.get("speech_recognition").pipeline


@pytest.fixture(scope="module")
def heard(pipe):
    return pipe(QUESTION)


def check_result(result: dict, duration: float) -> None:
    assert set(result) == {"text", "language", "chunks"}
    assert isinstance(result["text"], str) and isinstance(result["language"], str)
    for chunk in result["chunks"]:
        start, end = chunk["timestamp"]
        assert 0 <= start <= end <= duration
        assert chunk["text"] and chunk["text"] == chunk["text"].strip()
        assert chunk["text"] in result["text"]  # the transcript is the segments in order
    starts = [chunk["timestamp"][0] for chunk in result["chunks"]]
    assert starts == sorted(starts)


def test_result_has_text_language_and_timed_chunks(pipe, heard):
    check_result(heard, duration=1.57)
    assert heard["text"]  # the tiny model always says something for this clip
    assert f"<|{heard['language']}|>" in pipe.model.generation_config.lang_to_id  # detected, a Whisper language


def test_transcription_is_deterministic_and_takes_arrays(pipe, heard):
    import soundfile as sf

    assert pipe(QUESTION) == heard
    data, rate = sf.read(QUESTION, dtype="int16")
    assert pipe((rate, data)) == heard  # what gr.Audio(type="numpy") hands over


def test_stereo_48k_input_is_accepted(pipe):
    import soundfile as sf
    import soxr

    data, rate = sf.read(QUESTION, dtype="float32")
    stereo = np.stack([soxr.resample(data, rate, 48_000)] * 2, axis=1)
    check_result(pipe((48_000, stereo)), duration=1.57)


def test_language_by_code_or_name_is_kept(pipe):
    assert pipe(QUESTION, language="de")["language"] == "de"
    assert pipe.check_inputs("English", "transcribe") == pipe.check_inputs(" EN ", "transcribe") == "en"
    assert pipe.check_inputs("auto", "transcribe") is pipe.check_inputs(None, "transcribe") is None


def test_translation_is_a_task(pipe):
    check_result(pipe(QUESTION, task="translate"), duration=1.57)


def test_clips_over_30_seconds_are_decoded_window_by_window(pipe):
    calls = []
    result = pipe(str(AUDIO / "multimodal-models.ogg"), callback=lambda done, total: calls.append((done, total)))
    duration = calls[0][1]
    assert duration == pytest.approx(36.4, abs=0.1)
    assert len(calls) >= 2 and calls[0][0] == 0  # at least two 30 s windows
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert all(0 < done <= duration for done, _ in calls[1:])
    check_result(result, duration)


def test_english_only_checkpoints_refuse_other_languages_and_translation(pipe, monkeypatch):
    monkeypatch.setattr(pipe.model.generation_config, "is_multilingual", False)
    assert pipe.check_inputs("auto", "transcribe") is None and pipe.check_inputs("en", "transcribe") is None
    with pytest.raises(ValueError, match="English-only"):
        pipe.check_inputs("de", "transcribe")
    with pytest.raises(ValueError, match="English-only.*translate"):
        pipe.check_inputs(None, "translate")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(language="klingon"), "`language`: must be one of .*, not 'klingon'"),
        (dict(task="summarize"), "`task` must be one of"),
        (dict(audio=None), "No audio"),
        (dict(audio=(16_000, np.zeros(16_000, np.float32))), "silent"),
        (dict(audio=(16_000, np.ones(61 * 16_000, np.float32) * 0.1)), "the limit is 60 s"),
    ],
)
def test_bad_input_is_refused_before_the_model_runs(pipe, kwargs, message):
    kwargs = {"audio": QUESTION, **kwargs}
    with pytest.raises(ValueError, match=message) as refused:
        pipe(**kwargs)
    assert refused.value.code  # said in the page's language (runtime/locales)


def test_a_language_that_is_not_text_is_refused_with_a_code(pipe):
    with pytest.raises(TypeError, match="`language` must be a language code such as 'en' or 'auto', not 5") as refused:
        pipe.check_inputs(5, "transcribe")
    assert refused.value.code == "language_type"


def test_speech_checkpoints_follow_profiles_and_overrides(monkeypatch):
    from runtime import registry

    assert registry.default_checkpoint("speech_recognition", "cpu").repo_id == "openai/whisper-base"
    assert registry.default_checkpoint("speech_recognition", "gpu").repo_id == "openai/whisper-large-v3-turbo"
    assert registry.default_checkpoint("text_to_speech", "gpu").repo_id == "facebook/mms-tts-eng"
    monkeypatch.setitem(settings.MODEL_OVERRIDES, "speech_recognition", "whisper-small")
    assert registry.default_checkpoint("speech_recognition", "cpu").repo_id == "openai/whisper-small"
    monkeypatch.setitem(settings.MODEL_OVERRIDES, "text_to_speech", "whisper-small")
    with pytest.raises(ValueError, match="is a speech_recognition checkpoint, not a text_to_speech one"):
        registry.default_checkpoint("text_to_speech", "cpu")


def test_auto_profile_offline_falls_back_to_the_tiny_whisper_and_says_so(monkeypatch):
    from pipelines.cache import ModelCache
    from runtime import registry

    monkeypatch.setattr(registry, "resolve_profile", lambda profile=None, cuda=None: "cpu")
    loaded = ModelCache("auto").get("speech_recognition")
    assert (loaded.requested.key, loaded.checkpoint.key) == ("whisper-base", "tiny-whisper")
    assert "openai/whisper-base" in loaded.notice and "hf download" in loaded.notice
    assert isinstance(loaded.pipeline(QUESTION, language="en")["text"], str)
