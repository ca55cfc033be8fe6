"""Decoding explorer and attention maps for captioning (BLIP) and VQA (BLIP, ViLT)."""

import numpy as np
import pytest
from PIL import Image

from explain.generation import explain_caption, explain_vqa, heatmaps, layer_maps


@pytest.fixture(scope="module")
def caption_pipe(models):
    return models.get("caption").pipeline


@pytest.fixture(scope="module")
def caption_explained(caption_pipe):
    from tests.conftest import IMAGES

    return explain_caption(caption_pipe, str(IMAGES / "cat.jpg"), max_new_tokens=12, num_beams=3, seed=21)


@pytest.fixture(scope="module", params=["tiny-blip-vqa", "tiny-vilt"])
def vqa_pipe(models, request):
    return models.get("vqa", request.param).pipeline


def check_steps(steps, chosen_is_argmax: bool):
    assert steps
    for step in steps:
        probabilities = [a["probability"] for a in step["alternatives"]]
        assert 0.0 <= step["probability"] <= 1.0
        assert all(0.0 <= p <= 1.0 for p in probabilities)
        assert probabilities == sorted(probabilities, reverse=True)  # best first
        assert len(step["alternatives"]) == 5
        if chosen_is_argmax:
            assert step["alternatives"][0]["token"] == step["token"]
            assert step["alternatives"][0]["probability"] == pytest.approx(step["probability"])
        else:  # the chosen token is never more probable than the best alternative
            assert step["probability"] <= probabilities[0] + 1e-9


def by_name(record):
    return {s["name"]: s for s in record["strategies"]}


def test_greedy_always_chooses_the_most_probable_token(caption_explained):
    strategies = by_name(caption_explained.record)
    check_steps(strategies["greedy"]["steps"], chosen_is_argmax=True)
    check_steps(strategies["beam"]["steps"], chosen_is_argmax=False)
    check_steps(strategies["sampling"]["steps"], chosen_is_argmax=False)
    assert caption_explained.record["steps"] == strategies["greedy"]["steps"]


def test_each_strategy_is_what_the_app_writes_with_those_settings(caption_pipe, caption_explained, cat_path):
    strategies = by_name(caption_explained.record)
    assert strategies["greedy"]["text"] == caption_pipe(cat_path, max_new_tokens=12, num_beams=1)
    assert strategies["beam"]["text"] == caption_pipe(cat_path, max_new_tokens=12, num_beams=3)
    sampled = caption_pipe(cat_path, max_new_tokens=12, num_beams=1, do_sample=True, seed=21)
    assert strategies["sampling"]["seed"] == 21 and strategies["sampling"]["text"] == sampled


def test_sampling_reports_the_distribution_it_drew_from(caption_explained):
    steps = by_name(caption_explained.record)["sampling"]["steps"]
    assert all(0.0 < s["sampling_probability"] <= 1.0 for s in steps)  # a drawn token had a chance


def test_a_random_seed_is_drawn_reported_and_replays(caption_pipe, cat):
    first = by_name(explain_caption(caption_pipe, cat, max_new_tokens=8, seed=-1).record)["sampling"]
    assert isinstance(first["seed"], int) and 0 <= first["seed"] < 2**32
    again = by_name(explain_caption(caption_pipe, cat, max_new_tokens=8, seed=first["seed"]).record)["sampling"]
    assert again["text"] == first["text"]


def test_the_sequence_probability_is_the_product_of_the_steps(caption_explained):
    for strategy in caption_explained.record["strategies"]:
        assert strategy["sequence_probability"] == pytest.approx(np.prod([s["probability"] for s in strategy["steps"]]))


def test_attention_rows_are_distributions_over_the_patches(caption_explained):
    maps = caption_explained.maps["greedy"]  # (layers, tokens, grid, grid)
    layers, tokens = maps.shape[:2]
    assert tokens == len(caption_explained.record["steps"])
    assert layers == caption_explained.record["attention"]["layers"] == caption_explained.num_layers
    totals = maps.sum(axis=(2, 3))  # the rest went to the ViT's [CLS] token
    assert (maps >= 0).all() and (totals <= 1 + 1e-5).all() and (totals > 0).all()


@pytest.mark.parametrize("size", [(240, 90), (90, 240)])
def test_heatmaps_have_the_image_aspect_ratio(caption_pipe, size):
    image = Image.new("RGB", size, (200, 40, 40))
    explanation = explain_caption(caption_pipe, image, max_new_tokens=4, num_beams=2, seed=1)
    for strategy in ("greedy", "beam", "sampling"):
        maps = heatmaps(explanation, strategy, layer=0)
        assert len(maps) == len(by_name(explanation.record)[strategy]["steps"])
        for heat, caption in maps:
            assert abs(heat.height - heat.width * size[1] / size[0]) <= 1
            assert caption.startswith("1. ") or caption[0].isdigit()


def test_the_layer_selector_picks_one_layer_or_the_average(caption_explained):
    maps = caption_explained.maps["greedy"]
    assert np.allclose(layer_maps(maps, 0), maps.mean(0))
    assert np.array_equal(layer_maps(maps, 1), maps[0])
    with pytest.raises(ValueError, match="layer"):
        layer_maps(maps, maps.shape[0] + 1)
    with pytest.raises(ValueError, match="Unknown attention view"):
        heatmaps(caption_explained, "nucleus")


def test_vqa_explains_the_answer_the_app_gives(vqa_pipe, cat_path):
    explanation = explain_vqa(vqa_pipe, cat_path, "what animal is this?")
    record = explanation.record
    check_steps(record["steps"], chosen_is_argmax=True)
    answers = [a["probability"] for a in record["answers"]]
    assert answers == sorted(answers, reverse=True) and all(0 <= p <= 1 for p in answers)
    app_answer = vqa_pipe(cat_path, "what animal is this?")
    if record["family"] == "vilt":
        assert record["answer"] == app_answer == record["answers"][0]["answer"]
    else:
        assert by_name(record)["beam"]["text"] == app_answer  # the app answers with 3 beams
        assert sum(answers) <= 1 + 1e-6  # different answers are disjoint events
    maps = heatmaps(explanation, record["strategy"], layer=0) + heatmaps(explanation, "question", layer=1)
    assert len(maps) == len(record["steps"]) + len(record["question_tokens"])
    assert all(abs(m.height - m.width * 300 / 451) <= 1 for m, _ in maps)  # cat.jpg is 451 x 300


def test_vqa_scores_the_candidates_it_is_given(vqa_pipe, cat):
    record = explain_vqa(vqa_pipe, cat, "what animal is this?", candidates="dog, cat, a purple unicorn").record
    assert {a["answer"] for a in record["answers"]} == {"dog", "cat", "a purple unicorn"}
    if record["family"] == "vilt":  # not one of ViLT's answers: it can't be scored
        assert next(a for a in record["answers"] if a["answer"] == "a purple unicorn")["probability"] is None
    else:
        assert all(0 < a["probability"] <= 1 for a in record["answers"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(question=""), "question is empty"),
        (dict(image=None), "No image"),
        (dict(candidates=",".join(f"a{i}" for i in range(30))), "at most 20"),
        (dict(top_k=0), "top_k"),
    ],
)
def test_vqa_bad_input_is_refused(vqa_pipe, cat, kwargs, message):
    with pytest.raises(ValueError, match=message):
        explain_vqa(vqa_pipe, **{"image": cat, "question": "what is it?", **kwargs})


def test_caption_bad_settings_are_refused(caption_pipe, cat):
    with pytest.raises(ValueError, match="num_beams"):
        explain_caption(caption_pipe, cat, num_beams=0)
    with pytest.raises(ValueError, match="seed"):
        explain_caption(caption_pipe, cat, seed=-7)
