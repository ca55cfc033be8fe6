"""A fair queue: no client holds more than its share, and nobody's job runs for a client
that is no longer there.

Gradio's queue (``demo.queue(max_size=...)``) bounds the jobs of everyone together, so
one client joining a hundred times fills it for everyone. ``QueueShare`` adds to it:

- each client (its login name, else the address the Guard decided, see
  ``ui/server/security.py``) may have at most QUEUE_PER_CLIENT jobs waiting or running
  at once; one more is answered "busy" at once, with the reason;
- a job that reaches the front of the queue with nobody listening for its result (no
  open result stream for its session or event, LISTEN_GRACE seconds after it joined)
  is dropped instead of run: its client has gone, or never meant to read it. Gradio
  itself drops the waiting jobs of a client whose stream closes, and stops a streaming
  handler (training curves) once its client has left; a one-shot handler already
  running runs to its end, which ``deadline`` bounds (JOB_TIME_LIMIT).

The Guard counts the result streams as they open and close (``Listeners``); the queue
is wrapped where Gradio makes it (``install``), so ``demo.queue(...)`` in app.py and in
the tests gets the share too.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import urllib.parse
from collections import Counter

from runtime import settings
from runtime.inputs import identity
from ui.i18n import t
from ui.server.language import locale_of

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


def client_of(request, username: str | None) -> str:
    """Whose a queued job is: the login name, else the connection's address (decided by the Guard)."""
    if username:
        return "user:" + identity(username)
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


class QueueShare:
    def __init__(self, per_client: int | None = None, grace: float | None = None):
        self.per_client = settings.QUEUE_PER_CLIENT if per_client is None else per_client
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

    def wrap(self, queue) -> None:
        if getattr(queue, "shared_fairly", False):
            return
        push, get_events = queue.push, queue.get_events

        async def fair_push(body, request, username):
            if self.per_client > 0:
                mine = client_of(request, username)
                held = sum(client_of(e.request, e.username) == mine for e in list(queue.event_ids_to_events.values()))
                if held >= self.per_client:
                    english = (
                        f"You already have {held} requests waiting or running, the most one client may have at "
                        f"once (QUEUE_PER_CLIENT={self.per_client}); wait for one to finish."
                    )
                    said = t("messages.queue_full", locale_of(request)).format(held=held, limit=self.per_client)
                    return False, said if locale_of(request) != "en" else english, "queue_full"
            return await push(body, request, username)

        def listened_get_events():
            # Called by Gradio's queue loop under its delete lock, before it starts a job.
            now = time.monotonic()
            for event_queue in queue.event_queue_per_concurrency_id.values():
                for event in list(event_queue.queue):
                    if now - event.enqueue_time > self.grace and not self.listeners.listening(event):
                        event_queue.queue.remove(event)
                        queue.event_ids_to_events.pop(event._id, None)
                        queue.pending_event_ids_session.get(event.session_hash, set()).discard(event._id)
                        self.dropped += 1
                        log.info("dropped a %s job: nobody was listening for its result", event.fn.api_name)
            return get_events()

        queue.push, queue.get_events = fair_push, listened_get_events
        queue.shared_fairly = True


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

    def describe(self) -> str:
        return f"{self.seconds:g} s, the time one request may take on this server (JOB_TIME_LIMIT)"
