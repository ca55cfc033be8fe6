"""Searching one's own collection in Chinese: an index built with SigLIP 2 over files with
Chinese names, searched by the command line in Chinese (with Chinese labels to sort
into), the index on disk keeping the names as written, and an index of one model
refused by another, as for CLIP."""

import json

import pytest
from PIL import Image, ImageOps

from search.__main__ import main
from search.index import MANIFEST, ImageIndex, scan
from tests.conftest import IMAGES

NAMES = {"猫.jpg": "cat.jpg", "咖啡.jpg": "coffee.jpg", "火箭.jpg": "rocket.jpg", "马.jpg": "horse.jpg"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("照片")
    for name, source in NAMES.items():  # mirrored: content of their own, not the bundled gallery's again
        ImageOps.mirror(Image.open(IMAGES / source)).save(folder / name)
    return folder


@pytest.fixture(scope="module")
def index(folder, tmp_path_factory, models):
    path = tmp_path_factory.mktemp("索引") / "图片.idx"
    assert (
        main(["index", str(folder), "--index", str(path), "--profile", "tiny", "--model", "tiny-siglip2", "--quiet"])
        == 0
    )
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_index_keeps_chinese_names_as_written(index, folder):
    manifest = (index / MANIFEST).read_text(encoding="utf-8")
    assert json.loads(manifest)["model"]["key"] == "tiny-siglip2"
    with ImageIndex.open(index) as opened:
        assert len(opened) == 4
        names = {hit["name"] for hit in opened.query(opened_pipe(), text="一只猫", top_k=4)}
    assert names == set(NAMES)


def opened_pipe():
    from pipelines.cache import MODELS

    return MODELS.get("retrieval", "tiny-siglip2").pipeline


def test_the_command_line_searches_and_sorts_in_chinese(index, capsys):
    code, out, err = run(capsys, "search", "--index", index, "--text", "一只猫", "--json", "--top-k", "2")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 2 and all(hit["name"] in NAMES for hit in hits)
    assert any(name in out for name in NAMES)  # JSON with the names as written
    assert "notice" not in err  # SigLIP 2 reads Chinese
    code, out, _ = run(
        capsys, "classify", "--index", index, "--labels", "动物，食物、太空", "--json", "--examples", "1"
    )
    result = json.loads(out)
    assert code == 0 and {row["label"] for row in result["labels"]} <= {"动物", "食物", "太空"} and "\\u" not in out


def test_an_english_only_model_says_so_on_the_command_line(folder, tmp_path, capsys):
    path = tmp_path / "clip.idx"
    assert main(["index", str(folder), "--index", str(path), "--profile", "tiny", "--quiet"]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "search", "--index", path, "--text", "一只猫")
    assert code == 0 and "notice:" in err and "Tiny SigLIP 2 (random)" in err


def test_an_index_of_one_family_is_refused_by_another(index, models):
    with ImageIndex.open(index) as opened:
        with pytest.raises(ValueError, match="not comparable"):
            opened.check_model(models.get("retrieval", "tiny-chinese-clip").pipeline)
        opened.check_model(models.get("retrieval", "tiny-siglip2").pipeline)  # its own model


def test_the_app_re_embeds_a_collection_for_another_model(tmp_path, models, folder):
    from search.collections import Collections

    collections = Collections(tmp_path / "data")
    for key in ("tiny-siglip2", "tiny-chinese-clip"):
        pipe = models.get("retrieval", key).pipeline
        collections.add([str(p) for p in scan([folder])], pipe, key, None)
        found = collections.sources(pipe, key, None)
        hits = collections.search(found, pipe.embed_query(text="一只猫"), 50)
        assert sum(hit["source"] != "bundled" for hit in hits) == len(NAMES)  # embedded by this model too
