"""Test set-up: offline, tiny models, and a private data directory.

The environment is set before any project module is imported, since settings and
huggingface_hub read it at import time.
"""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["MODEL_PROFILE"] = "tiny"
os.environ["GALLERY_MODE"] = "shared"
os.environ.setdefault("PLAYGROUND_DATA_DIR", tempfile.mkdtemp(prefix="playground-tests-"))
for task in ("CAPTION", "VQA", "TEXT_TO_IMAGE", "RETRIEVAL", "SPEECH_RECOGNITION", "TEXT_TO_SPEECH"):
    os.environ.pop(f"MODEL_{task}", None)

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "assets" / "images"


@pytest.fixture(scope="session")
def models():
    """The app's model cache under the tiny profile."""
    from pipelines.loading import MODELS

    MODELS.configure("tiny")
    return MODELS


@pytest.fixture
def cat_path() -> str:
    return str(IMAGES / "cat.jpg")


@pytest.fixture
def cat(cat_path) -> Image.Image:
    return Image.open(cat_path).convert("RGB")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def launch_app(data_dir: Path, *args: str, env: dict | None = None):
    """Start the real app as a user would (`python app.py --profile tiny ARGS`) on a free
    port with its own data directory; yield its URL, stop it afterwards."""
    port = free_port()
    env = {**os.environ, "PLAYGROUND_DATA_DIR": str(data_dir), "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    log = open(data_dir / "app.log", "wb")  # noqa: SIM115 (outlives this block: the app writes to it)
    process = subprocess.Popen(
        [sys.executable, "app.py", "--profile", "tiny", "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    import urllib.error
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except urllib.error.HTTPError:  # answering, behind a login
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("the app did not start:\n" + (data_dir / "app.log").read_text()[-3000:]) from None
            time.sleep(0.5)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The real app, started as a user would (`python app.py --profile tiny`), on a free port."""
    with launch_app(tmp_path_factory.mktemp("app-data")) as url:
        yield url


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)
