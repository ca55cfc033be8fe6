"""The Fusion lab's data on the tiny models, shared by the lab tests: the CLIP features of
the pictures and captions, and the spoken captions' Whisper features (made once per
test session: reading 36 takes aloud and encoding them takes a while)."""

import pytest

from labs.fusion import FusionLab
from runtime import settings


@pytest.fixture(scope="session")
def clip(models):
    return models.get("retrieval", "tiny-clip").pipeline


@pytest.fixture(scope="session")
def audio_lab(models, clip):
    lab = FusionLab(settings.DATA_DIR / "fusion")  # the cache the app in this process uses too
    lab.features(clip)
    tts, asr = models.get("text_to_speech").pipeline, models.get("speech_recognition").pipeline
    lab.audio_features(tts, asr, ("tiny-vits", "tiny-whisper"))
    return lab


@pytest.fixture(scope="session")
def audio(audio_lab, models):
    tts, asr = models.get("text_to_speech").pipeline, models.get("speech_recognition").pipeline
    return audio_lab.audio_features(tts, asr, ("tiny-vits", "tiny-whisper"))
