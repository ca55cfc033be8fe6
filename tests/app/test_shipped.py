"""The app as users run it, not as the fixtures do.

Other tests point PLAYGROUND_DATA_DIR at a temporary folder, which Gradio always allows
to serve from; users get the default data dir under ``~/.cache``, which it doesn't. So
this test starts ``python app.py --profile tiny`` as ``make run`` does: a HOME outside
the temporary folder and outside the checkout, no data-dir override. It calls every
named endpoint once with valid input through gradio_client, downloads every file the
answers name and opens it (audio with soundfile, images with Pillow, JSON with json).
Then it does it all again in the Dockerfile's layout: the app copied into a folder of
its own under HOME, with the Dockerfile's environment variables.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from PIL import Image

from tests.conftest import IMAGES, ROOT, copy_of_app
from tools.loadtest import start_app

AUDIO = ROOT / "assets" / "audio" / "what-animal.wav"


def a_home() -> Path:
    """A new, empty HOME beside the real one: outside the temporary folder (which Gradio
    serves from) and outside the checkout (its working directory, which it serves too)."""
    home = Path.home() / ".cache" / f"playground-shipped-{uuid.uuid4().hex[:8]}"
    for inside in (Path(tempfile.gettempdir()), ROOT):
        if inside.resolve() in home.resolve().parents:
            pytest.fail(f"HOME {home} lies in {inside}: this test needs a HOME outside both")
    home.mkdir(parents=True)
    return home


def dockerfile_env(home: Path) -> dict[str, str]:
    """The Dockerfile's ENV lines, with /home/user replaced by ``home``."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for name, value in re.findall(r"(\w+)=(\S+)", line[4:]):
                env[name] = value.replace("/home/user", str(home)).replace("$PATH", os.environ["PATH"])
    assert {"HOME", "PLAYGROUND_DATA_DIR", "HF_HOME"} <= set(env), env
    return env


def new_copy(name: str) -> Path:
    """A bundled image mirrored: content the gallery doesn't hold yet (the bundled file
    itself would be recognised and not added again)."""
    path = Path(tempfile.mkdtemp(prefix="shipped-image-")) / name
    with Image.open(IMAGES / name) as image:
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)
    return path


def zip_of(*names: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.write(new_copy(name), f"photos/{name}")
    path = Path(tempfile.mkdtemp(prefix="shipped-zip-")) / "photos.zip"
    path.write_bytes(buffer.getvalue())
    return str(path)


def calls(client: Client) -> dict:
    """One valid request per named endpoint, in an order where later ones use earlier results."""
    cat, clock = handle_file(str(IMAGES / "cat.jpg")), handle_file(str(IMAGES / "clock.jpg"))
    results = {}

    def call(endpoint: str, **kwargs):
        results[endpoint] = client.predict(**kwargs, api_name=endpoint)
        return results[endpoint]

    call("/caption", image=cat, max_new_tokens=8, num_beams=1)
    call("/explain_caption", image=cat, max_new_tokens=6)
    call("/vqa", image=cat, question="What animal is this?")
    call("/explain_vqa", image=cat, question="What animal is this?", candidates="cat, dog")
    _, history, _ = call("/chat", message="What is different?", images=[cat, clock], max_new_tokens=4)
    for item in history[0]["content"]:  # the conversation carried on: its files uploaded again
        if item.get("type") == "file":
            item["file"] = handle_file(item["file"])
    _, history, details = client.predict(message="And now?", history=history, max_new_tokens=3, api_name="/chat")
    for message in history:  # the maps read the conversation's images from the uploads again
        for item in message["content"]:
            if item.get("type") == "file":
                item["file"] = handle_file(item["file"])
    call("/explain_chat", history=history, details=details)
    call("/caption", image=cat, model="tiny-gemma3", max_new_tokens=4, num_beams=1)  # a chat model in Caption
    call("/text_to_image", prompt="a red fox", seed=3, num_inference_steps=2, timeline=True)
    call("/explain_text_to_image", prompt="a red fox", seed=3, num_inference_steps=2)
    call("/add_to_gallery", files=[handle_file(str(new_copy("horse.jpg")))])
    call("/index_zip", file=handle_file(zip_of("coins.jpg", "rocket.jpg")))
    call("/search_by_text", query="a clock", top_k=3)
    call("/search_by_image", image=clock, top_k=3)
    _, hits = call("/search", query="a clock", image=clock, top_k=3)
    call("/more_like_this", image_id=hits[0]["id"], top_k=3)
    call("/classify", image=cat, labels="cat, dog, bird")
    call("/classify_collection", labels="animal, object", examples=2)
    call("/similarity_matrix", images=[cat, clock], texts="a cat\na clock")
    call("/embedding_map", query="a cat", top_k=3)
    call("/transcribe", audio=handle_file(str(AUDIO)))
    call("/speak", text="A cat sits on the table.")
    call("/train_fusion", epochs=3, hidden_size=16)
    call("/compare_fusion", epochs=3, hidden_size=16)
    call("/train_contrastive", epochs=3)
    call("/lessons")
    call("/evaluate", tasks=["caption", "vqa"], limit=2)
    everything = client.predict(query="a horse", top_k=24, api_name="/search")[1]
    added = next(hit["id"] for hit in everything if hit["source"] == "yours")
    call("/remove_from_gallery", image_id=added)
    return results


def files_in(value, download_dir: Path) -> list[Path]:
    """Every file an answer names (gradio_client has downloaded each into ``download_dir``)."""
    if isinstance(value, str):
        path = Path(value)
        return [path] if path.is_absolute() and download_dir in path.parents else []
    if isinstance(value, dict):
        return [f for item in value.values() for f in files_in(item, download_dir)]
    if isinstance(value, (list, tuple)):
        return [f for item in value for f in files_in(item, download_dir)]
    return []


def open_file(path: Path) -> None:
    """Open a downloaded file with the library its kind needs; fail on an unknown kind."""
    assert path.is_file() and path.stat().st_size > 0, path
    suffix = path.suffix.lower()
    if suffix in (".wav", ".flac", ".ogg"):
        assert sf.info(str(path)).frames > 0
    elif suffix in (".png", ".jpg", ".jpeg", ".webp"):
        with Image.open(path) as image:
            image.load()
    elif suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif suffix in (".md", ".txt", ".py"):
        assert path.read_text(encoding="utf-8").strip()
    else:
        pytest.fail(f"a returned file of an unexpected kind: {path.name}")


def check_every_endpoint(url: str, log: Path) -> None:
    download_dir = Path(tempfile.mkdtemp(prefix="shipped-downloads-")).resolve()
    client = Client(url, verbose=False, download_files=str(download_dir))
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    results = calls(client)
    assert named == set(results), f"endpoints without a call here: {sorted(named - set(results))}"
    downloaded = [f for value in results.values() for f in files_in(value, download_dir)]
    for path in downloaded:
        open_file(path)
    kinds = {path.suffix.lower() for path in downloaded}
    assert {".wav", ".png", ".json", ".md"} <= kinds, kinds  # speech, images, records and reports
    printed = log.read_text(errors="replace")
    assert "InvalidPathError" not in printed and "Traceback" not in printed, printed[-3000:]
    shutil.rmtree(download_dir, ignore_errors=True)


@pytest.fixture
def home():
    home = a_home()
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_every_endpoint_as_make_run_starts_the_app(home):
    env = {"HOME": str(home)}
    with start_app("tiny", env=env, default_data_dir=True) as (url, process):
        check_every_endpoint(url, process.log_path)
    data_dir = home / ".cache" / "multimodal-playground"
    assert (data_dir / "outputs").is_dir(), "the default data dir was not used"


def test_every_endpoint_in_the_dockerfiles_layout(home):
    app = copy_of_app(home / "app")
    env = {**dockerfile_env(home), "MODEL_PROFILE": "tiny"}
    with start_app("tiny", env=env, default_data_dir=True, cwd=app) as (url, process):
        check_every_endpoint(url, process.log_path)
    assert (Path(env["PLAYGROUND_DATA_DIR"]) / "outputs").is_dir()
