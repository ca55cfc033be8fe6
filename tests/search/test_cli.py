"""The command line: index a folder, search it by text, image or both, as text or JSON."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from runtime import settings
from search.__main__ import main
from tests.conftest import IMAGES, ROOT


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    for name in ("cat.jpg", "coffee.jpg", "rocket.jpg", "horse.jpg"):
        shutil.copy(IMAGES / name, folder / name)
    (folder / "readme.md").write_text("# not an image")
    return folder


@pytest.fixture(scope="module")
def index(folder, tmp_path_factory, models):
    """Built through `python -m pipelines.retrieval index`, as a user would."""
    path = tmp_path_factory.mktemp("cli") / "pictures.idx"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "search",
            "index",
            str(folder),
            "--index",
            str(path),
            "--profile",
            "tiny",
            "--json",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert len(report["added"]) == 4 and report["skipped"][0]["file"].endswith("readme.md")
    assert report["index"]["images"] == 4 and report["index"]["model"]["key"] == "tiny-clip"
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_search_by_text_prints_ranked_hits(index, capsys):
    code, out, _ = run(capsys, "search", "--index", index, "--text", "a cat", "--top-k", "3")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 3 and lines[0].lstrip().startswith("1.")
    scores = [float(line.split()[1]) for line in lines]
    assert scores == sorted(scores, reverse=True)


def test_search_by_image_and_text_as_json(index, folder, capsys):
    code, out, _ = run(capsys, "search", "--index", index, "--image", folder / "cat.jpg", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["name"] == "cat.jpg" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert len(hits) == 4 and {"id", "path", "width", "height", "added"} <= set(hits[0])
    code, out, _ = run(
        capsys,
        "search",
        "--index",
        index,
        "--image",
        folder / "cat.jpg",
        "--text",
        "at night",
        "--text-weight",
        "0.3",
        "--top-k",
        "2",
        "--json",
    )
    assert code == 0 and len(json.loads(out)) == 2 and json.loads(out)[0]["score"] < 1.0


def test_info_classify_and_remove(index, folder, capsys, tmp_path):
    copy = tmp_path / "copy.idx"
    shutil.copytree(index, copy)
    code, out, _ = run(capsys, "info", "--index", copy, "--json")
    assert code == 0 and json.loads(out)["images"] == 4 and json.loads(out)["backend"] == "exact"
    code, out, _ = run(capsys, "classify", "--index", copy, "--labels", "cat, rocket", "--json")
    result = json.loads(out)
    assert code == 0 and result["total"] == 4 and sum(row["count"] for row in result["labels"]) == 4
    code, out, _ = run(capsys, "remove", "--index", copy, folder / "cat.jpg")
    assert code == 0 and "Removed 1" in out
    code, out, _ = run(capsys, "search", "--index", copy, "--text", "a cat", "--json")
    assert "cat.jpg" not in [hit["name"] for hit in json.loads(out)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "--text", "   "], "Nothing to search with"),
        (["search", "--text", "a cat", "--top-k", "0"], "top_k"),
        (["search", "--image", "missing.jpg"], "does not exist"),
    ],
)
def test_mistakes_get_a_message_and_exit_code_2(index, capsys, argv, message):
    code, _, err = run(capsys, *argv[:1], "--index", index, *argv[1:])
    assert code == 2 and err.startswith("error: ") and message in err


def test_an_index_that_does_not_exist_is_a_clear_error(tmp_path, capsys):
    code, _, err = run(capsys, "search", "--index", tmp_path / "nope", "--text", "a cat")
    assert code == 2 and "No index at" in err


def test_searching_with_another_model_is_refused(index, models, tmp_path, capsys):
    import torch
    from transformers import CLIPModel

    pipe = models.get("retrieval").pipeline
    torch.manual_seed(1)  # same architecture, other weights: another embedding space
    CLIPModel(pipe.model.config).save_pretrained(tmp_path / "other-clip")
    pipe.processor.save_pretrained(tmp_path / "other-clip")
    code, _, err = run(capsys, "search", "--index", index, "--text", "a cat", "--model", tmp_path / "other-clip")
    assert code == 2 and "built with tiny/clip@main" in err and "not comparable" in err
    assert "MODEL_RETRIEVAL" not in os.environ and not settings.MODEL_OVERRIDES  # nothing was overridden to load it


@pytest.mark.parametrize("backend", ["faiss", "qdrant"])
def test_other_backends_from_the_command_line(folder, tmp_path, capsys, backend):
    path = tmp_path / f"{backend}.idx"
    code, _, err = run(capsys, "index", folder, "--index", path, "--profile", "tiny", "--backend", backend, "--quiet")
    assert code == 0, err
    assert (path / ("ann" if backend == "faiss" else "qdrant")).is_dir()  # built at index time, kept on disk
    code, out, _ = run(
        capsys, "search", "--index", path, "--backend", backend, "--image", folder / "horse.jpg", "--json"
    )
    hits = json.loads(out)
    assert code == 0 and hits[0]["name"] == "horse.jpg" and len(hits) == 4
