"""Show the code: each snippet, run as its own Python program against the tiny model,
reproduces the app's output exactly."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explain import snippets
from runtime import settings
from runtime.files import shown_path
from runtime.tiny import tiny_path
from tests.conftest import IMAGES, ROOT

CAT = str(IMAGES / "cat.jpg")


# A program that runs the snippets, each as `python snippet.py` runs it: it imports what a
# snippet imports, then forks, and the child runs the snippet as __main__ in its own folder
# with fresh globals, its output and exit status its own. Importing torch, transformers and
# diffusers was most of each run (some 5 s, 19 times); here it is paid once.
RUNNER = """
import ast, json, os, runpy, sys, traceback

for line in sys.stdin:
    job = json.loads(line)
    with open(job["script"], encoding="utf-8") as file:
        tree = ast.parse(file.read())
    for node in tree.body:  # the snippet's imports, ahead of the fork (the child runs them again)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            try:
                exec(compile(ast.Module([node], []), job["script"], "exec"), {})
            except Exception:
                pass  # the snippet itself says what is missing
    pid = os.fork()
    if pid == 0:
        os.chdir(job["cwd"])
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv, sys.path[0], status = [job["script"]], job["cwd"], 0
        try:
            runpy.run_path(job["script"], run_name="__main__")
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except BaseException:
            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    print(json.dumps(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), flush=True)
"""
RUNNING: list[subprocess.Popen] = []


@pytest.fixture(scope="module", autouse=True)
def runner():
    yield
    for process in RUNNING:
        process.stdin.close()
        process.wait(timeout=60)


def run(code: str, folder, own_interpreter: bool = False) -> str:
    """Run ``code`` as a fresh program in ``folder``, offline, and return what it printed:
    forked from the runner, or, with ``own_interpreter``, in a new Python of its own."""
    script = folder / "snippet.py"
    script.write_text(code)
    if not (folder / "assets").exists():  # a bundled example is named relative to the app's folder
        (folder / "assets").symlink_to(IMAGES.parent)
    import torch

    # As many threads as the app ran the model with (one for tiny models: runtime/devices.py):
    # a float sum split over other threads rounds differently, and a UNet's pixels show it.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    if own_interpreter:
        done = subprocess.run(
            [sys.executable, str(script)], cwd=folder, env=env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()
    if not RUNNING:
        RUNNING.append(
            subprocess.Popen(
                [sys.executable, "-c", RUNNER],
                cwd=folder,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    out, err = folder / "snippet.out", folder / "snippet.err"
    job = {"script": str(script), "cwd": str(folder), "stdout": str(out), "stderr": str(err)}
    RUNNING[0].stdin.write(json.dumps(job) + "\n")
    RUNNING[0].stdin.flush()
    returncode = json.loads(RUNNING[0].stdout.readline())
    assert returncode == 0, err.read_text()[-3000:]
    return out.read_text().strip()


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(prompt="a photo of", num_beams=1, do_sample=True, temperature=0.7, top_p=0.8, seed=5)]
)
def test_caption_snippet_reproduces_the_caption(models, tmp_path, kwargs):
    from ui.tabs.caption import caption

    output, _ = caption(CAT, **{"max_new_tokens": 12, **kwargs})  # the app's handler
    loaded = models.get("caption")
    record = snippets.caption_record(loaded, CAT, output, **{"max_new_tokens": 12, **kwargs})
    assert run(snippets.snippet(record), tmp_path) == output


@pytest.mark.parametrize("model", ["tiny-blip-vqa", "tiny-vilt"])
def test_vqa_snippet_reproduces_the_answer(models, tmp_path, model):
    from ui.tabs.ask import vqa

    output = vqa(CAT, "What animal is this?", model=model)
    record = snippets.vqa_record(models.get("vqa", model), CAT, "What animal is this?", output)
    assert run(snippets.snippet(record), tmp_path) == output


@pytest.mark.parametrize(
    "model, options",
    [
        ("tiny-smolvlm", dict()),
        ("tiny-gemma3", dict(temperature=0.9, top_p=0.9, seed=11)),
        ("tiny-qwen3-vl", dict()),
        ("tiny-qwen3.5", dict(temperature=0.9, top_p=0.9, seed=11)),
    ],
)
def test_chat_snippet_replays_the_conversation(models, tmp_path, model, options):
    loaded = models.get("chat", model)
    turns = [
        {"role": "user", "text": "What is it?", "images": [CAT]},
        {"role": "assistant", "text": "a cat", "images": []},
        {"role": "user", "text": "And its colour?", "images": [str(IMAGES / "horse.jpg")]},
    ]
    result = loaded.pipeline(turns, "Be brief.", max_new_tokens=10, **options)
    record = snippets.chat_record(loaded, result, turns, "Be brief.")
    assert run(snippets.snippet(record), tmp_path) == result["answer"]


@pytest.fixture
def app_threads():
    """The threads the app runs tiny models with (runtime/devices.py: one), whatever an
    earlier test of this worker left: the pixels are compared with the program's, which
    runs with as many (``run``), and a float sum split over other threads rounds differently."""
    import torch

    from runtime import devices

    # Left so afterwards, as after any model the app loads: what configure_torch() says.
    torch.set_num_threads(devices.configure_torch())


@pytest.mark.parametrize("decoder", ["vae", "taesd"])
def test_text_to_image_snippet_reproduces_every_image(models, tmp_path, decoder, app_threads):
    from ui.tabs.create import text_to_image

    *_, gallery = text_to_image(
        "a red fox in the snow",
        negative_prompt="blue",
        seed=12,
        num_inference_steps=3,
        guidance_scale=2.0,
        width=64,
        height=96,
        num_images=2,
        model="tiny-sd",
        decoder=decoder,
    )
    captions = [caption for _, caption in gallery]
    assert captions == ["seed 12", "seed 13"]
    record = snippets.text_to_image_record(
        models.get("text_to_image", "tiny-sd"),
        "a red fox in the snow",
        12,
        captions,
        "blue",
        3,
        2.0,
        64,
        96,
        2,
        decoder,
    )
    # A program of its own, as a user runs it. The pixels may differ by one level where a
    # float sum rounds the other way (seen twice in full runs, never alone); another seed,
    # step count, guidance or decoder changes nearly every pixel by far more.
    files = run(snippets.snippet(record), tmp_path, own_interpreter=True).split()
    assert files == ["seed-12.png", "seed-13.png"]
    for (image, _), name in zip(gallery, files, strict=True):
        ours, theirs = np.asarray(image).astype(int), np.asarray(Image.open(tmp_path / name)).astype(int)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() <= 1 and (ours != theirs).mean() < 0.01


def test_similarity_matrix_snippet_reproduces_the_matrix(models, tmp_path):
    from explain.clip import similarity_matrix

    images = [CAT, str(IMAGES / "coffee.jpg")]
    matrix, _ = similarity_matrix(models.get("retrieval").pipeline, images, "a photo of a cat.\na photo of a cup.")
    record = snippets.similarity_matrix_record(models.get("retrieval"), images, matrix)
    expected = [
        f"{name} {' '.join(f'{c:.4f}' for c in row)} | {' '.join(f'{q:.4f}' for q in probs)}"
        for name, row, probs in zip(matrix["images"], matrix["cosine"], matrix["probabilities"], strict=True)
    ]
    assert run(snippets.snippet(record), tmp_path).splitlines() == expected


def test_records_are_complete_json_and_written_atomically(models, tmp_path):
    loaded = models.get("caption")
    record = snippets.caption_record(loaded, CAT, "a cat", do_sample=True, seed=-1)
    assert record["parameters"]["seed"] is None  # a random seed the app did not report is not invented
    assert "set a seed in the app" in snippets.snippet(record)
    path = snippets.write_record(record, tmp_path)
    saved = json.loads(Path(path).read_text())
    # The tiny checkpoint lies in the data dir: the record names it without the server's folders.
    assert saved == record and saved["model_id"] == shown_path(loaded.pipeline.model_id)
    assert saved["model_id"].startswith("<data dir>/") and saved["image"]["path"] == "assets/images/cat.jpg"
    assert str(settings.DATA_DIR) not in json.dumps(saved) and str(ROOT) not in json.dumps(saved)
    assert {"torch", "transformers"} <= set(saved["versions"]) and len(saved["image"]["sha256"]) == 64
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside it


def test_every_snippet_is_valid_python_and_unknown_tasks_are_refused(models):
    models.get("text_to_image", "tiny-sd").pipeline.load_taesd(str(tiny_path("tiny/taesd")), local_files_only=True)
    records = [
        snippets.caption_record(models.get("caption"), CAT, "x", prompt="a photo of"),
        snippets.vqa_record(models.get("vqa", "tiny-vilt"), CAT, "what?", "x"),
        snippets.text_to_image_record(models.get("text_to_image", "tiny-sd"), "a cat", 1, ["seed 1"], decoder="taesd"),
        snippets.classify_record(models.get("retrieval"), CAT, ["a", "b"], {"a": 0.5, "b": 0.5}),
    ]
    for record in records:
        ast.parse(snippets.snippet(record))
    with pytest.raises(ValueError, match="No snippet"):
        snippets.snippet({"task": "dance"})


@pytest.mark.parametrize("model", ["tiny-smolvlm", "tiny-gemma3", "tiny-qwen3.5"])
def test_vlm_caption_and_answer_snippets_reproduce_the_tabs(models, tmp_path, model):
    # A chat model in Caption (its answer started by the prompt, sampled) and in Ask (in Chinese).
    from ui.tabs.ask import vqa
    from ui.tabs.caption import caption

    kwargs = dict(
        model=model,
        prompt="a photo of",
        max_new_tokens=6,
        num_beams=1,
        do_sample=True,
        temperature=0.9,
        top_p=0.9,
        seed=4,
    )
    output, _ = caption(CAT, **kwargs)
    settings = {k: v for k, v in kwargs.items() if k != "model"}
    record = snippets.caption_record(models.get("caption", model), CAT, output, **settings)
    (tmp_path / "caption").mkdir()
    assert record["instruction"] and run(snippets.snippet(record), tmp_path / "caption") == output
    answer = vqa(CAT, "这是什么动物？", model=model)
    record = snippets.vqa_record(models.get("vqa", model), CAT, "这是什么动物？", answer)
    assert "请用一个词或短语回答" in record["instruction"]
    (tmp_path / "vqa").mkdir()
    assert run(snippets.snippet(record), tmp_path / "vqa") == answer


def test_search_and_listen_snippets_reproduce_the_tabs(models, tmp_path):
    # A zero-shot classification and a search by image + text over the bundled gallery and an
    # added image, as the Search tab runs them, and a transcription as the Listen tab runs it;
    # the programs in one interpreter (importing torch and transformers is most of a run).
    from types import SimpleNamespace

    from search.collections import Collections
    from ui.tabs import search

    output = search.classify(CAT, "cat, dog, an owl")
    classified = snippets.classify_record(models.get("retrieval"), CAT, list(output), output)

    collections = Collections(data_dir=settings.DATA_DIR / "snippet-search", bundled=IMAGES, library="")
    api = search.endpoints(SimpleNamespace(collections=collections))
    added = tmp_path / "Sommer am Meer.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(added)
    api.add_to_gallery([str(added)], request=None, progress=None)
    _, hits, _ = api.search(query="a cat", image=CAT, top_k=5, text_weight=0.3, request=None, progress=None)
    loaded = models.get("retrieval")
    found = collections.sources(loaded.pipeline, loaded.checkpoint.key, None)
    items = collections.named([{**i, "source": s} for s, index in found.items() for i in index.items()], None)
    assert added.name in [item["name"] for item in items]  # the page's name, not the stored copy's hash
    record = snippets.search_record(loaded, "a cat", CAT, 0.3, 5, items, hits)
    clip = str(ROOT / "assets" / "audio" / "what-animal.wav")
    heard = models.get("speech_recognition").pipeline(clip, language="auto")
    transcribed = snippets.transcribe_record(models.get("speech_recognition"), clip, "transcribe", heard)
    programs = [snippets.snippet(r) for r in (classified, record, transcribed)]
    printed = run("\n".join(programs), tmp_path).splitlines()
    assert printed[: len(output)] == [f"{k}: {v:.4f}" for k, v in output.items()]
    assert printed[len(output) : len(output) + len(hits)] == [f"{h['score']:.3f} · {h['name']}" for h in hits]
    segments = [f"{c['timestamp'][0]:.2f} -> {c['timestamp'][1]:.2f}  {c['text']}" for c in heard["chunks"]]
    assert printed[len(output) + len(hits) :] == [*segments, heard["text"]] and heard["text"]


def test_a_qwen_snippet_reads_images_at_the_apps_size_without_torchvision(models, tmp_path, monkeypatch):
    # The app reads Qwen's images at the registry's max_pixels; the program sets the same,
    # and loads the processor for images alone, so it runs where torchvision is missing.
    loaded = models.get("chat", "tiny-qwen3-vl")
    size = loaded.pipeline.processor.image_processor.size
    monkeypatch.setattr(size, "longest_edge", 32 * 32)
    turns = [{"role": "user", "text": "这是什么？", "images": [CAT]}]
    result = loaded.pipeline(turns, max_new_tokens=6)
    record = snippets.chat_record(loaded, result, turns, None)
    program = snippets.snippet(record)
    assert record["max_pixels"] == 32 * 32 and "AutoProcessor.from_pretrained" not in program
    assert run(program, tmp_path) == result["answer"]
