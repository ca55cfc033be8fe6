"""The CLIP lab on the tiny CLIP: similarity matrix, temperature, PCA map."""

from pathlib import Path

import numpy as np
import pytest

from explain.clip import embedding_map, matrix_figure, probabilities, similarity_matrix
from runtime import settings
from search.index import ImageIndex, scan
from tests.conftest import IMAGES

IMAGE_NAMES = ["cat.jpg", "coffee.jpg", "rocket.jpg"]
LABELS = ["cat", "cup of coffee", "rocket", "horse"]


@pytest.fixture(scope="module")
def pipe(models):
    return models.get("retrieval").pipeline


@pytest.fixture(scope="module")
def matrix(pipe):
    texts = [f"a photo of a {label}." for label in LABELS]
    return similarity_matrix(pipe, [str(IMAGES / n) for n in IMAGE_NAMES], "\n".join(texts))


def test_probabilities_sum_to_one_per_image(matrix):
    record, images = matrix
    probs = np.asarray(record["probabilities"])
    assert probs.shape == (len(IMAGE_NAMES), len(LABELS)) == np.asarray(record["cosine"]).shape
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-6) and (probs >= 0).all()
    assert np.all(np.abs(record["cosine"]) <= 1 + 1e-5)
    assert record["images"] == IMAGE_NAMES and len(images) == 3


def test_at_the_learned_temperature_it_agrees_with_zero_shot_classification(pipe, matrix):
    record, _ = matrix
    assert record["temperature"] == pytest.approx(1 / record["logit_scale"]) == record["learned_temperature"]
    for row, name in zip(record["probabilities"], IMAGE_NAMES, strict=True):
        classified = pipe.classify(str(IMAGES / name), LABELS)
        assert row == pytest.approx([classified[label] for label in LABELS], abs=1e-5)


def test_temperature_sharpens_or_flattens_the_probabilities(matrix):
    cosine = np.asarray(matrix[0]["cosine"])

    def entropy(t):
        p = probabilities(cosine, t)
        return -(p * np.log(p)).sum(axis=1)

    assert (entropy(0.005) < entropy(0.05)).all() and (entropy(0.05) < entropy(1.0)).all()
    with pytest.raises(ValueError, match="temperature"):  # past the slider's end (0.001-1), as the page says
        probabilities(cosine, 10.0)
    with pytest.raises(ValueError, match="temperature"):
        probabilities(cosine, 0)


def test_the_figure_is_drawn_at_any_temperature(matrix):
    record, images = matrix
    assert matrix_figure(record, images).size[0] > 300
    assert matrix_figure(record, images, temperature=0.5).size[0] > 300


@pytest.mark.parametrize(
    ("images", "texts", "message"),
    [
        ([], "a cat", "No images"),
        (["cat.jpg"], "  \n ", "No texts"),
        (["cat.jpg"] * 17, "a cat", "at most 16 images"),
        (["cat.jpg"], "\n".join(f"t{i}" for i in range(17)), "at most 16 texts"),
    ],
)
def test_bad_input_is_refused(pipe, images, texts, message):
    with pytest.raises(ValueError, match=message):
        similarity_matrix(pipe, [str(IMAGES / n) for n in images], texts)


def test_the_map_places_an_image_query_on_its_own_point(pipe, tmp_path):
    with ImageIndex.create(tmp_path / "idx", pipe) as index:
        index.add(scan([settings.EXAMPLE_IMAGES_DIR]), pipe)
        paths, matrix = [Path(item["path"]) for item in index.items()], index.embeddings.copy()
    cat = paths.index(IMAGES / "cat.jpg")
    record, image = embedding_map(paths, matrix, matrix[cat], "cat.jpg", top_k=3)
    point = record["points"][cat]
    assert (record["query"]["x"], record["query"]["y"]) == pytest.approx((point["x"], point["y"]), abs=1e-5)
    assert record["nearest"][0] == "cat.jpg" and len(record["points"]) == len(paths)
    assert 0 < sum(record["explained_variance"]) <= 1
    assert image.size[0] > 300

    text_record, _ = embedding_map(paths, matrix, pipe.embed_texts(["a cat"])[0], "a cat")
    assert text_record["query"]["label"] == "a cat" and len(text_record["nearest"]) == 5
    with pytest.raises(ValueError, match="at least 3"):
        embedding_map(paths[:2], matrix[:2], matrix[0], "x")
