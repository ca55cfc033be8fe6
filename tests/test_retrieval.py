"""Retrieval pipeline and gallery on the tiny CLIP."""

import numpy as np
import pytest
from PIL import Image

from pipelines.retrieval import Gallery, add_images


@pytest.fixture(scope="module")
def pipe(models):
    return models.get("retrieval").pipeline


@pytest.fixture
def gallery(tmp_path):
    from tests.conftest import IMAGES

    return Gallery([IMAGES], tmp_path / "embeddings")


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


def test_an_image_in_the_gallery_finds_itself_first(pipe, gallery):
    paths = gallery.files()
    for path in paths[:5]:
        hits = gallery.search(pipe, pipe.embed_images([path])[0], top_k=3)
        assert hits[0]["name"] == path.name
        assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_gallery_embeddings_are_cached_on_disk(pipe, gallery, tmp_path, monkeypatch):
    paths, first = gallery.embeddings(pipe)
    assert first.shape[0] == len(paths) > 10
    assert list((tmp_path / "embeddings").glob("*.npz"))

    # A restart: a new Gallery over the same cache embeds nothing.
    restarted = Gallery(gallery.folders, gallery.cache_dir)
    monkeypatch.setattr(pipe, "embed_images", lambda *a, **k: pytest.fail("recomputed a cached embedding"))
    assert np.array_equal(restarted.embeddings(pipe)[1], first)


def test_added_images_are_searchable_deduplicated_and_bad_files_reported(pipe, gallery, tmp_path):
    uploads = tmp_path / "uploads"
    red = tmp_path / "red.png"
    Image.new("RGB", (64, 48), "red").save(red)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")

    added, refused = add_images([str(red), str(junk)], uploads)
    assert added == ["red.png"] and len(refused) == 1 and "junk.jpg" in refused[0]
    added, refused = add_images([str(red)], uploads)
    assert added == [] and "already in the gallery" in refused[0]

    hits = gallery.search(pipe, pipe.embed_images([str(red)])[0], top_k=1, extra=[uploads])
    assert hits[0]["path"].startswith(str(uploads))


def test_a_damaged_file_in_the_folder_does_not_break_search(pipe, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    Image.new("RGB", (32, 32), "blue").save(tmp_path / "blue.png")
    paths, matrix = Gallery([tmp_path], tmp_path / "cache").embeddings(pipe)
    assert [p.name for p in paths] == ["blue.png"] and matrix.shape[0] == 1


def test_top_k_is_checked(pipe, gallery):
    with pytest.raises(ValueError, match="top_k"):
        gallery.search(pipe, pipe.embed_texts(["a cat"])[0], top_k=0)
