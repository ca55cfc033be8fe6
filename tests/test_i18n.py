"""Both UI languages are complete."""

from ui.i18n import EN, ZH


def test_english_and_chinese_have_the_same_keys():
    assert EN.keys() == ZH.keys()


def test_no_string_is_left_empty():
    assert all(value.strip() for value in [*EN.values(), *ZH.values()])
