"""A fair queue: each visitor gets their turn, no visitor or address holds more than its
share, and nobody's job runs for a client that is no longer there.

Gradio's queue (``demo.queue(max_size=...)``) bounds the jobs of everyone together and
runs each concurrency group first come, first served: one visitor who queues eight
long jobs makes everyone behind wait for all eight, and one client joining a hundred
times fills it for everyone. ``QueueShare`` adds to it, per visitor (a login, an MCP
agent or a page/API session: ``ui/server/limits.py``):

- **turns**: when a group can start a job, it starts the oldest job of the visitor with
  the fewest jobs running or ahead in line (round robin), so a student's short caption
  waits for at most one job of each other visitor, not for one visitor's whole backlog;
- **shares**: a visitor may have at most QUEUE_PER_CLIENT jobs waiting or running at
  once, and one address at most QUEUE_PER_ADDRESS (a flood guard, sized for a class
  behind one school NAT); one more is answered "busy" at once, with the reason;
- a job that reaches the front of the queue with nobody listening for its result (no
  open result stream for its session or event, LISTEN_GRACE seconds after it joined)
  is dropped instead of run: its client has gone, or never meant to read it. Gradio
  itself drops the waiting jobs of a client whose stream closes, and stops a streaming
  handler (training curves) once its client has left; a one-shot handler already
  running runs to its end, which ``deadline`` bounds (JOB_TIME_LIMIT).

Which jobs may run side by side is Gradio's own public option, each event's concurrency
group: ``batch_event`` and ``model_event`` say which group an endpoint joins.

Gradio 6.31 has no public hook for the order of its queue or for a per-visitor share
(``queue()`` takes a total ``max_size`` and per-group concurrency only). The two checks
therefore sit where Gradio takes a job in and where it picks the next one
(``install``); a gate inside the handlers instead would hide the waiting jobs from
Gradio's queue, so the position and ETA the page shows would be false, and a job
waiting there could not be cancelled. The Guard counts the result streams as they open
and close (``Listeners``). This is one of the two places the app reaches into Gradio
(tests/test_gradio_public.py names both, with this reason); it goes when Gradio's queue
takes an order or a per-visitor limit of its own.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import urllib.parse
from collections import Counter

from runtime import settings
from ui.i18n import t
from ui.server.language import locale_of
from ui.server.limits import caller, of_event

log = logging.getLogger("playground")
# The routes that stream a job's result: the page's and gradio_client's stream per
# session, and the plain-HTTP API's stream per event.
SESSION_STREAM = re.compile(r"^/gradio_api/queue/data/?$")
EVENT_STREAM = re.compile(r"^/gradio_api/call/(?:v2/)?[^/]+/([^/]+)/?$")


class Listeners:
    """Result streams open now, by session hash and by event id (thread-safe)."""

    def __init__(self):
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def key(path: str, query: bytes) -> str | None:
        """What a GET request to ``path`` listens for, if it is a result stream."""
        if SESSION_STREAM.match(path):
            session = urllib.parse.parse_qs(query.decode("latin-1")).get("session_hash", [""])[0]
            return f"session:{session}" if session else None
        if match := EVENT_STREAM.match(path):
            return f"event:{match.group(1)}"
        return None

    def opened(self, key: str) -> None:
        with self._lock:
            self._open[key] += 1

    def closed(self, key: str) -> None:
        with self._lock:
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    def listening(self, event) -> bool:
        with self._lock:
            return self._open[f"session:{event.session_hash}"] > 0 or self._open[f"event:{event._id}"] > 0


class QueueShare:
    def __init__(self, per_client: int | None = None, grace: float | None = None, per_address: int | None = None):
        self.per_client = settings.QUEUE_PER_CLIENT if per_client is None else per_client
        self.per_address = settings.QUEUE_PER_ADDRESS if per_address is None else per_address
        self.grace = settings.LISTEN_GRACE if grace is None else grace
        self.listeners = Listeners()
        self.dropped = 0  # jobs dropped because nobody listened (for tests and the log)

    def install(self, demo) -> None:
        """Wrap ``demo.queue`` so that every queue Gradio makes for ``demo`` is shared fairly."""
        make_queue = demo.queue

        def queue(*args, **kwargs):
            result = make_queue(*args, **kwargs)
            self.wrap(demo._queue)
            return result

        demo.queue = queue
        self.wrap(demo._queue)  # the one Blocks made for itself

    def refusal(self, mine, events, request) -> str | None:
        """Why the caller ``mine`` may not queue one more job beside ``events`` (the jobs
        waiting or running now), in the request's language; None if it may."""
        callers = [of_event(e) for e in events]
        held = sum(c.visitor == mine.visitor for c in callers)
        from_address = sum(c.address == mine.address for c in callers)
        locale = locale_of(request)
        if 0 < self.per_client <= held:
            return t("messages.queue_full", locale).format(held=held, limit=self.per_client)
        if 0 < self.per_address <= from_address:
            return t("messages.queue_full_address", locale).format(held=from_address, limit=self.per_address)
        return None

    def wrap(self, queue) -> None:
        if getattr(queue, "shared_fairly", False):
            return
        push, get_events = queue.push, queue.get_events

        async def fair_push(body, request, username):
            client = getattr(request, "client", None)
            mine = caller(getattr(body, "session_hash", None), username, request.headers, getattr(client, "host", None))
            reason = self.refusal(mine, list(queue.event_ids_to_events.values()), request)
            if reason is not None:
                return False, reason, "queue_full"
            return await push(body, request, username)

        def fair_get_events():
            # Called by Gradio's queue loop under its delete lock, before it starts a job.
            now = time.monotonic()
            running = [of_event(e).visitor for job in queue.active_jobs if job for e in job]
            for event_queue in queue.event_queue_per_concurrency_id.values():
                for event in list(event_queue.queue):
                    if now - event.enqueue_time > self.grace and not self.listeners.listening(event):
                        event_queue.queue.remove(event)
                        queue.event_ids_to_events.pop(event._id, None)
                        queue.pending_event_ids_session.get(event.session_hash, set()).discard(event._id)
                        self.dropped += 1
                        log.info("dropped a %s job: nobody was listening for its result", event.fn.api_name)
                event_queue.queue[:] = in_turns(event_queue.queue, running)
            return get_events()

        queue.push, queue.get_events = fair_push, fair_get_events
        queue.shared_fairly = True


def in_turns(events: list, running: list[str]) -> list:
    """``events`` (one group's line, oldest first) reordered in turns: each visitor's
    k-th job in line (counting those of theirs running now, ``running``) comes after
    every other visitor's (k-1)-th; first come, first served within a turn."""
    seen = Counter(running)
    turns = []
    for position, event in enumerate(events):
        visitor = of_event(event).visitor
        turns.append((seen[visitor], position, event))
        seen[visitor] += 1
    return [event for *_, event in sorted(turns, key=lambda turn: turn[:2])]


class Deadline:
    """The time budget of one request (JOB_TIME_LIMIT seconds; 0: none), for handlers
    whose cost grows with their arguments (training epochs x hidden size, evaluation
    items): they check it as they go, and stop or refuse, saying why."""

    def __init__(self, seconds: float | None = None, clock=time.monotonic):
        self.seconds = settings.JOB_TIME_LIMIT if seconds is None else seconds
        self.clock = clock
        self.start = clock()

    @property
    def passed(self) -> bool:
        return self.seconds > 0 and self.clock() - self.start > self.seconds


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
