"""Speech in Chinese: the Kokoro voice (a tiny build of its real classes through the same
loading code as hexgrad/Kokoro-82M), numbers read as Chinese numerals, the voice picked
by the text's script, and Whisper on a real Chinese clip made offline with espeak-ng."""

import numpy as np
import pytest
import soundfile

from pipelines.text_to_speech import KokoroPipeline, TextToSpeechPipeline, chinese_numbers
from runtime import registry
from runtime.hub import is_cached
from runtime.inputs import collect_notices
from tests.conftest import ROOT

CHINESE_CLIP = ROOT / "assets" / "audio" / "zh-what-animal.wav"  # "这是什么动物？", espeak-ng's cmn voice


@pytest.fixture(scope="module")
def voice(models):
    return models.get("text_to_speech", "tiny-kokoro").pipeline


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("图片里有3枚火箭和12颗星星。", "图片里有三枚火箭和十二颗星星。"),
        ("价格是12.5元", "价格是十二点五元"),
        ("涨了5%", "涨了百分之五"),
        ("第１名", "第一名"),  # full-width digits too
        ("1000000人", "一百万人"),
        ("没有数字", "没有数字"),
    ],
)
def test_numbers_in_chinese_text_become_chinese_numerals(text, spoken):
    assert chinese_numbers(text) == spoken


def test_the_tiny_voice_is_kokoro_loaded_like_the_real_one(voice):
    from kokoro import KModel

    assert isinstance(voice, KokoroPipeline) and isinstance(voice.model, KModel)
    assert voice.voice_pack.shape == (510, 1, 256) and voice.sampling_rate == 24_000
    assert TextToSpeechPipeline.from_pretrained.__func__ is not None  # one entry point picks the class
    # Chinese reaches the model as Mandarin phonemes with tones, the numbers as words.
    phonemes = voice.phonemes("我有3只猫。你好！")
    assert len(phonemes) == 2 and all(p and all(c in voice.model.vocab for c in p) for p in phonemes)
    assert any(tone in "".join(phonemes) for tone in "→↗↓↘")
    assert voice.phonemes("我有3只猫") == voice.phonemes("我有三只猫")


def test_the_voice_reads_chinese_the_same_way_for_the_same_seed(voice):
    first = voice("一只猫坐在木桌上。", seed=1)
    assert first["sampling_rate"] == 24_000 and first["audio"].dtype == np.float32 and first["audio"].ndim == 1
    assert len(first["audio"]) > 2400 and np.isfinite(first["audio"]).all() and np.abs(first["audio"]).max() <= 1.0
    assert np.array_equal(first["audio"], voice("一只猫坐在木桌上。", seed=1)["audio"])


def test_text_without_chinese_is_refused_with_a_message(voice):
    with pytest.raises(ValueError, match="nothing this Chinese voice can pronounce"):
        voice("!!! ???")


def test_the_app_picks_the_voice_by_the_script_of_the_text(models):
    from ui.speech import voice_for

    with collect_notices() as notices:
        assert voice_for("我有3只猫", None) == "tiny-kokoro"  # the picker's default is the English voice
        assert voice_for("a cat", None) == "tiny-vits"
        assert voice_for("我的iPhone很好", "tiny-kokoro") == "tiny-kokoro"  # mostly Chinese
        assert voice_for("a cat", "tiny-kokoro") == "tiny-vits"
    assert len(notices) == 2 and "Tiny Kokoro (random)" in notices[0]
    from ui.messages import translate  # coded: the Chinese page reads it in Chinese

    assert notices[0].code == "voice_switched" and "朗读" in translate(notices[0], "zh-CN")
    assert [c.key for c in registry.readers("text_to_speech", {"Han"}, "cpu")] == ["kokoro-zh"]


def test_whisper_hears_the_chinese_clip(models):
    pipe = models.get("speech_recognition").pipeline
    audio, rate = soundfile.read(CHINESE_CLIP)
    assert rate == 16_000 and 2.0 < len(audio) / rate < 3.5
    detected = pipe(str(CHINESE_CLIP))  # language detection: the tiny model's guess is random, but one of Whisper's
    assert f"<|{detected['language']}|>" in pipe.model.generation_config.lang_to_id
    forced = pipe(str(CHINESE_CLIP), language="zh")
    assert forced["language"] == "zh" and isinstance(forced["text"], str)


@pytest.mark.skipif(
    not is_cached(registry.CHECKPOINTS["whisper-base"]), reason="needs openai/whisper-base in the HF cache"
)
def test_real_whisper_detects_and_transcribes_chinese():
    from pipelines.speech_recognition import SpeechRecognitionPipeline

    pipe = SpeechRecognitionPipeline.from_pretrained("openai/whisper-base", local_files_only=True)
    heard = pipe(str(CHINESE_CLIP))
    assert heard["language"] == "zh" and any("\u4e00" <= c <= "\u9fff" for c in heard["text"])
