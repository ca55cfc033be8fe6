"""Test set-up: offline, tiny models, and a private data directory.

The environment is set before any project module is imported, since settings and
huggingface_hub read it at import time.
"""

import atexit
import contextlib
import gc
import os
import shutil
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["MODEL_PROFILE"] = "tiny"
os.environ["GALLERY_MODE"] = "shared"
if "PLAYGROUND_DATA_DIR" not in os.environ:  # the suite's own, removed when it ends
    os.environ["PLAYGROUND_DATA_DIR"] = tempfile.mkdtemp(prefix="playground-tests-")
    atexit.register(shutil.rmtree, os.environ["PLAYGROUND_DATA_DIR"], ignore_errors=True)
for task in ("CAPTION", "VQA", "CHAT", "TEXT_TO_IMAGE", "RETRIEVAL", "SPEECH_RECOGNITION", "TEXT_TO_SPEECH"):
    os.environ.pop(f"MODEL_{task}", None)
    os.environ.pop(f"BACKEND_{task}", None)  # every task in this process, unless a test says otherwise
    os.environ.pop(f"BACKEND_{task}_MODEL", None)
os.environ.pop("SHARED_STATE", None)

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from tools.loadtest import free_port  # noqa: E402,F401  (tests import it from here)

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "assets" / "images"


def pytest_collection_finish(session):
    """Freeze what the imports made (torch, transformers, diffusers, gradio: some 370,000
    objects that live as long as the process) out of the garbage collector's way. Each
    full collection walked them all: Python's own, and the gc.collect() the app runs
    after a failure or an eviction (runtime.memory.release_memory, ui.handlers), half a
    second apiece, 20-30 s over the suite on 2 cores. What the tests make is collected as
    before, and the tests that check that memory is released still see it released."""
    gc.collect()
    gc.freeze()


# The files that take longest, longest first (make test's durations, 2 workers). `make
# test` hands whole files to its two workers (--dist loadfile) in the order collected
# (--no-loadscope-reorder: xdist's own order, most tests first, left these 1-3-test files
# to the end, where one worker ran them while the other had nothing left to do).
LONGEST_FIRST = (
    "tests/app/test_walkthrough.py",
    "tests/app/test_class_load.py",
    "tests/app/test_browser_i18n.py",
    "tests/app/test_model_servers.py",
    "tests/app/test_shipped.py",
    "tests/ui/test_lessons_browser.py",
    "tests/app/test_chat_browser.py",
    "tests/app/test_bad_input.py",
    "tests/ui/test_lessons_tab.py",
    "tests/app/test_classroom_browser.py",
    "tests/app/test_first_download.py",
    "tests/app/test_sessions.py",
    "tests/app/test_replicas.py",
    "tests/app/test_abuse.py",
    "tests/app/test_fair_share.py",
    "tests/app/test_browser.py",
)


def pytest_collection_modifyitems(items):
    first = {path: rank for rank, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: first.get(item.nodeid.split("::")[0], len(first)))  # stable: the rest as found


@pytest.fixture(scope="session")
def models():
    """The app's model cache under the tiny profile."""
    from pipelines.cache import MODELS

    MODELS.configure("tiny")
    return MODELS


@pytest.fixture
def cat_path() -> str:
    return str(IMAGES / "cat.jpg")


@pytest.fixture
def cat(cat_path) -> Image.Image:
    return Image.open(cat_path).convert("RGB")


@contextlib.contextmanager
def launch_app(data_dir: Path, *args: str, env: dict | None = None, cwd: Path = ROOT):
    """Start the real app as a user would (`python app.py --profile tiny ARGS`, in ``cwd``)
    on a free port with its own data directory; yield its URL, stop it afterwards."""
    from tools.loadtest import start_app

    with start_app("tiny", env=env, data_dir=data_dir, args=args, cwd=cwd) as (url, _):
        yield url


def copy_of_app(folder: Path) -> Path:
    """The checkout copied to ``folder`` as the Dockerfile copies it (.dockerignore's
    entries left out), for tests that run the app from another place."""
    import shutil

    ignored = (ROOT / ".dockerignore").read_text().split()
    shutil.copytree(ROOT, folder, ignore=shutil.ignore_patterns(*[p.removeprefix("**/") for p in ignored]))
    return folder


@pytest.fixture(scope="session")
def app_process(tmp_path_factory):
    """The real app, started as a user would (`python app.py --profile tiny`), on a free
    port: (url, process). One for the whole session: every test of the app with its
    default settings shares it (the load test reads its memory through the process).
    Tests of other settings (a password, rate limits, a classroom file) start their own."""
    from tools.loadtest import start_app

    with start_app("tiny", data_dir=tmp_path_factory.mktemp("app-data")) as (url, process):
        yield url, process


@pytest.fixture(scope="session")
def app_url(app_process):
    return app_process[0]


@pytest.fixture(scope="session")
def client(app_url):
    """A gradio_client for the app, without the certificate context gradio_client would
    build for every request (see tools.loadtest.loopback_client: the app is on this
    machine, over plain HTTP; that context was a third of each call's time)."""
    from tools.loadtest import loopback_client

    return loopback_client(app_url)


# --- The app in this process, for tests that reach into its models (#8) ---


@pytest.fixture(scope="session")
def live(models):
    """A gradio_client connected to the app running in this test process, so a test can
    break or tune its models (fault injection, safety thresholds) between calls."""
    from tools.loadtest import loopback_client
    from ui import build_demo, launch_kwargs

    demo = build_demo("tiny")
    demo.queue(max_size=16, default_concurrency_limit=1, api_open=False)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo))
    try:
        yield loopback_client(f"http://127.0.0.1:{port}/")
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, for the browser tests (which skip without it)."""
    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


class ThroughTheChain:
    """A tab's handlers (an ``endpoints(ctx)`` object, or a module) as the app calls them:
    through ui/chain.py (errors as messages, notices as warnings), outside any request and
    classroom. ``api.name(...)`` calls ``name`` as a request of the page would."""

    def __init__(self, api):
        self.api = api

    def __getattr__(self, name: str):
        import functools

        from classroom.policy import ClassroomPolicy
        from ui.chain import endpoint
        from ui.context import Context

        ctx = Context(None, ClassroomPolicy(None), None, None)
        return functools.partial(endpoint(getattr(self.api, name), ctx, []), None)  # no request: as it stands
