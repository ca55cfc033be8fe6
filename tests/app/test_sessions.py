"""Session state is bounded (issue 36, finding 4): every API call without a session is a
fresh one, and Gradio kept 10,000 of them, each with its own copy of the page's
settings; the app's memory grew with every new visitor and never came back. With
SESSION_CAPACITY the sessions the app keeps are bounded, so calls from fresh sessions
cost no more memory than the same calls from one session."""

import json
import os
import uuid

import httpx
import psutil
import pytest

from tools.loadtest import start_app

CAPACITY = 20
CALLS = 120


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    env = {"SESSION_CAPACITY": os.environ.get("TEST_SESSION_CAPACITY", str(CAPACITY)), "RATE_LIMIT": ""}
    with start_app(env=env, data_dir=tmp_path_factory.mktemp("sessions")) as (url, process):
        yield url, process


def search(http: httpx.Client, session: str) -> None:
    """One /search_by_text call over plain HTTP in ``session``, read to its end."""
    joined = http.post("gradio_api/call/search_by_text", json={"data": ["a cat", 2, None], "session_hash": session})
    joined.raise_for_status()
    with http.stream("GET", f"gradio_api/call/search_by_text/{joined.json()['event_id']}") as stream:
        events = [line for line in stream.iter_lines() if line.startswith("event:")]
    assert events and events[-1] == "event: complete", events


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def test_fresh_sessions_cost_no_more_memory_than_one(app):
    url, process = app
    http = httpx.Client(base_url=url, timeout=120)
    for _ in range(CAPACITY + 10):  # warm: models loaded, the sessions kept are at capacity
        search(http, uuid.uuid4().hex)
    one = uuid.uuid4().hex
    before = rss_mb(process.pid)
    for _ in range(CALLS):
        search(http, one)
    same = rss_mb(process.pid) - before  # the baseline: what the calls cost in one session
    before = rss_mb(process.pid)
    for _ in range(CALLS):
        search(http, uuid.uuid4().hex)
    fresh = rss_mb(process.pid) - before
    print(json.dumps({"same_session_mb": round(same, 1), "fresh_sessions_mb": round(fresh, 1)}))
    # Unbounded, each fresh session kept about 1 MB (over 100 MB for these calls); bounded,
    # fresh sessions cost what one session's calls cost, with room for the allocator's noise.
    assert fresh <= max(2 * same, same + 16), (same, fresh)
