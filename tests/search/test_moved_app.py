"""A moved or re-cloned app keeps its collection: the bundled gallery's index, built
where the app used to be, is re-pointed at the images where the app is now (their
embeddings kept), whether the old copy is gone or still there."""

import shutil

import pytest

from search.collections import Collections
from tests.conftest import IMAGES


@pytest.mark.parametrize("old_copy", ["deleted", "still there"])
def test_the_bundled_gallery_follows_the_app(models, tmp_path, old_copy):
    pipe = models.get("retrieval").pipeline
    first = shutil.copytree(IMAGES, tmp_path / "first-clone" / "images")
    Collections(data_dir=tmp_path / "data", bundled=first, library="").index("bundled", first, pipe, "tiny-clip")
    second = shutil.copytree(IMAGES, tmp_path / "second-clone" / "images")
    if old_copy == "deleted":
        shutil.rmtree(first)

    index = Collections(data_dir=tmp_path / "data", bundled=second, library="").index("bundled", second, pipe, "")
    paths = [item["path"] for item in index.items()]
    assert len(paths) == len(list(IMAGES.glob("*.jpg")))  # nothing lost, nothing twice
    assert all(path.startswith(str(second)) for path in paths)
    hits = Collections.search({"bundled": index}, pipe.embed_query(text="a clock"), top_k=3)
    assert all(hit["path"].startswith(str(second)) for hit in hits)
