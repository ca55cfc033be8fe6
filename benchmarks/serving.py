"""Serving benchmarks on the running app (tiny profile, started as a user would):

- ``serve_caption``: 16 concurrent gradio_client clients calling /caption, requests per
  second with batching and its concurrency settings (the defaults) against the same app
  with them off (MAX_BATCH_SIZE=1: one request at a time);
- ``cold_start``: seconds from starting ``python app.py`` to the page answering HTTP 200,
  before any model is loaded (the target is under 5 s on a 2-core CPU), against the
  same start with PyTorch imported first, as the app started before it imported
  PyTorch only when a model loads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.common import IMAGES, result

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_page(url: str, process: subprocess.Popen, timeout: float = 120) -> float:
    start = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except OSError:
            pass
        if process.poll() is not None or time.perf_counter() - start > timeout:
            raise RuntimeError(f"the app at {url} did not start (exit code {process.poll()})")
        time.sleep(0.05)


@contextlib.contextmanager
def running_app(env: dict | None = None, import_torch_first: bool = False):
    """``python app.py --profile tiny`` on a free port in a private data directory; yields
    (url, seconds from start to HTTP 200) and stops the app afterwards."""
    command = [sys.executable, "app.py"]
    if import_torch_first:
        command = [
            sys.executable,
            "-c",
            "import sys, runpy, torch; sys.argv[0] = 'app.py'; runpy.run_path('app.py', run_name='__main__')",
        ]
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="playground-bench-") as data:
        environment = {
            **os.environ,
            "PLAYGROUND_DATA_DIR": data,
            "HF_HUB_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            **(env or {}),
        }
        start = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--profile", "tiny", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_for_page(url, process)
            yield url, time.perf_counter() - start
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _throughput(clients: list, image, requests_per_client: int) -> float:
    """Requests per second of every client sending ``requests_per_client`` captions at once."""
    errors: list[BaseException] = []

    def work(client):
        try:
            for _ in range(requests_per_client):
                client.predict(image=image, api_name="/caption")
        except BaseException as error:  # reported below, never silently
            errors.append(error)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]!r}")
    return len(clients) * requests_per_client / seconds


def run_serve_caption(quick: bool, peaks: dict, info: dict, clients: int = 16) -> list[dict]:
    from gradio_client import handle_file

    from tools.loadtest import loopback_client

    per_client = 2 if quick else 8
    rounds = 1 if quick else 3
    image = handle_file(str(IMAGES / "cat.jpg"))
    off = {"MAX_BATCH_SIZE": "1", "CONCURRENCY_LIMIT": "1"}
    with running_app() as (ours_url, _), running_app(off) as (baseline_url, _):
        pools = {
            name: [loopback_client(url) for _ in range(clients)]
            for name, url in (("ours", ours_url), ("baseline", baseline_url))
        }
        for pool in pools.values():  # warm-up: loads the model and the clients' upload caches
            _throughput(pool[:2], image, 1)
        rates = {"ours": [], "baseline": []}
        for i in range(rounds):  # alternating, so drift in the machine's speed hits both alike
            for name in ("ours", "baseline") if i % 2 == 0 else ("baseline", "ours"):
                rates[name].append(_throughput(pools[name], image, per_client))
    ours, baseline = statistics.median(rates["ours"]), statistics.median(rates["baseline"])
    return [
        result(
            "serve_caption",
            "requests/s",
            ours,
            baseline,
            info,
            higher_is_better=True,
            clients=clients,
            requests=clients * per_client * rounds,
            precision="tiny profile; batching on (MAX_BATCH_SIZE=8) vs off",
        )
    ]


def run_cold_start(quick: bool, peaks: dict, info: dict) -> list[dict]:
    times = {False: [], True: []}
    for i in range(1 if quick else 3):
        for eager in (False, True) if i % 2 == 0 else (True, False):
            with running_app(import_torch_first=eager) as (_, seconds):
                times[eager].append(seconds)
    ours, baseline = statistics.median(times[False]), statistics.median(times[True])
    return [
        result(
            "cold_start",
            "s to HTTP 200",
            ours,
            baseline,
            info,
            target="under 5 s",
            met=ours < 5,
            precision="tiny profile, no model loaded; baseline imports torch first",
        )
    ]
