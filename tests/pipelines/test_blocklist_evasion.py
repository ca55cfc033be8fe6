"""The safety blocklist against evasion (issue 23, item 8): look-alike letters, invisible
characters, joined words, other word forms, spacing and symbol tricks are caught, and
ordinary prompts (the evaluation probe set, words that contain a listed one) are not."""

import json

import pytest

from pipelines.safety import Blocklist, normalise
from runtime import settings
from tests.conftest import ROOT

EVASIONS = [
    "a nud\u0435 woman",  # Cyrillic е
    "p\u03bfrn",  # Greek ο
    "\u0455\u0435\u0445",  # Cyrillic ѕех
    "nu\u200bde",
    "nu\u00adde",
    "nu\u2060de",
    "nu\ufeffde",  # invisible characters
    "ｎｕｄｅ",
    "𝐧𝐮𝐝𝐞",  # full-width, mathematical bold
    "nakedwoman",
    "nakedness",
    "murdered",
    "beheads",
    "murderer",
    "breasts",
    "pornographic",
    "se xy",
    "sui cide",
    "su!c!de",
    "pr0n",
    "s€x",
    "n.u.d.e",
    "s e x",
]
ORDINARY = [
    "Essex",
    "Sussex",
    "Middlesex",
    "Scunthorpe",
    "cocktail",
    "therapist",
    "a bunch of grapes",
    "sextant",
    "unisex clothing",
    "the river snaked through the valley",
    "denuded hills",
    "the heroine of the story",
    "a scientific method",
    "methane bubbles",
    "an assassin bug",
    "cumulus clouds",
    "a sextet playing",
    "Nazareth",
    "a tortoise",
    "a pen on the desk",
    "Penistone",
    "arsenal",
    "Hancock",
    "a title",
    "shiitake mushrooms",
    "analysis",
    "a bass guitar",
    "a raccoon",
    "Pennsylvania",
    "a specialist",
    "an expert",
    "a cup of coffee",
    "a red fox in the snow",
    "a cat on a sofa",
    "a horse in a field",
    "a rocket launch",
    "old coins",
    "Dick Van Dyke",
    "a sussex spaniel",
    "a knickerbocker glory",
]


@pytest.fixture(scope="module")
def blocklist() -> Blocklist:
    return Blocklist.from_file(settings.SAFETY_BLOCKLIST)


@pytest.mark.parametrize("prompt", EVASIONS)
def test_evasions_are_caught(blocklist, prompt):
    assert blocklist.find(prompt) is not None, (prompt, normalise(prompt))


def probe_texts() -> list[str]:
    probes = json.loads((ROOT / "evaluation" / "data" / "probes_v1.json").read_text(encoding="utf-8"))
    texts = [reference for item in probes["captions"] for reference in item["references"]]
    texts += [item["question"] for item in probes["vqa"]] + [item["prompt"] for item in probes["text_to_image"]]
    return texts


def test_no_false_positive_on_ordinary_prompts(blocklist):
    texts = probe_texts() + ORDINARY
    assert len(texts) >= 340
    assert [(text, blocklist.find(text)) for text in texts if blocklist.find(text)] == []


def test_chinese_entries_still_match_anywhere(blocklist):
    assert blocklist.find("一张裸体的照片") == "裸体" and blocklist.find("一只猫") is None


def test_normalising_twice_changes_nothing():
    for text in [*EVASIONS, *ORDINARY, "0$ 2024 s3x!"]:
        assert normalise(normalise(text)) == normalise(text)
