"""A hung Redis (SHARED_STATE) holds only the requests that wait on it, never the app: the
real app started against a TCP server that accepts connections and never answers, as a
Redis stuck in a long command or behind a dropped network would.

Before, each check ran on the event loop and redis-py retried it with back-off: with 4
requests waiting on the store, another student's GET /config took 19.6 s and a login 20 s."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import launch_app

TIMEOUT = 15.0  # SHARED_STATE_TIMEOUT: what a call may wait for the store's answer
STUCK = 1.0  # SHARED_STATE_STUCK: a call unanswered this long makes the store count as stuck
RUNS = 10  # requests waiting on the store: more than its 8 threads (runtime/shared.py)


class HungServer:
    """Accepts connections, reads what they send, answers nothing."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.asked = threading.Semaphore(0)  # released once per connection that sent a command
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection):
        first = True
        while True:
            try:
                data = connection.recv(65536)
            except OSError:
                return
            if not data:
                return
            if first:
                self.asked.release()
                first = False

    def close(self):
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture(scope="module")
def hung_app(tmp_path_factory):
    server = HungServer()
    env = {
        "SHARED_STATE": f"redis://127.0.0.1:{server.port}/0",
        "SHARED_STATE_TIMEOUT": str(TIMEOUT),
        "SHARED_STATE_STUCK": str(STUCK),
        "RATE_LIMIT": "2/minute",
        "PLAYGROUND_AUTH": "ana:apple-pie",
    }
    try:
        with launch_app(tmp_path_factory.mktemp("hung-store"), env=env) as url:
            yield url, server
    finally:
        server.close()


def test_a_hung_store_holds_only_the_requests_waiting_on_it(hung_app):
    url, server = hung_app
    waiting = ThreadPoolExecutor(RUNS)
    # Runs, each counted against the rate limit in the store: each waits for its answer (more
    # of them than the app has threads for the store: the last wait for a thread as well).
    runs = [
        waiting.submit(httpx.post, f"{url}gradio_api/queue/join", json={}, timeout=4 * TIMEOUT) for _ in range(RUNS)
    ]
    assert server.asked.acquire(timeout=60), "no request asked the store"
    time.sleep(STUCK)  # the store has now left a call unanswered for STUCK s

    # Meanwhile another student logs in and loads the page: both answered well within the
    # time a call to the store may take, while the runs still wait on it.
    visitor = httpx.Client(base_url=url, timeout=TIMEOUT)
    started = time.monotonic()
    login = visitor.post("login", data={"username": "ana", "password": "apple-pie"})
    logged_in = time.monotonic() - started
    started = time.monotonic()
    config = visitor.get("config")
    loaded = time.monotonic() - started
    still_waiting = sum(not run.done() for run in runs)
    assert login.status_code == 200 and config.status_code == 200 and "components" in config.json()
    assert logged_in < TIMEOUT / 3 and loaded < TIMEOUT / 3, (logged_in, loaded)
    assert still_waiting >= 1  # answered while requests were waiting on the store

    # They are answered too once their calls time out: counted on this replica alone, so the
    # rate limit (2 a minute) still holds while the store is down.
    statuses = sorted(run.result().status_code for run in runs)
    assert statuses.count(429) == RUNS - 2, statuses
    waiting.shutdown()


@pytest.fixture
def unreachable_store(monkeypatch):
    """SHARED_STATE naming a port where nothing listens, with the client and its health fresh."""
    from runtime import settings, shared

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(settings, "SHARED_STATE", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(shared, "_HEALTH", shared._Health())  # noqa: SLF001
    shared._redis.cache_clear(), shared._windows.cache_clear()  # noqa: SLF001
    yield
    shared._redis.cache_clear(), shared._windows.cache_clear()  # noqa: SLF001


def test_without_the_store_the_classroom_counts_and_logs_on_this_replica(unreachable_store, tmp_path):
    """Never skipped, never lost: the teacher's limits hold as on one replica, and the prompt
    log's entries go to the classroom's file."""
    import json

    from classroom.records import SharedPromptLog, SharedStudentLimits
    from classroom.rules import Limits

    limits = SharedStudentLimits(Limits(requests_per_minute=2))
    limits.check("ana"), limits.check("ana")
    with pytest.raises(ValueError, match="2 requests in the last minute"):
        limits.check("ana")
    limits.check("ben")
    SharedPromptLog(tmp_path / "prompts.jsonl").write({"student": "ana", "prompt": "a fox"})
    assert json.loads((tmp_path / "prompts.jsonl").read_text(encoding="utf-8")) == {"student": "ana", "prompt": "a fox"}
