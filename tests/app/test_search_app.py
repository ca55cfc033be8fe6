"""The Search tab through the running app's API (gradio_client), and in-process for
the per-session collections of GALLERY_MODE=session."""

import zipfile
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.conftest import IMAGES

NEW_ENDPOINTS = {
    "/search": [],
    "/more_like_this": ["image_id"],
    "/classify_collection": ["labels"],
    "/index_zip": ["file"],
    "/remove_from_gallery": ["image_id"],
}


def noise(path, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((60, 60)).save(path)
    return path


@pytest.fixture
def cat():
    return handle_file(str(IMAGES / "cat.jpg"))


def test_new_endpoints_and_their_required_parameters(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name, required in NEW_ENDPOINTS.items():
        assert [p["parameter_name"] for p in api[name]["parameters"] if not p["parameter_has_default"]] == required


def test_search_by_image_and_text_returns_the_hits_as_data(client, cat):
    gallery, hits = client.predict(image=cat, top_k=3, api_name="/search")
    assert hits[0]["name"] == "cat.jpg" and hits[0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert hits[0]["source"] == "bundled" and len(hits[0]["id"]) == 64 and "path" not in hits[0]
    assert [item["caption"] for item in gallery] == [f"{h['score']:.3f} · {h['name']}" for h in hits]
    _, modified = client.predict(query="at night", image=cat, top_k=3, text_weight=0.5, api_name="/search")
    assert modified[0]["score"] < 1.0  # the text moved the query away from the photo itself
    with pytest.raises(AppError, match="Nothing to search with"):
        client.predict(api_name="/search")


def test_more_like_this_leaves_the_image_itself_out(client, cat):
    _, hits = client.predict(image=cat, top_k=1, api_name="/search")
    gallery, similar = client.predict(image_id=hits[0]["id"], top_k=4, api_name="/more_like_this")
    assert len(similar) == len(gallery) == 4 and hits[0]["id"] not in [h["id"] for h in similar]
    with pytest.raises(AppError, match="No image with id"):
        client.predict(image_id="f" * 64, api_name="/more_like_this")


def test_a_zip_is_indexed_reported_searchable_and_removable(client, tmp_path):
    archive = tmp_path / "holiday.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(noise(tmp_path / "beach.png", 1), "holiday/beach.png")
        zf.write(noise(tmp_path / "hill.png", 2), "holiday/hill.png")
        zf.writestr("holiday/notes.txt", "not a picture")
    collection, report = client.predict(file=handle_file(str(archive)), api_name="/index_zip")
    assert "Added 2 image(s)" in report and "notes.txt: not an image" in report and collection

    _, hits = client.predict(image=handle_file(str(tmp_path / "beach.png")), top_k=1, api_name="/search")
    assert hits[0]["source"] == "yours" and hits[0]["score"] == pytest.approx(1.0, abs=0.05)  # a JPEG copy
    _, report = client.predict(image_id=hits[0]["id"], api_name="/remove_from_gallery")
    assert "Removed" in report
    _, after = client.predict(image=handle_file(str(tmp_path / "beach.png")), top_k=3, api_name="/search")
    assert hits[0]["id"] not in [h["id"] for h in after]


def test_a_hostile_zip_gets_a_message(client, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escape.png", b"x")
    with pytest.raises(AppError, match="unsafe path"):
        client.predict(file=handle_file(str(archive)), api_name="/index_zip")
    with pytest.raises(AppError, match="zip"):  # Gradio checks file_types before the handler runs
        client.predict(file=handle_file(str(IMAGES / "cat.jpg")), api_name="/index_zip")


def test_the_bundled_gallery_can_not_be_removed(client, cat):
    _, hits = client.predict(image=cat, top_k=1, api_name="/search")
    with pytest.raises(AppError, match="bundled gallery"):
        client.predict(image_id=hits[0]["id"], api_name="/remove_from_gallery")


def test_classifying_the_collection_counts_every_image(client):
    table, examples, result = client.predict(labels="animal, space, food", examples=2, api_name="/classify_collection")
    assert [row[0] for row in table["data"]] == ["animal", "space", "food"]
    assert sum(row[1] for row in table["data"]) == result["total"] >= 14
    assert len(examples) == sum(len(row["examples"]) for row in result["labels"])
    with pytest.raises(AppError, match="at least two"):
        client.predict(labels="animal", api_name="/classify_collection")


class Visitor:
    """What gr.Request tells a handler about who is asking."""

    def __init__(self, session_hash):
        self.session_hash = session_hash


def endpoints(**collections):
    """The Search tab's endpoints over collections made with ``collections``' options."""
    from search.collections import Collections
    from tests.conftest import ThroughTheChain
    from ui.tabs import search

    return ThroughTheChain(search.endpoints(SimpleNamespace(collections=Collections(**collections))))


def test_in_session_mode_no_visitor_sees_another_ones_images(models, tmp_path):
    from search.collections import Collections

    search = endpoints(data_dir=tmp_path, gallery_mode="session", library="")
    alice, bob = Visitor("alice-session"), Visitor("bob-session")
    photo = noise(tmp_path / "alice.png", 3)

    _, _, report = search.add_to_gallery([str(photo)], request=alice, progress=None)
    assert "Added 1" in report
    _, alice_hits, _ = search.search(image=str(photo), top_k=1, request=alice, progress=None)
    _, bob_hits, _ = search.search(image=str(photo), top_k=20, request=bob, progress=None)
    assert alice_hits[0]["source"] == "yours"
    assert alice_hits[0]["id"] not in [h["id"] for h in bob_hits] and {h["source"] for h in bob_hits} == {"bundled"}
    assert len(search.collection(request=alice)) == len(search.collection(request=bob)) + 1
    bob_scope = Collections(data_dir=tmp_path, gallery_mode="session").scope(bob.session_hash)
    assert not (tmp_path / "indexes" / bob_scope).exists()  # searching alone leaves nothing on disk
    with pytest.raises(gr.Error, match="No image with id"):
        search.more_like_this(alice_hits[0]["id"], request=bob, progress=None)
    with pytest.raises(gr.Error, match="among the images you added"):
        search.remove_from_gallery(alice_hits[0]["id"], request=bob)


def test_a_library_built_with_the_command_line_is_searched_read_only(models, tmp_path, monkeypatch):
    import shutil

    from PIL import Image as PILImage

    from search.index import ImageIndex, scan
    from ui.tabs.search import common  # where the tab's endpoints load the retrieval model

    pipe = models.get("retrieval").pipeline
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(noise(tmp_path / "mountain.png", 4), photos / "mountain.png")
    with ImageIndex.create(tmp_path / "library.idx", pipe, "tiny-clip") as library:
        library.add(scan([photos]), pipe)
    search = endpoints(data_dir=tmp_path / "data", library=str(tmp_path / "library.idx"))

    gallery, hits, _ = search.search(image=str(photos / "mountain.png"), top_k=3, request=None, progress=None)
    assert hits[0]["source"] == "library" and hits[0]["name"] == "mountain.png"
    assert isinstance(gallery[0][0], PILImage.Image)  # a copy: the library's folder is not served
    assert isinstance(gallery[1][0], str)  # the bundled gallery is served as files
    with pytest.raises(gr.Error, match="library"):
        search.remove_from_gallery(hits[0]["id"], request=None)

    # An index built with another model sits the search out instead of giving wrong hits.
    from tests.search.test_index import other_model

    search = endpoints(data_dir=tmp_path / "data", library=str(tmp_path / "library.idx"))
    monkeypatch.setattr(
        common,
        "get_model",
        lambda *a, **k: type("L", (), {"pipeline": other_model(pipe), "checkpoint": type("C", (), {"key": "x"})})(),
    )
    with pytest.warns(UserWarning, match="not searched"):
        _, hits, _ = search.search(query="a mountain", request=None, progress=None)
    assert {hit["source"] for hit in hits} == {"bundled"}
