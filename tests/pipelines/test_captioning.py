"""Captioning pipeline on the tiny BLIP."""

import pytest


@pytest.fixture(scope="module")
def pipe(models):
    return models.get("caption").pipeline


def test_caption_is_a_string(pipe, cat, cat_path):
    assert isinstance(pipe(cat), str)
    assert pipe(cat) == pipe(cat_path)  # a path and the decoded image give the same caption


def test_greedy_and_beam_search_are_deterministic(pipe, cat):
    assert pipe(cat, num_beams=1) == pipe(cat, num_beams=1)
    assert pipe(cat, num_beams=3) == pipe(cat, num_beams=3)


def test_sampling_is_reproducible_with_a_seed(pipe, cat):
    first = pipe(cat, do_sample=True, seed=11, max_new_tokens=15)
    assert first == pipe(cat, do_sample=True, seed=11, max_new_tokens=15)
    others = {pipe(cat, do_sample=True, seed=s, max_new_tokens=15) for s in range(5)}
    assert len(others) > 1  # the seed changes the sample


def test_max_new_tokens_bounds_the_length(pipe, cat):
    short = pipe.processor.tokenizer(pipe(cat, max_new_tokens=3), add_special_tokens=False)["input_ids"]
    assert len(short) <= 3 + 3  # three new tokens; decoding may split a word-piece


def test_prompt_starts_the_caption(pipe, cat):
    assert pipe(cat, prompt="a photo of").startswith("a photo of")


@pytest.mark.parametrize(
    "kwargs",
    [dict(max_new_tokens=0), dict(num_beams=20), dict(temperature=0), dict(top_p=1.5), dict(max_new_tokens=2.5)],
)
def test_out_of_range_settings_are_refused(pipe, cat, kwargs):
    with pytest.raises(ValueError):
        pipe(cat, **kwargs)
