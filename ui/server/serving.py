"""Batched endpoints: concurrent caption, VQA and search requests run through the model
as one batch (see runtime/batching.py for how, and why not Gradio's batch=True)."""

from __future__ import annotations

from pipelines.cache import Loaded
from runtime import settings
from runtime.batching import DEVICE_LOCK
from runtime.inputs import collect_notices


def batched(loaded: Loaded, fn, item, key):
    """``fn([item])[0]``, run in one batch with concurrent requests to the same loaded
    model with the same ``key`` (see runtime/batching.py); alone when batching is off
    (MAX_BATCH_SIZE=1). Check ``item`` before: a failure inside a batch is retried alone,
    but costs time."""
    if loaded.remote:  # a model server batches concurrent requests itself; in this request's thread, its notices
        return fn([item])[0]
    if settings.MAX_BATCH_SIZE <= 1:
        with DEVICE_LOCK:
            return _quietly(fn)([item])[0]
    return loaded.batcher(_quietly(fn), key, item)


def _quietly(fn):
    # A batch runs in one request's thread: the notices its pipeline gives about the
    # others' inputs would reach that request. Each request hears its own, once, from
    # the checks its handler runs before it joins a batch (or runs alone).
    def run(items):
        with collect_notices():
            return fn(items)

    return run


def batch_event() -> dict:
    """Event options of a batched endpoint: handlers enough for two batches (one running,
    one gathering), in their own concurrency group since the model itself runs one batch
    at a time (DEVICE_LOCK); with batching off, the one "model" group like every other."""
    if settings.MAX_BATCH_SIZE <= 1:
        return dict(concurrency_id="model")
    return dict(concurrency_id="batched", concurrency_limit=2 * settings.MAX_BATCH_SIZE)


def model_event(task: str) -> dict:
    """Event options of an endpoint that runs ``task``'s model: the one "model" group (one
    computation at a time in this process), or, when the task runs on a model server
    (BACKEND_<TASK>), its own group with BACKEND_CONCURRENCY requests in flight: the server
    batches them."""
    if task in settings.BACKENDS:
        return dict(concurrency_id=f"server-{task}", concurrency_limit=settings.BACKEND_CONCURRENCY)
    return dict(concurrency_id="model")
