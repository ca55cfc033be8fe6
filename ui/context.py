"""What ``build_demo`` makes once per app and hands to every tab: the classroom's rules,
the search collections, the Fusion lab, and the lessons with every tab's endpoints. Besides the model cache (pipelines/cache.py,
the one mutable global), these are the app's only long-lived objects; values that
belong to one visitor travel in ``gr.State`` or in an event's own outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from classroom.policy import ClassroomPolicy
from labs.fusion import FusionLab
from lessons.files import Lesson
from search.collections import Collections


@dataclass(frozen=True)
class Context:
    profile: str | None  # the profile asked for (None: MODEL_PROFILE)
    classroom: ClassroomPolicy  # with no rules outside classroom mode
    collections: Collections  # each visitor's gallery, library and indexes
    lab: FusionLab  # the Fusion lab's features, cached on disk
    lessons: tuple[Lesson, ...] = ()  # the Lessons tab's, built-in and the classroom's, checked
    # every tab of the app (shown or not) -> its endpoints -> their parameters, for lessons
    endpoints: dict[str, dict[str, list[str]]] = field(default_factory=dict)
