"""The probe set's Chinese items (v2): made by the generator from v1 and the Chinese texts,
covering every ability, with Chinese answers normalised for numerals and 是/否."""

import json
import random

import pytest

from evaluation import metrics
from evaluation.chinese import describe_zh, normalize_answer_zh, questions_zh
from evaluation.probes import ABILITIES, LATEST, build_probes, language, load_probes, photos_of, probe_path
from labs.scenes import generate_scenes


def test_v2_is_v1_plus_the_chinese_items_and_v1_still_loads():
    v1, v2 = load_probes(1), load_probes(2)
    assert LATEST == 2 and v2.languages == ["en", "zh"] and v1.languages == ["en"]
    assert build_probes(v2.seed, photos_of(v1), 2).to_dict() == v2.to_dict()
    on_disk = json.loads(probe_path(2).read_text(encoding="utf-8"))
    assert on_disk == v2.to_dict() and "\\u" not in probe_path(2).read_text(encoding="utf-8")
    english = [{k: v for k, v in q.items() if k != "language"} for q in v2.vqa if language(q) == "en"]
    assert english == v1.vqa and v2.images == v1.images


def test_the_chinese_items_cover_every_ability_and_every_image():
    probes = load_probes(2)
    chinese = [q for q in probes.vqa if language(q) == "zh"]
    assert {q["ability"] for q in chinese} == set(ABILITIES)
    assert all(any("\u4e00" <= c <= "\u9fff" for c in q["question"]) for q in chinese)
    captions = [c for c in probes.captions if language(c) == "zh"]
    assert {c["image"] for c in captions} == set(probes.images) and all(len(c["references"]) >= 3 for c in captions)
    images, texts = probes.retrieval
    assert len(images) == len(probes.images) and len({t["text"] for t in texts}) == len(texts)
    assert {t["language"] for t in texts} == {"en", "zh"}


def test_chinese_questions_say_the_scenes_truth():
    scene = next(s for s in generate_scenes(seed=0) if s.kind == "count" and len(s.shapes) == 3)
    qa = {q["ability"]: q for q in questions_zh(scene, random.Random(0)) if q["ability"] != "yes/no"}
    assert qa["count"]["answers"] == ["3"] and qa["count"]["language"] == "zh"
    assert all(caption.count("三个") == 1 for caption in describe_zh(scene))


@pytest.mark.parametrize(
    ("answer", "normalised"),
    [
        ("是的。", "是"),
        ("对", "是"),
        ("有", "是"),
        ("Yes", "是"),
        ("不是", "否"),
        ("没有", "否"),
        ("No.", "否"),
        ("三个", "3"),
        ("3只", "3"),
        ("３", "3"),
        ("两", "2"),
        ("十二颗", "12"),
        ("three", "3"),
        ("在左边的", "左边"),
        ("红色的", "红色"),
        ("圆形！", "圆形"),
        ("猫", "猫"),
    ],
)
def test_chinese_answers_are_normalised(answer, normalised):
    assert normalize_answer_zh(answer) == normalised


def test_vqa_accuracy_in_chinese():
    assert metrics.vqa_accuracy("三只", ["3"], "zh") == 1.0
    assert metrics.vqa_accuracy("是的", ["是"], "zh") == 1.0
    assert metrics.vqa_accuracy("红", ["红色", "红"], "zh") == 1.0
    assert metrics.vqa_accuracy("蓝色", ["红色", "红"], "zh") == 0.0
    assert metrics.vqa_accuracy("yes", ["是"]) == 0.0  # English normalisation does not know 是


def test_chinese_captions_are_scored_by_character():
    assert metrics.tokenize_caption("白色背景上的三个红色圆形。") == "白 色 背 景 上 的 三 个 红 色 圆 形"
    assert metrics.tokenize_caption("单词stop") == "单 词 stop"
    bleu, _ = metrics.bleu4({"a": ["白色背景上的三个红色圆形"]}, {"a": "白色背景上的三个红色圆形"})
    assert bleu == pytest.approx(1.0, abs=1e-6)
