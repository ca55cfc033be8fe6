"""A visitor's collection as the page shows it: added images keep the name they were
uploaded under (the content hash stays the stored copy's file name and the id), and
content the collection holds already, bundled or added before, is recognised by its
hash whatever it is called and not added twice."""

import shutil
import zipfile

from PIL import Image

from search.collections import Collections
from tests.conftest import IMAGES


def collection(tmp_path) -> Collections:
    bundled = shutil.copytree(IMAGES, tmp_path / "bundled", ignore=lambda d, names: names[3:])  # three images
    return Collections(data_dir=tmp_path / "data", bundled=bundled, gallery_mode="shared", library="")


def test_uploads_keep_their_names_and_duplicates_are_recognised(models, tmp_path):
    collections, loaded = collection(tmp_path), models.get("retrieval")
    pipe, key = loaded.pipeline, loaded.checkpoint.key
    bundled = sorted(collections.bundled.iterdir())[0]
    renamed = tmp_path / "upload" / "my copy of it.jpg"  # a bundled image under another name
    renamed.parent.mkdir()
    shutil.copy(bundled, renamed)
    beach = tmp_path / "upload" / "Strand – Sommer 2024.png"
    Image.new("RGB", (40, 30), (20, 150, 220)).save(beach)

    added = collections.add([str(renamed), str(beach)], pipe, key, None)
    assert added.added == 1 and added.already == 1
    assert added.duplicates == [("my copy of it.jpg", "bundled", bundled.name)]

    # The search and the collection name the upload as it was uploaded; its id is its content hash.
    hits = collections.named(
        Collections.search(collections.sources(pipe, key, None), pipe.embed_query(image=str(beach)), 1), None
    )
    assert hits[0]["name"] == beach.name and hits[0]["source"] == "yours" and len(hits[0]["id"]) == 64
    browsed = collections.browse(None, 10)
    assert browsed[0] == {**browsed[0], "name": beach.name, "source": "yours", "id": hits[0]["id"]}
    assert [item["source"] for item in browsed] == ["yours", "bundled", "bundled", "bundled"]

    # The same picture again, alone and in a zip: recognised as the visitor's own, under its first name.
    archive = tmp_path / "again.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(beach, "holiday/renamed.png")
    again = collections.add([str(beach), str(archive)], pipe, key, None)
    assert again.added == 0 and again.already == 2
    assert {(given, where, known) for given, where, known in again.duplicates} == {
        (beach.name, "yours", beach.name),
        ("renamed.png", "yours", beach.name),
    }
    assert len(collections.browse(None, 10)) == 4  # nothing twice

    # Removed, it is forgotten by name too.
    collections.remove(hits[0]["id"], pipe, key, None)
    assert collections.names(None) == {} and len(collections.browse(None, 10)) == 3


def test_archives_that_are_all_refused_say_why_each_in_both_languages(models, tmp_path):
    import pytest

    from runtime.messages import InputError
    from ui.messages import translate

    loaded = models.get("retrieval")
    archives = []
    for name in ("one.zip", "two.zip"):
        archives.append(str(tmp_path / name))
        with zipfile.ZipFile(archives[-1], "w") as zf:
            zf.writestr("../evil.png", name.encode())  # two archives, not one given twice
    with pytest.raises(InputError) as refused:
        collection(tmp_path).add(archives, loaded.pipeline, loaded.checkpoint.key, None)
    assert str(refused.value).startswith("None of the zip files could be added: The zip file contains the unsafe")
    assert str(refused.value).count("unsafe path '../evil.png'") == 2
    chinese = translate(refused.value, "zh-CN")
    assert chinese.startswith("没有一个 zip 文件能添加：") and chinese.count("不安全的路径") == 2
