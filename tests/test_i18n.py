"""Both UI languages are complete."""

from ui.i18n import EN, ZH


def test_english_and_chinese_have_the_same_keys():
    assert EN.keys() == ZH.keys()


def test_no_string_is_left_empty():
    assert all(value.strip() for value in [*EN.values(), *ZH.values()])


def test_every_key_the_ui_uses_exists():
    import re
    from pathlib import Path

    used = set()
    for path in (Path(__file__).parent.parent / "ui").glob("*.py"):
        used |= set(re.findall(r"""\b_\(\s*["']([\w.]+)["']\s*\)""", path.read_text(encoding="utf-8")))
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']\s*,""", path.read_text(encoding="utf-8")))
    assert used and not used - EN.keys()


def test_both_languages_fill_in_the_same_placeholders():
    import re

    def fields(text):  # {name} placeholders; LaTeX braces ($x_{t}$) are not placeholders
        return set(re.findall(r"(?<![{_^\\])\{(\w+)\}(?!})", text))

    assert {key: fields(EN[key]) for key in EN} == {key: fields(ZH[key]) for key in EN}


def test_server_written_text_follows_the_locale():
    from ui.i18n import t

    assert t("fusion.early", "zh-CN") == t("fusion.early", "zh") == ZH["fusion.early"]
    assert t("fusion.early", "en") == t("fusion.early", None) == t("fusion.early", "fr") == EN["fusion.early"]
    fusion_names = ["early", "late", "hybrid", "split_instances", "split_combinations", "negatives_either",
                    "negatives_colour", "negatives_shape", "optimizer_adam", "optimizer_sgd", "series_train", "series_test"]  # fmt: skip
    assert all(f"fusion.{name}" in EN for name in fusion_names)  # keys the fusion tab builds from values
