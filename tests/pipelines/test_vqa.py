"""VQA pipeline with both families: generative BLIP and classifying ViLT."""

import pytest


@pytest.fixture(scope="module", params=["tiny-blip-vqa", "tiny-vilt"])
def pipe(models, request):
    return models.get("vqa", request.param).pipeline


def test_answer_is_a_string_and_deterministic(pipe, cat):
    answer = pipe(cat, "What animal is this?")
    assert isinstance(answer, str)
    assert answer == pipe(cat, "What animal is this?")


def test_vilt_answers_from_its_answer_vocabulary(models, cat):
    pipe = models.get("vqa", "tiny-vilt").pipeline
    assert pipe(cat, "what colour is it?") in set(pipe.model.config.id2label.values())


def test_long_questions_are_truncated_to_the_text_model(pipe, cat):
    assert isinstance(pipe(cat, "is it " * 80 + "red?"), str)


@pytest.mark.parametrize("question", ["", "   ", None, "x" * 501])
def test_bad_questions_are_refused(pipe, cat, question):
    with pytest.raises(ValueError):
        pipe(cat, question)


def test_missing_image_is_refused(pipe):
    with pytest.raises(ValueError, match="No image"):
        pipe(None, "what is it?")
