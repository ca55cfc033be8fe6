"""Dynamic batching: requests that arrive together run through the model as one batch.

A captioning model takes about as long for 8 images as for 2 on a small CPU, and far
less than 8 separate calls on a GPU, so concurrent requests are worth merging. Each
request is handled in its own thread (Gradio runs several handlers at once); the
handler checks its own inputs, then calls ``BATCHER(fn, key, item)``. Requests with the
same ``key`` (the same pipeline and options) that are waiting when the model becomes
free are run together as ``fn([item, ...])``; every caller gets its own result, or its
own exception. A handler calls ``batched(loaded, fn, item, key)``, which also runs the
request alone where batching is off (MAX_BATCH_SIZE=1) or the model is on a server.

Why not Gradio's ``batch=True``: it fails every request of a batch when one of them
fails (gradio/queueing.py, ``process_events``), so one visitor's unreadable upload
would fail seven others'; and its validators answer clients with a different error
type than every other endpoint. Here bad input fails in its own handler, before
batching, and a batch that fails is retried one request at a time.

``DEVICE_LOCK`` is held while a model computes, by the batcher and by text-to-image:
one computation at a time on the device, so a GPU is never oversubscribed and two
jobs on a 2-core CPU don't halve each other's speed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from runtime import settings
from runtime.inputs import collect_notices

DEVICE_LOCK = threading.RLock()


@dataclass
class _Job:
    fn: Callable[[list], Any]
    key: Hashable
    item: Any
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class Batcher:
    """Runs concurrent calls as batches of at most ``max_batch_size`` items.

    No thread of its own: the first caller to find the model free runs a batch (its
    own request or older ones, oldest first) and hands the results out; the others
    wait for theirs, and one of them runs the next batch.
    """

    def __init__(self, max_batch_size: int = 8):
        self.max_batch_size = max(1, int(max_batch_size))
        self._pending: list[_Job] = []
        self._busy = False
        self._cond = threading.Condition()
        self.batch_sizes: list[int] = []  # sizes of the batches run so far (for tests and the Models panel)

    def __call__(self, fn: Callable[[list], Any], key: Hashable, item: Any) -> Any:
        """``fn([item, ...])[i]`` for this caller's ``item``; ``fn`` maps a list of items to
        a sequence of results in the same order."""
        job = _Job(fn, key, item)
        with self._cond:
            self._pending.append(job)
        while True:
            with self._cond:
                while self._busy and not job.done:
                    self._cond.wait()
                if job.done:
                    break
                self._busy = True
            try:
                # Wait for the device first (text-to-image may hold it): what arrives
                # meanwhile joins the batch.
                with DEVICE_LOCK:
                    with self._cond:
                        batch = self._take()
                    self._run(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        error, job.error = job.error, None
        if error is not None:
            # Not kept on the job: its traceback holds the frames that hold the jobs, a
            # cycle that would keep the failed call's tensors alive until the next gc.
            try:
                raise error
            finally:
                del error
        return job.result

    def _take(self) -> list[_Job]:
        """The oldest waiting job and the next ones with its key, up to the batch size."""
        key = self._pending[0].key
        batch = [job for job in self._pending if job.key == key][: self.max_batch_size]
        self._pending = [job for job in self._pending if job not in batch]
        return batch

    def _run(self, batch: list[_Job]) -> None:
        self.batch_sizes = [*self.batch_sizes[-999:], len(batch)]
        try:
            results = batch[0].fn([job.item for job in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
            for job, result in zip(batch, results, strict=True):
                job.result = result
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
            else:  # retry alone, so that a failure stays with the request that caused it
                for job in batch:
                    try:
                        job.result = job.fn([job.item])[0]
                    except Exception as own_error:
                        job.error = own_error
        for job in batch:
            job.done = True


def options_key(pipeline: Any, **options) -> tuple:
    """A batching key: the same pipeline object and the same options."""
    return (id(pipeline), *sorted(options.items()))


def batched(loaded: Any, fn: Callable[[list], Any], item: Any, key: Hashable) -> Any:
    """``fn([item])[0]``, run in one batch with concurrent requests to the same loaded
    model (a ``pipelines.cache.Loaded``: its ``batcher``, and whether it is ``remote``)
    with the same ``key``; alone when batching is off (MAX_BATCH_SIZE=1). Check ``item``
    before: a failure inside a batch is retried alone, but costs time."""
    if loaded.remote:  # a model server batches concurrent requests itself; in this request's thread, its notices
        return fn([item])[0]
    if settings.MAX_BATCH_SIZE <= 1:
        with DEVICE_LOCK:
            return _quietly(fn)([item])[0]
    return loaded.batcher(_quietly(fn), key, item)


def _quietly(fn: Callable[[list], Any]) -> Callable[[list], Any]:
    # A batch runs in one request's thread: the notices its pipeline gives about the
    # others' inputs would reach that request. Each request hears its own, once, from
    # the checks its handler runs before it joins a batch (or runs alone).
    def run(items):
        with collect_notices():
            return fn(items)

    return run
