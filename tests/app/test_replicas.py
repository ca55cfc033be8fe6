"""Two replicas of the app behind one page agree (SHARED_STATE): a real Redis started here
(Debian's redis-server), two apps started as a user would with the same classroom file,
and a classroom limit, a rate limit and the prompt log counted across both."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import httpx
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.conftest import IMAGES, ROOT, free_port, launch_app
from tools.loadtest import loopback_client

PASSWORD = "letmein"
CLASSROOM = f"""
tabs: [caption, search]
limits:
  requests_per_minute: 2
password: {PASSWORD}
prompt_log: {{enabled: true, file: prompts.jsonl}}
"""
CAT = str(IMAGES / "cat.jpg")


@pytest.fixture(scope="module")
def redis_url():
    server = shutil.which("redis-server")
    assert server, "redis-server is needed (Debian: apt-get install redis-server; .ci/run installs it)"
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.time() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.time() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def replicas(redis_url, tmp_path_factory):
    """Two apps with one Redis, one data dir (the shared volume: the collections' indexes and
    image copies), one classroom file and a rate limit of 4 runs a minute per address."""
    folder = tmp_path_factory.mktemp("replicas")
    (folder / "lesson.yaml").write_text(CLASSROOM, encoding="utf-8")
    env = {
        "SHARED_STATE": redis_url,
        "RATE_LIMIT": "4/minute",
        "TRUSTED_PROXIES": "1",
        "PLAYGROUND_DATA_DIR": str(folder / "shared"),
        "GALLERY_MODE": "shared",
    }
    args = ("--classroom", str(folder / "lesson.yaml"))
    (folder / "a").mkdir(), (folder / "b").mkdir()
    with launch_app(folder / "a", *args, env=env) as a, launch_app(folder / "b", *args, env=env) as b:
        yield a, b


def student(url: str, name: str, address: str):
    """A gradio_client logged in as ``name`` from ``address`` (as behind the load balancer)."""
    http = httpx.Client(base_url=url, headers={"X-Forwarded-For": address}, timeout=60)
    http.post("login", data={"username": name, "password": PASSWORD}).raise_for_status()
    cookies = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    return loopback_client(url, headers={"X-Forwarded-For": address, "Cookie": cookies})


def caption(client) -> str:
    return client.predict(handle_file(CAT), prompt="a photo of", max_new_tokens=3, num_beams=1, api_name="/caption")


def test_a_classroom_limit_counted_on_one_replica_holds_on_the_other(replicas, redis_url):
    a, b = replicas
    on_a, on_b = student(a, "ana", "10.0.0.1"), student(b, "ana", "10.0.0.1")
    assert caption(on_a) and caption(on_b)  # 2 requests a minute: one on each replica
    with pytest.raises(AppError, match="2 requests in the last minute"):
        caption(on_a)
    assert caption(student(a, "ben", "10.0.0.1"))  # per student: ben still may

    # One prompt log, written by both replicas: ana's two answers and her refusal, in order.
    out = subprocess.run(
        [sys.executable, "-m", "classroom", "prompt-log"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"SHARED_STATE": redis_url, "PATH": ""},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    entries = [json.loads(line) for line in out.stdout.splitlines()]
    anas = [e for e in entries if e["student"] == "ana"]
    assert [("refused" in e) for e in anas] == [False, False, True] and anas[-1]["endpoint"] == "caption"


def test_a_rate_limit_counted_on_one_replica_holds_on_the_other(replicas):
    a, b = replicas
    address = "10.0.0.9"  # one address, four students: only the rate limit (4 a minute) applies
    for n, url in enumerate([a, b, a, b]):
        assert caption(student(url, f"s{n}", address))
    with pytest.raises(Exception, match="(?i)too many"):
        caption(student(a, "s4", address))
    assert caption(student(b, "s5", "10.0.0.10"))  # another address is counted apart


def test_an_image_added_on_one_replica_is_found_on_the_other(replicas, tmp_path):
    """The on-disk index in the shared data dir: a writer holds its file lock, a reader
    reloads when the manifest changed (search/index.py)."""
    from PIL import Image

    a, b = replicas
    path = tmp_path / "green-square.png"
    Image.new("RGB", (80, 80), (10, 200, 30)).save(path)
    student(a, "gia", "10.0.1.1").predict(files=[handle_file(str(path))], api_name="/add_to_gallery")
    hits = student(b, "hal", "10.0.1.2").predict(image=handle_file(str(path)), top_k=1, api_name="/search_by_image")
    assert float(hits[0]["caption"].split(" · ")[0]) == pytest.approx(1.0, abs=1e-3)


def test_the_shared_windows_are_atomic_across_clients(redis_url, monkeypatch):
    """Many threads, as many replicas: never more than the limit counted."""
    from concurrent.futures import ThreadPoolExecutor

    import redis

    from runtime.shared import SharedWindows

    windows = [SharedWindows(redis.Redis.from_url(redis_url, decode_responses=True)) for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: windows[n % 4].hit([("test:atomic", 60, 10, 1)]), range(40)))
    assert sum(r is None for r in results) == 10
    refused = [r for r in results if r is not None]
    assert all(index == 0 and 0 < wait <= 60 and used == 10 for index, wait, used in refused)
