"""Both UI languages are complete, and their files stay clean."""

import json
import re

import pytest

from tests.conftest import ROOT
from ui.i18n import EN, LOCALES_DIR, ZH, LocaleError, bilingual, both, load, t

FILES = sorted(LOCALES_DIR.glob("*/*.json"))


def test_english_and_chinese_have_the_same_namespaces_and_keys():
    def keys(locale):
        files = (LOCALES_DIR / locale).glob("*.json")
        return {path.name: json.loads(path.read_text(encoding="utf-8")).keys() for path in files}

    assert keys("en") == keys("zh-CN") and len(keys("en")) > 10
    assert EN.keys() == ZH.keys()


def test_no_string_is_left_empty():
    assert all(value.strip() for value in [*EN.values(), *ZH.values()])


@pytest.mark.parametrize("path", FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_file_is_utf8_json_as_written(path):
    text = path.read_bytes().decode("utf-8")  # strict: fails on anything not UTF-8
    data = json.loads(text)
    assert isinstance(data, dict) and all(isinstance(value, str) for value in data.values())
    assert text == json.dumps(data, ensure_ascii=False, indent=2) + "\n"  # readable, not \u escapes
    assert not re.search("Ã|Â|â\u0080|\ufffd", text), "mojibake: UTF-8 read as Latin-1 somewhere"


def test_every_key_the_code_uses_exists():
    literal_key = re.compile(r"""(?<![\w.])(?:_|t|both|bilingual)\(\s*["']([\w.]+)["']\s*[,)]""")
    used = set()
    for path in ROOT.rglob("*.py"):
        if not {"tests", ".venv"} & set(path.relative_to(ROOT).parts):
            used |= set(literal_key.findall(path.read_text(encoding="utf-8")))
    assert len(used) > 200 and not used - EN.keys()


def test_both_languages_fill_in_the_same_placeholders():
    def fields(text):  # {name} placeholders; LaTeX braces ($x_{t}$) are not placeholders
        return set(re.findall(r"(?<![{_^\\])\{(\w+)\}(?!})", text))

    assert {key: fields(EN[key]) for key in EN} == {key: fields(ZH[key]) for key in EN}


def test_server_written_text_follows_the_locale():
    assert t("fusion.early", "zh-CN") == t("fusion.early", "zh") == ZH["fusion.early"]
    assert t("fusion.early", "en") == t("fusion.early", None) == t("fusion.early", "fr") == EN["fusion.early"]
    fusion_names = [
        "early",
        "late",
        "hybrid",
        "split_instances",
        "split_combinations",
        "negatives_either",
        "negatives_colour",
        "negatives_shape",
        "optimizer_adam",
        "optimizer_sgd",
        "series_train",
        "series_test",
    ]
    assert all(f"fusion.{name}" in EN for name in fusion_names)  # keys the fusion tab builds from values


def test_both_and_bilingual_write_the_two_languages():
    assert (
        both("fusion.early")
        == f'<span class="i18n-en">{EN["fusion.early"]}</span><span class="i18n-zh">{ZH["fusion.early"]}</span>'
    )
    assert bilingual("fusion.early") == f"{EN['fusion.early']} · {ZH['fusion.early']}"


def write(folder, locale, namespace, text):
    (folder / locale).mkdir(parents=True, exist_ok=True)
    (folder / locale / f"{namespace}.json").write_text(text, encoding="utf-8")


def test_a_broken_table_names_its_file_and_key(tmp_path):
    folder = tmp_path / "locales"
    write(folder, "en", "caption", '{"tab": "Caption", "run": "Run"}')
    write(folder, "zh-CN", "caption", '{"tab": "描述"}')
    with pytest.raises(LocaleError, match=r"locales/zh-CN/caption\.json: lacks caption\.run"):
        load(folder)
    write(folder, "zh-CN", "caption", '{"tab": "描述", "run": "运行",}')
    with pytest.raises(LocaleError, match=r"locales/zh-CN/caption\.json: not a valid UTF-8 JSON"):
        load(folder)
    write(folder, "zh-CN", "caption", '{"tab": "描述", "run": ["运行"]}')
    with pytest.raises(LocaleError, match=r"locales/zh-CN/caption\.json: caption\.run must be a string"):
        load(folder)
    write(folder, "zh-CN", "caption", '{"tab": "描述", "run": "运行"}')
    assert load(folder)["zh-CN"] == {"caption.tab": "描述", "caption.run": "运行"}


def test_model_pickers_name_every_checkpoint_in_the_page_language():
    """A model picker lists a checkpoint by its display name in the page's language: one
    whose registry label holds an English word ("random", "gated", "base", "multilingual")
    has a Chinese name without it, which the browser shows on the Chinese page."""
    from runtime.registry import CHECKPOINTS
    from ui.components import picker_choice

    word = re.compile(r"(?<![\w./-])[a-z]{3,}(?![\w./-])")  # BLIP, SD-Turbo, 256M and large-v3 are names
    for checkpoint in CHECKPOINTS.values():
        name, value = picker_choice(checkpoint)
        assert value == checkpoint.key and name.endswith(f" · {checkpoint.size}")
        if word.search(checkpoint.label) or re.search(r"[\u4e00-\u9fff]", checkpoint.label):
            key = f"checkpoints.{checkpoint.key}"
            assert key in name, (checkpoint.key, name)  # translated in the browser (gr.I18n)
            assert not word.search(ZH[key]) and not re.search(r"[\u4e00-\u9fff]", EN[key]), key
