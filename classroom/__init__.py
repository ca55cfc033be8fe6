"""Classroom mode: the teacher's settings file (``rules``), what is counted and kept per
student (``records``), and the rules enforced in the app for the page and the API alike
(``policy``)."""

from runtime.lazy import exports

_WHERE = {
    "Classroom": "classroom.rules",
    "ClassroomError": "classroom.rules",
    "load": "classroom.rules",
    "ClassroomPolicy": "classroom.policy",
}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
