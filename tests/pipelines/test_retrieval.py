"""Retrieval pipeline and gallery on the tiny CLIP."""

import numpy as np
import pytest

from search.classify import classify_collection


@pytest.fixture(scope="module")
def pipe(models):
    return models.get("retrieval").pipeline


def test_embeddings_are_unit_vectors_of_one_size(pipe, cat):
    images = pipe.embed_images([cat, cat.rotate(90)])
    texts = pipe.embed_texts(["a cat", "a dog", "a rocket"])
    assert images.shape[0] == 2 and texts.shape[0] == 3 and images.shape[1] == texts.shape[1]
    assert images.dtype == np.float32
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)


def test_batching_does_not_change_embeddings(pipe, cat):
    many = [cat, cat.rotate(45), cat.rotate(90)]
    batched = pipe.embed_images(many, batch_size=3)
    alone = np.concatenate([pipe.embed_images([image]) for image in many])
    assert np.allclose(batched, alone, atol=1e-5)


def test_zero_shot_probabilities_sum_to_one(pipe, cat):
    probs = pipe.classify(cat, "cat, dog, rocket, coffee")
    assert list(probs) == sorted(probs, key=probs.get, reverse=True)  # best first
    assert set(probs) == {"cat", "dog", "rocket", "coffee"}
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0 <= p <= 1 for p in probs.values())


def test_a_query_by_image_and_text_lies_between_them(pipe, cat):
    image = pipe.embed_query(image=cat)
    text = pipe.embed_query(text="at night")
    both = pipe.embed_query(text="at night", image=cat, text_weight=0.5)
    assert np.allclose(np.linalg.norm(both), 1, atol=1e-5)
    assert both @ image > text @ image and both @ text > image @ text  # closer to each than they are to each other
    assert np.allclose(pipe.embed_query(text="at night", image=cat, text_weight=0.0), image, atol=1e-5)
    assert np.allclose(pipe.embed_query(text="at night", image=cat, text_weight=1.0), text, atol=1e-5)
    assert np.allclose(pipe.embed_query(text="   ", image=cat), image, atol=1e-5)  # an empty text is no text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "Nothing to search with"), ({"text": "a", "image": "cat", "text_weight": 2}, "text_weight")],
)
def test_a_query_needs_something_to_search_with(pipe, cat, kwargs, message):
    kwargs = {k: (cat if v == "cat" else v) for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=message):
        pipe.embed_query(**kwargs)


def test_the_fingerprint_names_the_embedding_space(pipe):
    assert pipe.fingerprint == pipe.fingerprint and len(pipe.fingerprint) == 16
    assert pipe.dim == pipe.embed_texts(["a"]).shape[1]


def test_classifying_a_collection_counts_every_image_once(pipe, tmp_path):
    from search.index import ImageIndex, scan
    from tests.conftest import IMAGES

    with ImageIndex.create(tmp_path / "idx", pipe) as index:
        index.add(scan([IMAGES]), pipe)
        result = classify_collection(pipe, [index], "cat, rocket, coffee", examples=2)
        assert result["total"] == len(index) == 14
        assert [row["label"] for row in result["labels"]] == ["cat", "rocket", "coffee"]
        assert sum(row["count"] for row in result["labels"]) == 14
        assert sum(row["share"] for row in result["labels"]) == pytest.approx(1.0)
        for row in result["labels"]:
            assert len(row["examples"]) == min(2, row["count"])
            scores = [item["score"] for item in row["examples"]]
            assert scores == sorted(scores, reverse=True) and all(1 / 3 <= s <= 1 for s in scores)
            # each example really is classified as its label
            for item in row["examples"]:
                probs = pipe.classify(item["path"], "cat, rocket, coffee")
                assert max(probs, key=probs.get) == row["label"]
