"""What classroom mode counts and keeps per student: requests and images in sliding
windows (``StudentLimits``) and the prompt log (``PromptLog``), a JSON-lines file only
the account running the app can read."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

from classroom.rules import Limits
from runtime.messages import InputError

log = logging.getLogger("playground.classroom")


class StudentLimits:
    """Sliding-window counts per student: requests in the last minute, images in the last hour."""

    def __init__(self, limits: Limits, clock=time.monotonic):
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self._requests: dict[str, deque[float]] = defaultdict(deque)
        self._images: dict[str, deque[tuple[float, int]]] = defaultdict(deque)

    def check(self, student: str, images: int = 0) -> None:
        """Count one request (making ``images`` images) for ``student``, or raise ValueError
        saying when they may try again."""
        now = self.clock()
        with self._lock:
            requests, made = self._requests[student], self._images[student]
            while requests and requests[0] <= now - 60:
                requests.popleft()
            while made and made[0][0] <= now - 3600:
                made.popleft()
            per_minute = self.limits.requests_per_minute
            if per_minute is not None and len(requests) >= per_minute:
                wait = requests[0] + 60 - now
                raise too_many_requests(per_minute, wait)
            per_hour = self.limits.images_per_hour
            if per_hour is not None and images:
                used = sum(count for _, count in made)
                if used + images > per_hour:
                    wait = made[0][0] + 3600 - now if made else 3600
                    raise too_many_images(per_hour, used, images, wait)
            requests.append(now)
            if images:
                made.append((now, images))


def too_many_requests(limit: int, wait: float) -> InputError:
    seconds = max(1, round(wait))
    return InputError(
        "classroom_requests",
        limit=limit,
        seconds=seconds,
    )


def too_many_images(limit: int, used: int, images: int, wait: float) -> InputError:
    minutes = max(1, round(wait / 60))
    return InputError(
        "classroom_images",
        limit=limit,
        used=used,
        asked=images,
        minutes=minutes,
    )


class PromptLog:
    """Appends one JSON line per request with text to a file only the teacher's account
    can read. Lines are appended whole under a lock; a crash can at worst cut the last line."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, entry: dict) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)


class SharedStudentLimits(StudentLimits):
    """``StudentLimits`` counted in the store the replicas share (SHARED_STATE), so a
    student's limits hold across replicas. While the store can't be reached (down, hung),
    this replica counts them itself, as one replica would: the teacher's limits are never
    skipped, and the lesson goes on (refusing every request would stop the whole class)."""

    def check(self, student: str, images: int = 0) -> None:
        from runtime.shared import SharedStateError, SharedWindows

        windows = []
        if self.limits.requests_per_minute is not None:
            windows.append((f"classroom:requests:{student}", 60, self.limits.requests_per_minute, 1))
        if self.limits.images_per_hour is not None and images:
            windows.append((f"classroom:images:{student}", 3600, self.limits.images_per_hour, int(images)))
        if not windows:
            return
        try:
            refused = SharedWindows.connect().hit(windows)
        except SharedStateError as error:
            log.warning("classroom limits counted on this replica alone: %s", error)
            return super().check(student, images)
        if refused is None:
            return
        index, wait, used = refused
        if windows[index][0].startswith("classroom:requests:"):
            raise too_many_requests(self.limits.requests_per_minute, wait)
        raise too_many_images(self.limits.images_per_hour, used, images, wait)


class SharedPromptLog(PromptLog):
    """``PromptLog`` in the store the replicas share (SHARED_STATE): every replica appends to
    one list; ``python -m classroom prompt-log`` writes it out as JSON lines. While the store
    can't be reached, entries go to the file the classroom names, on this replica, rather
    than being lost."""

    def write(self, entry: dict) -> None:
        from runtime.shared import SharedStateError, append_log

        try:
            append_log(json.dumps(entry, ensure_ascii=False))
        except SharedStateError as error:
            log.warning("prompt log entry kept in %s on this replica: %s", self.path, error)
            super().write(entry)
