"""Reading and writing audio: formats, channels, sample rates, and a message for every
clip that can't be used."""

import numpy as np
import pytest
import soundfile as sf

from runtime import audio, settings
from runtime.audio import load_audio, save_audio
from runtime.messages import catalogue
from tests.conftest import ROOT

AUDIO = ROOT / "assets" / "audio"


def tone(seconds=1.0, rate=16_000, hz=440.0, level=0.5) -> np.ndarray:
    """A sine with a smooth envelope, so that lossy codecs and resamplers keep it intact."""
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * hz * t) * np.hanning(len(t))).astype(np.float32)


def peak_hz(waveform: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(waveform))
    return float(np.fft.rfftfreq(len(waveform), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_round_trip_through_soundfile(tmp_path, suffix):
    original = tone()
    path = save_audio(tmp_path / f"clip{suffix}", original, 16_000)
    assert sf.info(str(path)).samplerate == 16_000 and sf.info(str(path)).channels == 1
    loaded = load_audio(path, 16_000)
    assert loaded.dtype == np.float32 and loaded.shape == original.shape
    if suffix == ".ogg":  # Vorbis is lossy: the same sound, not the same samples
        assert np.corrcoef(original, loaded)[0, 1] > 0.99
    else:  # 16-bit PCM: within one quantisation step
        assert np.abs(original - loaded).max() < 1 / 2**14
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # written beside, renamed into place


def test_saving_clips_to_full_scale_and_refuses_unknown_formats(tmp_path):
    loud = np.array([0.0, 2.0, -3.0, 0.5] * 4000, dtype=np.float32)
    loaded, _ = sf.read(str(save_audio(tmp_path / "loud.wav", loud, 16_000)))
    assert loaded.max() <= 1.0 and loaded.min() >= -1.0
    with pytest.raises(ValueError, match="can be saved as"):
        save_audio(tmp_path / "clip.mp3", loud, 16_000)


def test_stereo_is_mixed_down_to_mono(tmp_path):
    left = tone()
    sf.write(str(tmp_path / "both.wav"), np.stack([left, left], axis=1), 16_000, subtype="FLOAT")
    sf.write(str(tmp_path / "left.wav"), np.stack([left, np.zeros_like(left)], axis=1), 16_000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "both.wav", 16_000), left, atol=1e-6)
    np.testing.assert_allclose(load_audio(tmp_path / "left.wav", 16_000), left / 2, atol=1e-6)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_any_common_rate_is_resampled_keeping_duration_and_pitch(tmp_path, rate):
    sf.write(str(tmp_path / "clip.flac"), tone(2.0, rate), rate)
    loaded = load_audio(tmp_path / "clip.flac", 16_000)
    assert len(loaded) == pytest.approx(32_000, abs=2)
    assert peak_hz(loaded, 16_000) == pytest.approx(440, abs=1)


def test_arrays_as_gradio_gives_them(tmp_path):
    """(rate, array) pairs: int16 PCM as gr.Audio(type="numpy") hands it over, 8-bit
    unsigned with its silence at 128, float stereo."""
    clip = tone()
    pcm16 = (clip * 32767).astype(np.int16)
    np.testing.assert_allclose(load_audio((16_000, pcm16), 16_000), clip, atol=1e-4)
    pcm8 = np.round(clip * 127 + 128).astype(np.uint8)
    np.testing.assert_allclose(load_audio((16_000, pcm8), 16_000), clip, atol=1e-2)
    stereo = np.stack([tone(rate=48_000)] * 2, axis=1)
    assert len(load_audio((48_000, stereo), 16_000)) == 16_000


def test_the_shipped_clips_load():
    question = load_audio(AUDIO / "what-animal.wav", 16_000)
    assert 1.0 < len(question) / 16_000 < 3.0
    long = load_audio(AUDIO / "multimodal-models.ogg", 16_000)
    assert 30.0 < len(long) / 16_000 < settings.MAX_AUDIO_SECONDS  # long enough for long-form decoding


def _write(path, data, rate, **kwargs):
    sf.write(str(path), data, rate, **kwargs)
    return path


def _put(path, content: bytes):
    path.write_bytes(content)
    return path


BAD_FILES = {
    "missing": (lambda d: d / "nothing.wav", "does not exist"),
    "zero bytes": (lambda d: _put(d / "empty.wav", b""), r"empty \(0 bytes\)"),
    "no samples": (lambda d: _write(d / "none.wav", np.zeros(0, np.float32), 16_000), r"empty \(0 samples\)"),
    "corrupt": (lambda d: _put(d / "bad.wav", b"RIFF\x00\x01garbage" * 50), "damaged"),
    "text as flac": (lambda d: _put(d / "notes.flac", b"not audio at all"), "damaged"),
    "m4a": (lambda d: _put(d / "voice.m4a", b"\x00\x00\x00\x20ftypM4A " * 40), "format that can't be read"),
    "silent": (lambda d: _write(d / "silent.wav", np.zeros(16_000, np.float32), 16_000), "silent"),
    "muted mic": (lambda d: _write(d / "hiss.wav", tone(level=10 ** (-70 / 20)), 16_000, subtype="FLOAT"), "silent"),
    "too short": (lambda d: _write(d / "click.wav", tone(0.02), 16_000), "ms long"),
    "too long": (lambda d: _write(d / "long.wav", tone(61, 8_000), 8_000), "the limit is 60 s"),
    "4 kHz": (lambda d: _write(d / "low.wav", tone(1, 4_000, 400), 4_000), "sample rate of 4,000 Hz"),
    "384 kHz": (lambda d: _write(d / "high.wav", tone(1, 384_000), 384_000), "sample rate of 384,000 Hz"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_every_unusable_file_gets_its_message(tmp_path, case):
    make, message = BAD_FILES[case]
    with pytest.raises(ValueError, match=message):
        load_audio(make(tmp_path), 16_000, max_seconds=60)


def test_the_length_limit_is_a_setting(monkeypatch):
    monkeypatch.setattr(settings, "MAX_AUDIO_SECONDS", 1.5)
    with pytest.raises(ValueError, match="2.0 s long; the limit is 1.5 s"):
        load_audio((16_000, tone(2.0)), 16_000)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (None, ValueError, "No audio"),
        (42, TypeError, "file path or a"),
        ((16_000, np.zeros((10, 2, 2))), ValueError, "shape"),
        ((16_000, np.full(16_000, np.nan, np.float32)), ValueError, "NaN"),
        ((16_000.5, tone()), TypeError, "whole number"),
        ((16_000, np.array(["a", "b"])), TypeError, "hold numbers"),
    ],
)
def test_bad_arrays_are_refused(value, error, message):
    with pytest.raises(error, match=message) as refused:
        load_audio(value, 16_000)
    assert refused.value.code in catalogue("zh-CN")  # said in Chinese on the Chinese page


def test_the_silence_threshold_is_just_above_a_quiet_voice():
    quiet_voice = tone(level=10 ** (-40 / 20))  # a soft voice far from the microphone
    assert len(load_audio((16_000, quiet_voice), 16_000)) == 16_000
    assert audio.SILENCE_DBFS < -40
