"""The life of one request stays short to read (issue 34): a warm caption and a warm chat
request each cross at most 18 of the app's modules (``python -m tools.request_path`` names
them), and none of those that only a first use needs: the download and export progress
(runtime/download.py, runtime/ort.py) and the count of the model's memory (runtime/memory.py)."""

from tools.request_path import trace

FIRST_USE_ONLY = {"runtime/download.py", "runtime/ort.py", "runtime/memory.py"}


def test_a_warm_caption_and_chat_request_cross_few_modules():
    paths = trace()
    for name in ("caption", "chat"):
        crossed = list(paths[name])
        assert "ui/handlers.py" in crossed and "pipelines/cache.py" in crossed, (name, crossed)  # traced at all
        assert not FIRST_USE_ONLY & set(crossed), (name, crossed)
        assert len(crossed) <= 18, (name, crossed)
