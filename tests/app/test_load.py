"""A short load test in CI: concurrent gradio_client clients on every endpoint for a few
seconds; no request may fail and the server's memory must level off (`python -m
tools.loadtest` runs the same for longer and prints the table the README shows).

It drives the app the other tests share (`python app.py --profile tiny`, the settings
`python -m tools.loadtest` starts the app with), which has served them before: the
memory must level off in an app that has been in use, not only in a fresh one. A class of
30 on an app of its own is tests/app/test_class_load.py."""

import pytest

from tools.loadtest import ENDPOINTS, run


def test_concurrent_clients_all_succeed_and_memory_levels_off(app_process):
    url, process = app_process
    result = run(url, clients=4, seconds=8, max_requests=400, pid=process.pid)
    print(result.markdown())
    assert result.errors == 0, result.error_messages
    assert result.successes >= 12  # every client got through several times
    assert set(result.latency_ms) == {*ENDPOINTS, "all"}  # every endpoint was called
    # After the warm-up (models loaded) memory may still settle a little, but the
    # second half of the run must not keep growing.
    memory = result.rss_mb
    assert memory["second_half_growth"] < max(64, 0.1 * memory["warm"]), memory


def test_the_load_test_refuses_other_machines():
    for url in ("http://example.com/", "http://10.0.0.1:7860/", "http://8.8.8.8/"):
        with pytest.raises(ValueError, match="only runs against this machine|resolve"):
            run(url, clients=1, seconds=1)
    with pytest.raises(ValueError, match="clients"):
        run("http://127.0.0.1:1/", clients=1000, seconds=1)
