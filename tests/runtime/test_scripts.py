"""Which scripts a text is in, what each checkpoint reads, the notice for a text a model
can't read, and lists typed with Chinese punctuation."""

import pytest

from runtime import registry
from runtime.inputs import collect_notices, half_width, notify, parse_labels, split_items
from runtime.scripts import ScriptCheck, language_of, main_script, scripts_of, unreadable


@pytest.mark.parametrize(
    ("text", "scripts", "main", "language"),
    [
        ("一只猫", {"Han": 3}, "Han", "zh"),
        ("a cat", {"Latin": 4}, "Latin", "en"),
        ("我的iPhone很好", {"Han": 4, "Latin": 6}, "Han", "zh"),  # four characters and one word
        ("a photo of a 猫", {"Latin": 9, "Han": 1}, "Latin", "en"),
        ("ねこ 猫", {"Hiragana": 2, "Han": 1}, "Hiragana", "ja"),
        ("고양이", {"Hangul": 3}, "Hangul", "ko"),
        ("кошка", {"Cyrillic": 5}, "Cyrillic", "en"),
        ("123, !! 🐱", {}, None, "en"),  # digits, punctuation and emoji are in no script
    ],
)
def test_scripts_of_a_text(text, scripts, main, language):
    assert dict(scripts_of(text)) == scripts
    assert main_script(text) == main and language_of(text) == language


def test_what_a_model_cant_read():
    assert unreadable("一只猫", ("Latin",)) == ["Han"]
    assert unreadable("a cat, 3 times!", ("Latin",)) == []
    assert unreadable("一只猫", ()) == []  # undeclared: never checked
    assert unreadable("一只 cat", ("Han",)) == ["Latin"]


def test_every_checkpoint_that_reads_text_declares_its_scripts():
    for checkpoint in registry.CHECKPOINTS.values():
        if checkpoint.task in ("caption", "vqa", "text_to_image", "retrieval", "text_to_speech"):
            assert checkpoint.scripts, checkpoint.key
        tiny = registry.tiny_twin(checkpoint)
        assert tiny.scripts == checkpoint.scripts or checkpoint.family != tiny.family
    assert "Han" not in registry.CHECKPOINTS["clip-b32"].scripts
    assert {"Han", "Latin"} <= set(registry.CHECKPOINTS["siglip2-b16"].scripts)
    assert "Han" in registry.CHECKPOINTS["chinese-clip-b16"].scripts
    assert "Han" in registry.CHECKPOINTS["z-image-turbo"].scripts and "Han" in registry.CHECKPOINTS["kokoro-zh"].scripts


def test_readers_are_the_pickers_models_that_read_the_script():
    keys = [c.key for c in registry.readers("retrieval", {"Han"}, "cpu")]
    assert keys == ["siglip2-b16", "siglip2-so400m", "chinese-clip-b16", "chinese-clip-l14"]
    assert [c.key for c in registry.readers("retrieval", {"Han"}, "tiny")] == ["tiny-siglip2", "tiny-chinese-clip"]
    assert [c.key for c in registry.readers("text_to_image", {"Han"}, "tiny")] == ["tiny-z-image"]
    # Ask offers the chat models too: the default chat model reads a Chinese question first,
    # then the other Qwen models, and Gemma 3 (gated) last.
    keys = [c.key for c in registry.readers("vqa", {"Han"}, "cpu")]
    assert keys[0] == registry.DEFAULTS["cpu"]["chat"] and keys[-1] == "gemma3-4b"
    assert {"qwen3-vl-2b", "qwen3-vl-4b", "qwen3.5-2b"} <= set(keys) and not any("smolvlm" in k for k in keys)


def test_the_notice_names_who_reads_it_in_both_languages():
    check = ScriptCheck("CLIP ViT-B/32", ("Latin",), lambda missing: ["SigLIP 2 B/16"])
    with collect_notices() as notices:
        assert check.check("a cat", "search text") is True
        assert check.check("一只猫", "search text") is False
        assert check.check("两只猫", "search text") is False  # the same notice is given once
    assert len(notices) == 1
    assert "CLIP ViT-B/32" in notices[0] and "Chinese characters" in notices[0] and "SigLIP 2 B/16" in notices[0]
    assert not any("\u4e00" <= c <= "\u9fff" for c in notices[0].replace("一只猫", ""))  # its text: English only
    from ui.messages import translate  # the Chinese page says it in Chinese, naming the same model

    chinese = translate(notices[0], "zh-CN")
    assert "读不懂汉字" in chinese and "SigLIP 2 B/16" in chinese and "Chinese" not in chinese
    nobody = ScriptCheck("BLIP", ("Latin",))
    assert "No model offered here reads it" in nobody.message(["Han"], "question")
    assert ScriptCheck().check("一只猫", "text") is True  # nothing declared, nothing said


def test_notices_are_said_once():
    with collect_notices() as notices:
        notify("same")
        notify("same")
        notify("other")
    assert notices == ["same", "other"]


@pytest.mark.parametrize(
    ("typed", "labels"),
    [
        ("猫，狗，鸟", ["猫", "狗", "鸟"]),  # full-width commas
        ("猫、狗、鸟", ["猫", "狗", "鸟"]),  # the enumeration comma
        ("猫；狗;鸟", ["猫", "狗", "鸟"]),  # semicolons, full-width and ASCII
        ("猫\n狗\n鸟", ["猫", "狗", "鸟"]),  # one a line
        ("cat, dog，鸟", ["cat", "dog", "鸟"]),  # mixed
        ("３只猫，3只猫，两只狗", ["3只猫", "两只狗"]),  # full-width digits are digits: one label
        ("ｃａｔ、dog", ["cat", "dog"]),
        (["猫", "狗"], ["猫", "狗"]),
    ],
)
def test_labels_in_chinese_punctuation(typed, labels):
    assert parse_labels(typed) == labels


def test_a_single_chinese_label_is_refused_with_an_example():
    with pytest.raises(ValueError, match="猫，狗"):
        parse_labels("猫")


def test_half_width_keeps_chinese_punctuation():
    assert half_width("Ａ１，ｂ２。") == "A1，b2。"
    assert split_items("苹果， 香蕉 、苹果", "list") == ["苹果", "香蕉"]
