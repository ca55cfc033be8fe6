"""The queue's fair share (issue 36, finding 0): a class behind one address is many
visitors, not one client; each visitor gets their turn, so one visitor's long jobs
never hold another's short one; a flood from one address is still bounded."""

import threading
import time
from types import SimpleNamespace

import httpx
import pytest
from gradio_client import Client

from tools.loadtest import start_app
from ui.server.queue import QueueShare, in_turns

LONG = dict(strategy="hybrid", hidden_size=256, epochs=200, api_name="/train_fusion")  # stops at JOB_TIME_LIMIT


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    env = {"QUEUE_PER_CLIENT": "3", "QUEUE_PER_ADDRESS": "40", "JOB_TIME_LIMIT": "2", "RATE_LIMIT": ""}
    with start_app(env=env, data_dir=tmp_path_factory.mktemp("fair")) as (url, _):
        yield url


def job(visitor: str, address: str = "10.0.0.1", n: int = 0):
    request = SimpleNamespace(headers={}, client=SimpleNamespace(host=address))
    return SimpleNamespace(
        session_hash=visitor, _id=f"{visitor}-{n}", username=None, request=request, name=f"{visitor}{n}"
    )


def test_jobs_are_taken_in_turns_per_visitor():
    line = [job("a", n=0), job("a", n=1), job("a", n=2), job("b", n=0), job("c", n=0), job("b", n=1)]
    assert [e.name for e in in_turns(line, running=[])] == ["a0", "b0", "c0", "a1", "b1", "a2"]
    # A visitor with a job running waits behind those who have none running.
    assert [e.name for e in in_turns([job("a", n=1), job("b", n=0)], running=["session:a"])] == ["b0", "a1"]


def test_visitors_behind_one_address_have_their_own_share():
    share = QueueShare(per_client=2, per_address=5, grace=10)
    request = SimpleNamespace(headers={}, cookies={}, client=SimpleNamespace(host="10.0.0.1"))
    queued = [job("a", n=0), job("a", n=1), job("b", n=0)]
    mine = lambda visitor: SimpleNamespace(visitor=f"session:{visitor}", address="10.0.0.1")  # noqa: E731
    assert "QUEUE_PER_CLIENT=2" in share.refusal(mine("a"), queued, request)
    assert share.refusal(mine("b"), queued, request) is None  # same address, another visitor
    flood = queued + [job(v) for v in "cd"]
    assert "QUEUE_PER_ADDRESS=5" in share.refusal(mine("e"), flood, request)


def test_a_class_behind_one_address_is_served(app):
    # Sixteen students on 127.0.0.1, two requests each at once: 32 jobs from one address,
    # more than one client's share; each student has their own.
    clients = [Client(app, verbose=False) for _ in range(16)]
    clients[0].predict(query="a cat", top_k=2, api_name="/search_by_text")  # the model loaded first
    jobs = [c.submit(query="a cat", top_k=2, api_name="/search_by_text") for c in clients for _ in range(2)]
    failures = []
    for submitted in jobs:
        try:
            submitted.result(timeout=300)
        except Exception as error:  # noqa: BLE001 (every failure is reported)
            failures.append(str(error))
    assert not failures, failures


def test_one_visitors_long_jobs_do_not_hold_anothers_short_one(app):
    hog, student = Client(app, verbose=False), Client(app, verbose=False)
    finished = []

    def wait(name, submitted):
        submitted.result(timeout=300)
        finished.append(name)

    long_jobs = [hog.submit(**LONG) for _ in range(3)]
    time.sleep(1.0)  # the first long job is running, two wait
    short = student.submit(query="a cat", top_k=2, api_name="/search_by_text")
    threads = [threading.Thread(target=wait, args=(f"long{i}", j)) for i, j in enumerate(long_jobs)]
    threads.append(threading.Thread(target=wait, args=("short", short)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    # First come, first served would answer the student after all three long jobs.
    assert finished.index("short") <= 1, finished


def test_one_address_can_not_flood_the_queue(app):
    # Plain HTTP calls without a session from one address are one visitor: the fourth is refused.
    session = httpx.Client(base_url=app, timeout=30)
    parameters = Client(app, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    wanted = {"strategy": "hybrid", "hidden_size": 256, "epochs": 200}
    body = {
        "data": [
            wanted.get(p["parameter_name"], p["parameter_default"]) for p in parameters["/train_fusion"]["parameters"]
        ]
    }
    codes = [session.post("gradio_api/call/train_fusion", json=body) for _ in range(4)]
    assert [c.status_code for c in codes[:3]] == [200] * 3
    assert codes[3].status_code == 503 and "QUEUE_PER_CLIENT=3" in codes[3].text, codes[3].text
