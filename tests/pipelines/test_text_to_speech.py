"""Text-to-speech pipeline on the tiny VITS: the waveform, its rate, the seed, the
speaking rate, spelled-out numbers and bad input."""

import numpy as np
import pytest

from runtime import settings


@pytest.fixture(scope="module")
def pipe(models):
    return models.get("text_to_speech").pipeline


def test_speech_is_a_mono_float_waveform_at_the_model_rate(pipe):
    result = pipe("What animal is this?")
    assert set(result) == {"audio", "sampling_rate"}
    audio = result["audio"]
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0
    assert result["sampling_rate"] == pipe.model.config.sampling_rate == 16_000
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0


def test_the_seed_fixes_the_voice(pipe):
    first = pipe("a cat on a table", seed=3)["audio"]
    np.testing.assert_array_equal(first, pipe("a cat on a table", seed=3)["audio"])
    assert not np.array_equal(first, pipe("a cat on a table", seed=4)["audio"])


def test_a_faster_rate_gives_shorter_speech(pipe):
    slow = pipe("a cat sitting on a wooden table", speaking_rate=0.5)["audio"]
    fast = pipe("a cat sitting on a wooden table", speaking_rate=2.0)["audio"]
    assert len(fast) < len(slow)


def test_numbers_are_spelled_out(pipe):
    assert pipe.spell_numbers("There are 3 cats") == "There are three cats"
    assert (
        pipe.spell_numbers("1,250 stars, 2.5 each") == "one thousand, two hundred and fifty stars, two point five each"
    )
    assert len(pipe("42")["audio"]) > 0  # a VQA answer that is only a number can still be read aloud


@pytest.mark.parametrize(
    ("text", "kwargs", "error", "message"),
    [
        ("", {}, ValueError, "empty"),
        ("   \n ", {}, ValueError, "empty"),
        ("a" * (settings.MAX_SPEECH_CHARS + 1), {}, ValueError, "the limit is"),
        ("你好，世界", {}, ValueError, "no letters this voice can pronounce"),
        ("?!...", {}, ValueError, "no letters"),
        ("hello", dict(speaking_rate=0), ValueError, "speaking_rate"),
        ("hello", dict(speaking_rate="fast"), TypeError, "speaking_rate"),
        (42, {}, TypeError, "must be a string"),
    ],
)
def test_bad_input_is_refused(pipe, text, kwargs, error, message):
    with pytest.raises(error, match=message):
        pipe(text, **kwargs)
