"""What teaches step by step: lessons, as data files (``lessons/builtin/*.yaml`` and a
teacher's own, named in the classroom file), checked when the app starts. The Lessons
tab (ui/tabs/lessons.py) shows them, and each step's Try it runs a tab for the student."""

from runtime.lazy import exports

_WHERE = {
    "Lesson": "lessons.files",
    "LessonError": "lessons.files",
    "Step": "lessons.files",
    "TryIt": "lessons.files",
    "builtin_paths": "lessons.files",
    "load": "lessons.files",
    "read": "lessons.files",
}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
