"""The on-disk image index on the tiny CLIP: indexing a folder, incremental adds,
de-duplication, removal, the model check, surviving a kill, and every search backend
agreeing with exact search."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from search import backends as search_backends
from search.index import ImageIndex, ModelMismatchError, content_hash, item_id, scan
from tests.conftest import IMAGES, ROOT


@pytest.fixture(scope="module")
def pipe(models):
    return models.get("retrieval").pipeline


def make_images(folder, count, seed=0, size=(48, 40)):
    """``count`` different small images (random blocks of colour) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        image = Image.fromarray(blocks).resize(size, Image.Resampling.NEAREST)
        path = folder / f"img{seed}-{i:03d}.png"
        image.save(path)
        paths.append(path)
    return paths


@pytest.fixture
def photos(tmp_path):
    """A folder as users have them: images in sub-folders, a note, a damaged JPEG, a hidden file."""
    folder = tmp_path / "photos"
    make_images(folder, 3, seed=1)
    make_images(folder / "trip", 2, seed=2)
    shutil.copy(IMAGES / "cat.jpg", folder / "trip" / "cat.jpg")
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    return folder


class CountingPipe:
    """The real pipeline, counting the images it embeds."""

    def __init__(self, pipe):
        self._pipe, self.embedded = pipe, 0

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def embed_images(self, images, **kwargs):
        self.embedded += len(images)
        return self._pipe.embed_images(images, **kwargs)


def test_indexing_a_folder_reports_what_it_skipped(pipe, photos, tmp_path):
    with ImageIndex.create(tmp_path / "idx", pipe, "tiny-clip") as index:
        report = index.add(scan([photos]), pipe, batch_size=4)
        assert len(report.added) == len(index) == 6
        assert sorted(os.path.basename(name) for name, _ in report.skipped) == ["broken.jpg", "notes.txt"]
        assert all(why for _, why in report.skipped) and "skipped" in report.summary()

        cat = next(item for item in index.items() if item["name"] == "cat.jpg")
        assert cat["id"] == content_hash(photos / "trip" / "cat.jpg")
        assert (cat["width"], cat["height"]) == Image.open(IMAGES / "cat.jpg").size
        assert cat["bytes"] == (photos / "trip" / "cat.jpg").stat().st_size and cat["added"].startswith("20")
        assert index.model["key"] == "tiny-clip" and index.model["dim"] == pipe.dim
        assert np.allclose(np.linalg.norm(index.embeddings, axis=1), 1, atol=1e-5)

        hits = index.query(pipe, image=str(photos / "trip" / "cat.jpg"), top_k=3)
        assert hits[0]["name"] == "cat.jpg" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_a_restart_loads_the_index_and_recomputes_nothing(pipe, photos, tmp_path):
    with ImageIndex.create(tmp_path / "idx", pipe) as index:
        index.add(scan([photos]), pipe)
        before = index.embeddings.copy()
    counting = CountingPipe(pipe)
    with ImageIndex.open(tmp_path / "idx") as reopened:
        assert np.array_equal(reopened.embeddings, before)
        report = reopened.add(scan([photos]), counting)
        assert counting.embedded == 0 and report.unchanged == 6 and not report.added


def test_adding_more_is_incremental_and_the_same_content_is_a_no_op(pipe, tmp_path):
    first = make_images(tmp_path / "a", 3, seed=3)
    more = make_images(tmp_path / "b", 2, seed=4)
    shutil.copy(first[0], tmp_path / "b" / "same-as-first.png")  # same bytes, another name
    counting = CountingPipe(pipe)
    with ImageIndex.create(tmp_path / "idx", pipe) as index:
        index.add(first, counting)
        report = index.add(scan([tmp_path / "a", tmp_path / "b"]), counting)
        assert counting.embedded == 5 and len(index) == 5
        assert [os.path.basename(p) for p in report.added] == [p.name for p in more]
        assert report.duplicates == [str(tmp_path / "b" / "same-as-first.png")] and report.unchanged == 3


def test_images_can_be_removed_by_id_or_path_and_pruned(pipe, tmp_path):
    paths = make_images(tmp_path / "a", 5, seed=5)
    with ImageIndex.create(tmp_path / "idx", pipe) as index:
        index.add(paths, pipe, batch_size=2)
        removed = index.remove([content_hash(paths[0]), str(paths[1])])
        assert {item["name"] for item in removed} == {paths[0].name, paths[1].name}
        paths[2].unlink()
        assert [item["name"] for item in index.prune()] == [paths[2].name]
        assert sorted(item["name"] for item in index.items()) == [paths[3].name, paths[4].name]
        assert all(hit["name"] not in {p.name for p in paths[:3]} for hit in index.query(pipe, text="a", top_k=5))
        with pytest.raises(ValueError, match="No image with id"):
            index.remove(["0" * 64])
    with ImageIndex.open(tmp_path / "idx") as reopened:  # the removals are on disk
        assert len(reopened) == 2


def test_a_moved_file_keeps_its_embedding(pipe, tmp_path):
    paths = make_images(tmp_path / "a", 2, seed=6)
    counting = CountingPipe(pipe)
    with ImageIndex.create(tmp_path / "idx", pipe) as index:
        index.add(paths, counting)
        moved = tmp_path / "elsewhere.png"
        paths[0].rename(moved)
        index.add([moved], counting)
        assert counting.embedded == 2 and len(index) == 2
        assert {item["path"] for item in index.items()} == {str(moved), str(paths[1])}


def test_segments_are_merged_so_many_small_batches_make_few_files(pipe, tmp_path):
    paths = make_images(tmp_path / "a", 16, seed=7, size=(8, 8))
    with ImageIndex.create(tmp_path / "idx", pipe) as index:
        index.add(paths, pipe, batch_size=1)
        assert len(index.manifest["segments"]) <= 5  # a binary counter over 16 rows: one file here
        assert len(list((tmp_path / "idx" / "segments").iterdir())) == len(index.manifest["segments"])
        embeddings = index.embeddings.copy()
    with ImageIndex.open(tmp_path / "idx") as reopened:
        assert np.array_equal(reopened.embeddings, embeddings)
        assert [item["name"] for item in reopened.items()] == [p.name for p in paths]


def other_model(pipe):
    """A CLIP of the same shape with other weights: another embedding space."""
    import torch
    from transformers import CLIPModel

    from pipelines.retrieval import RetrievalPipeline

    torch.manual_seed(1)
    return RetrievalPipeline(CLIPModel(pipe.model.config), pipe.processor, "someone/other-clip", "v2")


def test_an_index_refuses_another_model(pipe, tmp_path):
    paths = make_images(tmp_path / "a", 2, seed=8)
    other = other_model(pipe)
    assert other.fingerprint != pipe.fingerprint
    with ImageIndex.create(tmp_path / "idx", pipe, "tiny-clip") as index:
        index.add(paths, pipe)
        for call in (lambda: index.query(other, text="a cat"), lambda: index.add(paths, other)):
            with pytest.raises(ModelMismatchError, match="built with tiny/clip@main.*someone/other-clip@v2"):
                call()
    with pytest.raises(ModelMismatchError, match="tiny-clip"):
        ImageIndex.open_or_create(tmp_path / "idx", other)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from search.index import ImageIndex
    from pipelines.cache import MODELS

    MODELS.configure("tiny")
    pipe = MODELS.get("retrieval").pipeline
    calls = {"n": 0}

    def die_on(method, call_number):
        original = method
        def wrapper(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == call_number:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        return wrapper

    index = ImageIndex.create(sys.argv[1], pipe)
    if sys.argv[2] == "embedding":  # killed while embedding the third batch
        pipe.embed_images = die_on(pipe.embed_images, 3)
    else:  # killed after writing the second batch's segment, before switching the manifest
        index._write_manifest = die_on(index._write_manifest, 2)
    index.add(sys.argv[3:], pipe, batch_size=2)
    """
)


@pytest.mark.parametrize(("moment", "survivors"), [("embedding", 4), ("switch", 2)])
def test_a_kill_in_the_middle_leaves_a_loadable_index(pipe, tmp_path, moment, survivors):
    paths = make_images(tmp_path / "a", 8, seed=9)
    result = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path / "idx"), moment, *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]

    counting = CountingPipe(pipe)
    with ImageIndex.open(tmp_path / "idx") as index:
        assert len(index) == survivors  # only the batch in flight is lost
        assert [item["name"] for item in index.items()] == [p.name for p in paths[:survivors]]
        fresh = pipe.embed_images([str(p) for p in paths[:survivors]])
        assert np.allclose(index.embeddings, fresh, atol=1e-5)
        index.add(paths, counting, batch_size=2)  # picks up where it stopped; orphans go
        assert counting.embedded == 8 - survivors and len(index) == 8
        named = {segment["file"] for segment in index.manifest["segments"]}
        assert {p.name for p in (tmp_path / "idx" / "segments").iterdir()} == named


# --- search backends ------------------------------------------------------------------


def clustered(n, dim, seed=0):
    """Unit vectors around a few centres, like embeddings of a real collection."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dim))
    vectors = centres[rng.integers(0, 8, n)] + 0.6 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def make_backend(name, tmp_path):
    if name == "faiss-hnsw":
        return search_backends.FaissBackend("HNSW32", ef_search=256, cache_dir=tmp_path / "ann")
    if name == "faiss-ivf":
        return search_backends.FaissBackend("IVF4,Flat", nprobe=4, cache_dir=tmp_path / "ann")
    if name == "qdrant":
        return search_backends.QdrantBackend("test", path=tmp_path / "qdrant")
    return search_backends.ExactBackend()


@pytest.mark.parametrize("name", ["faiss-hnsw", "faiss-ivf", "qdrant"])
def test_every_backend_returns_the_exact_top_hits_on_a_small_collection(name, tmp_path):
    vectors = clustered(300, 16)
    ids = np.arange(300, dtype=np.int64) * 1_000_003 + 7  # ids need not be row numbers
    queries = clustered(20, 16, seed=1)
    exact, backend = search_backends.ExactBackend(), make_backend(name, tmp_path)
    try:
        for b in (exact, backend):
            b.sync(ids, vectors)
        expected_scores, expected = exact.search(queries, 5)
        scores, found = backend.search(queries, 5)
        assert np.array_equal(found, expected)
        assert np.allclose(scores, expected_scores, atol=1e-4)

        # Remove some and add others: the backend follows the index.
        new_vectors = clustered(10, 16, seed=2)
        ids2 = np.concatenate([ids[np.isin(ids, expected[:, 0], invert=True)], np.arange(10) + 10**9])
        vectors2 = np.concatenate([vectors[np.isin(ids, expected[:, 0], invert=True)], new_vectors])
        for b in (exact, backend):
            b.sync(ids2, vectors2)
        assert len(backend) == len(ids2)
        assert np.array_equal(backend.search(queries, 5)[1], exact.search(queries, 5)[1])
        assert backend.search(new_vectors[:1], 1)[1][0, 0] == 10**9
    finally:
        backend.close()


def test_fewer_vectors_than_top_k_are_padded(tmp_path):
    for name in ("exact", "faiss-hnsw", "qdrant"):
        backend = make_backend(name, tmp_path / name)
        backend.sync(np.array([5, 6], np.int64), clustered(2, 8))
        scores, ids = backend.search(clustered(1, 8, seed=3), 4)
        assert ids.shape == (1, 4) and sorted(ids[0, :2]) == [5, 6] and list(ids[0, 2:]) == [-1, -1], name
        backend.close()


def test_the_faiss_graph_is_cached_on_disk(tmp_path, monkeypatch):
    vectors, ids = clustered(200, 16), np.arange(200, dtype=np.int64)
    backend = make_backend("faiss-hnsw", tmp_path)
    backend.sync(ids, vectors)
    backend.save()
    monkeypatch.setattr(search_backends.FaissBackend, "_build", lambda *a: pytest.fail("rebuilt a cached index"))
    restored = make_backend("faiss-hnsw", tmp_path)
    restored.sync(ids, vectors)
    assert np.array_equal(restored.search(vectors[:3], 3)[1], backend.search(vectors[:3], 3)[1])
    assert len(list((tmp_path / "ann").iterdir())) == 3  # the pointer, the index and its ids; old ones deleted


def test_auto_picks_exact_for_small_collections_and_faiss_for_large(monkeypatch):
    monkeypatch.setattr(search_backends.settings, "SEARCH_ANN_THRESHOLD", 1000)
    assert search_backends.choose("auto", 999) == "exact"
    assert search_backends.choose("auto", 1000) == "faiss"
    assert search_backends.choose("qdrant", 5) == "qdrant"
    with pytest.raises(ValueError, match="available backends"):
        search_backends.choose("annoy", 5)


@pytest.mark.parametrize("backend", ["exact", "faiss", "qdrant"])
def test_an_index_searches_the_same_through_every_backend(pipe, tmp_path, backend):
    paths = make_images(tmp_path / "a", 12, seed=10)
    with ImageIndex.create(tmp_path / "idx", pipe, backend=backend) as index:
        index.add(paths, pipe, batch_size=5)
        assert index.backend.name == backend
        hits = index.query(pipe, image=str(paths[3]), top_k=4)
        assert hits[0]["name"] == paths[3].name and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
        exact = np.argsort(-(index.embeddings @ index.embedding(content_hash(paths[3]))))[:4]
        assert [h["id"] for h in hits] == [index.items()[row]["id"] for row in exact]
        index.remove([hits[0]["id"]])
        assert index.query(pipe, image=str(paths[3]), top_k=1)[0]["name"] != paths[3].name
        excluded = index.search(index.embedding(hits[1]["id"]), 3, exclude=[hits[1]["id"]])
        assert hits[1]["id"] not in [h["id"] for h in excluded] and len(excluded) == 3


def test_item_ids_fit_in_the_int64_ids_of_faiss_and_qdrant():
    assert 0 <= item_id("f" * 64) < 2**63


def test_a_damaged_segment_is_a_clear_error(pipe, tmp_path):
    with ImageIndex.create(tmp_path / "idx", pipe) as index:
        index.add(make_images(tmp_path / "a", 2, seed=11), pipe)
        segment = tmp_path / "idx" / "segments" / index.manifest["segments"][0]["file"]
    segment.write_bytes(b"PK\x03\x04 damaged")
    with pytest.raises(ValueError, match="damaged segment file"):
        ImageIndex.open(tmp_path / "idx")
