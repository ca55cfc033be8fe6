"""Each metric on cases checked by hand."""

import numpy as np
import pytest

from evaluation.metrics import (
    bleu4,
    cider,
    clip_scores,
    normalize_answer,
    retrieval_scores,
    tokenize_caption,
    vqa_accuracy,
)


@pytest.mark.parametrize(
    ("answer", "normalised"),
    [
        ("Two.", "2"),
        ("2", "2"),
        ("  three ", "3"),
        ("None", "0"),
        ("Yes", "yes"),
        ("yes.", "yes"),
        ("The Cat", "cat"),
        ("a red one", "red 1"),
        ("yes, it is", "yes it is"),
        ("1,000", "1000"),
        ("2.5", "2.5"),
        ("dont", "don't"),
        ("left\n", "left"),
    ],
)
def test_vqa_answer_normalisation(answer, normalised):
    assert normalize_answer(answer) == normalised


def test_vqa_accuracy():
    assert vqa_accuracy("Two.", ["2"]) == 1.0
    assert vqa_accuracy("two", ["2"]) == 1.0
    assert vqa_accuracy("A cat", ["cat", "kitten"]) == 1.0
    assert vqa_accuracy("3", ["2"]) == 0.0
    assert vqa_accuracy("red circle", ["red"]) == 0.0  # exact match after normalisation, not containment
    assert vqa_accuracy("", ["yes"]) == 0.0


def test_caption_tokenisation_is_ptb_like_without_punctuation():
    assert tokenize_caption("A man (in a coat) doesn't look, at the camera.") == (
        "a man in a coat does n't look at the camera"
    )


REFERENCES = {
    "a": ["a red circle on a white background", "a picture of a red circle"],
    "b": ["three blue squares on a white background", "a drawing of three blue squares"],
    "c": ["the word taxi written in black letters", "black text that says taxi"],
}


def test_bleu_is_one_for_a_caption_equal_to_a_reference_and_lower_otherwise():
    perfect = {key: refs[0] for key, refs in REFERENCES.items()}
    corpus, per_item = bleu4(REFERENCES, perfect)
    assert corpus == pytest.approx(1.0, abs=1e-6) and all(v == pytest.approx(1.0, abs=1e-6) for v in per_item.values())
    worse, _ = bleu4(REFERENCES, {**perfect, "b": "two green stars near a tree"})
    assert worse < corpus
    assert bleu4(REFERENCES, dict.fromkeys(REFERENCES, ""))[0] == 0.0


def test_cider_is_ten_for_a_caption_equal_to_its_only_reference_and_lower_otherwise():
    # CIDEr-D peaks at 10 when the candidate matches every reference.
    single = {key: refs[:1] for key, refs in REFERENCES.items()}
    corpus, per_item = cider(single, {key: refs[0] for key, refs in single.items()})
    assert corpus == pytest.approx(10.0) and all(v == pytest.approx(10.0) for v in per_item.values())
    partial, _ = cider(single, {"a": "a red circle", "b": single["b"][0], "c": "taxi"})
    assert 0 < partial < corpus
    assert cider(single, {"a": "x y z w", "b": "x y z w", "c": "x y z w"})[0] == 0.0


def test_caption_metrics_need_a_prediction_for_every_item():
    with pytest.raises(ValueError, match="same items"):
        bleu4(REFERENCES, {"a": "a red circle"})


def test_retrieval_recall_and_mean_rank_by_hand():
    # Three queries over four candidates; the first right answers are at ranks 1, 1 and 2.
    similarity = np.array([[0.9, 0.1, 0.2, 0.3], [0.5, 0.4, 0.3, 0.6], [0.2, 0.8, 0.1, 0.7]])
    relevant = np.array([[1, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=bool)
    scores = retrieval_scores(similarity, relevant, ks=(1, 2))
    assert scores["R@1"] == pytest.approx(2 / 3)
    assert scores["R@2"] == pytest.approx(1.0)
    assert scores["ranks"] == [1, 1, 2]
    assert scores["mean rank"] == pytest.approx(4 / 3)


def test_retrieval_with_the_right_answer_first_scores_one():
    identity = np.eye(5)
    scores = retrieval_scores(identity, identity.astype(bool))
    assert scores["R@1"] == scores["R@5"] == scores["R@10"] == 1.0 and scores["mean rank"] == 1.0
    reversed_ = retrieval_scores(-identity, identity.astype(bool))
    assert reversed_["R@1"] == 0.0 and reversed_["mean rank"] == 5.0


def test_retrieval_refuses_a_query_without_a_right_answer():
    with pytest.raises(ValueError, match="at least one relevant"):
        retrieval_scores(np.ones((2, 2)), np.array([[True, False], [False, False]]))


def test_clipscore_is_the_apps_clip_cosine_times_100(models, cat):
    pipe = models.get("retrieval").pipeline
    texts = ["a photo of a cat", "a red square", "text"]
    cosines = pipe.embed_texts(texts) @ pipe.embed_images([cat])[0]
    scores = clip_scores(pipe, [cat] * 3, texts)
    assert scores == pytest.approx([max(100 * float(c), 0.0) for c in cosines], abs=1e-3)
    assert all(0.0 <= s <= 100.0 for s in scores)


def test_clipscore_needs_one_text_per_image(models, cat):
    with pytest.raises(ValueError, match="one text per image"):
        clip_scores(models.get("retrieval").pipeline, [cat], ["a", "b"])
