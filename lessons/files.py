"""Lesson files: their format, checked with pydantic, and reading them.

A lesson is a short sequence of steps, in English and Chinese. A step has a few
sentences, a formula where it helps, and a *Try it* that switches to a tab, fills in
its inputs and runs it (ui/tabs/lessons.py does that). The built-in lessons are in
``lessons/builtin/``; a teacher adds their own through the classroom file's
``lessons:`` key (classroom/rules.py). A file looks like this (docs/lessons.md has more):

    id: joint-embedding                  # lower-case letters, digits and dashes; unique
    title: {en: One space for pictures and words, zh-CN: 图片和文字共用一个空间}
    summary: {en: ..., zh-CN: ...}       # optional: one sentence under the title
    steps:
      - title: {en: ..., zh-CN: ...}
        text: {en: ..., zh-CN: ...}      # Markdown; $...$ for maths in a sentence
        formula: \\cos(u, v) = ...        # optional LaTeX, shown on a line of its own
        try:                             # optional: the step's Try it button
          tab: search                    # the tab's id
          run: similarity_matrix         # the endpoint it runs; the tab's button for it is pressed
          inputs: {texts: "a cat"}       # the endpoint's parameters, by name; the others keep their defaults
          files: {images: [cat.jpg]}     # parameters that take files: pictures in assets/images, clips in assets/audio
          optional: true                 # the tab may be missing from this app: the step then says so

A text given as one string is the same in both languages. Everything is checked when
the app starts: this module checks the format, ui/tabs/lessons.py that each tab,
endpoint and parameter exists. A file with mistakes stops the app with every problem
listed (``LessonError``), as a classroom file does. Nothing here uses Gradio.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from runtime import settings

LANGUAGES = ("en", "zh-CN")
BUILTIN_DIR = Path(__file__).parent / "builtin"
MAX_STEPS = 12
# A lesson's file is a few kilobytes, its YAML nested 6 levels deep (steps, a step, try,
# inputs, a list): both are bounded before the file is parsed, so a runaway file is a
# problem in the list, never a crash of the parser (PyYAML builds nested values recursively).
MAX_FILE_BYTES = 256_000
MAX_DEPTH = 12
FILE_DIRS = (settings.EXAMPLE_IMAGES_DIR, settings.EXAMPLE_AUDIO_DIR)  # where a step's files are looked up


class LessonError(ValueError):
    """Lesson files the app can't use; the message lists every problem, file by file."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("the lessons can't be used as they are:\n" + "\n".join(f"  - {p}" for p in problems))


def _localized(value: Any) -> Any:
    """A text in both languages: one string for both, or {en: ..., zh-CN: ...}; a
    language left out falls back to the other."""
    if isinstance(value, str):
        value = {language: value for language in LANGUAGES}
    if not isinstance(value, dict):
        return value  # pydantic says what it expected
    if unknown := [key for key in value if key not in LANGUAGES]:
        raise ValueError(f"unknown language {unknown[0]!r}; languages = {list(LANGUAGES)}")
    if not value:
        raise ValueError(f"give the text in {' or '.join(LANGUAGES)}")
    if any(not isinstance(text, str) or not text.strip() for text in value.values()):
        raise ValueError("every text must be a non-empty string")
    return {language: value.get(language) or next(iter(value.values())) for language in LANGUAGES}


# HTML a lesson's Markdown may hold: these tags, without attributes (no style, no event,
# no link); nothing that can draw over the page (a full-page overlay, position: fixed) or
# ask for anything (a form, an input, a password box). Markdown says the rest.
HTML_TAGS = ("b", "i", "em", "strong", "u", "s", "sub", "sup", "small", "mark", "code", "kbd", "br")
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>?")  # what an HTML parser reads as a tag, comment or declaration
_ALLOWED = re.compile(rf"</?({'|'.join(HTML_TAGS)})\s*/?>|<https?://[^\s<>]+>", re.IGNORECASE)  # and autolinks


def check_markdown(text: str) -> str:
    """``text`` (Markdown shown to students), refused (ValueError) if it holds HTML beyond
    ``HTML_TAGS`` without attributes. Gradio's own sanitiser keeps styles, forms and inputs."""
    for match in _TAG.finditer(text):
        if not _ALLOWED.fullmatch(match.group()):
            shown = match.group() if len(match.group()) <= 60 else match.group()[:57] + "..."
            raise ValueError(
                f"HTML {shown!r} is not allowed here: write Markdown (HTML only as "
                f"{', '.join(f'<{tag}>' for tag in HTML_TAGS)}, without attributes; for 'less than' in "
                "a formula write \\lt or a space after <)"
            )
    return text


def _markdown_texts(value: dict[str, str]) -> dict[str, str]:
    for text in value.values():
        check_markdown(text)
    return value


Localized = Annotated[dict[str, str], BeforeValidator(_localized), AfterValidator(_markdown_texts)]
Value = bool | int | float | str | list[bool | int | float | str] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TryIt(_Strict):
    tab: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    run: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    inputs: dict[str, Value] = {}
    files: dict[str, str | list[str]] = {}
    optional: bool = False

    @field_validator("files")
    @classmethod
    def _files_exist(cls, files: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for name, value in files.items():
            for item in [value] if isinstance(value, str) else value:
                if Path(item).name != item or item.startswith("."):
                    raise ValueError(f"{name}: {item!r} must be a file name, with no folder")
                if find_file(item) is None:
                    folders = " or ".join(f"assets/{d.name}" for d in FILE_DIRS)
                    raise ValueError(f"{name}: no file named {item!r} in {folders}")
        return files

    @model_validator(mode="after")
    def _one_value_each(self) -> TryIt:
        if both := sorted(set(self.inputs) & set(self.files)):
            raise ValueError(f"{both[0]!r} is given in both inputs and files; give it once")
        return self

    def values(self) -> dict[str, Any]:
        """Every parameter the step sets, files as paths on the server."""
        files = {
            name: [str(find_file(v)) for v in value] if isinstance(value, list) else str(find_file(value))
            for name, value in self.files.items()
        }
        return {**self.inputs, **files}


class Step(_Strict):
    title: Localized
    text: Localized
    formula: Annotated[str, AfterValidator(check_markdown)] | None = None  # shown inside $$...$$: Markdown too
    try_it: TryIt | None = Field(default=None, alias="try")


class Lesson(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)
    title: Localized
    summary: Localized | None = None
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    source: Path | None = Field(default=None, exclude=True)  # the file it came from (set by read)


def find_file(name: str) -> Path | None:
    """The picture or clip a step names, in the app's example folders."""
    for folder in FILE_DIRS:
        if (folder / name).is_file():
            return folder / name
    return None


def builtin_paths() -> list[Path]:
    return sorted(BUILTIN_DIR.glob("*.yaml"))


def shown_name(path: Path) -> str:
    """A file as problems name it: from the app's folder when it is in it, else its name."""
    try:
        return path.resolve().relative_to(settings.ROOT).as_posix()
    except ValueError:
        return path.name


def read(paths: list[Path]) -> tuple[list[Lesson], list[str]]:
    """The lessons in ``paths``, and every problem found (one line each, naming the file
    and where in it); a file with a problem gives no lesson."""
    lessons, problems, seen = [], [], {}
    for path in paths:
        path = Path(path).expanduser()
        name = shown_name(path)
        try:
            lesson = _read_one(path, name)
        except LessonError as error:
            problems += error.problems
            continue
        if lesson.id in seen:
            problems.append(
                f"{name}: id: {lesson.id!r} is already the id of {seen[lesson.id]}; each lesson needs its own"
            )
            continue
        seen[lesson.id] = name
        lessons.append(lesson)
    return lessons, problems


def load(paths: list[Path]) -> list[Lesson]:
    """``read``, raising LessonError with every problem when there is one."""
    lessons, problems = read(paths)
    if problems:
        raise LessonError(problems)
    return lessons


def _read_one(path: Path, name: str) -> Lesson:
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise LessonError([f"{name}: a lesson file is YAML (.yaml, .yml) or JSON (.json)"])
    try:
        if (size := path.stat().st_size) > MAX_FILE_BYTES:
            raise LessonError(
                [f"{name}: the lesson file has {size:,} bytes; a lesson file may have at most {MAX_FILE_BYTES:,}"]
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LessonError([f"{name}: the lesson file does not exist ({path})"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise LessonError([f"{name}: the lesson file can't be read: {error}"]) from None
    try:
        _check_shape(text, name)
        data = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise LessonError([f"{name}: not valid YAML{where}: {getattr(error, 'problem', error)}"]) from None
    if not isinstance(data, dict):
        raise LessonError([f"{name}: must hold a lesson (id, title, steps), not {type(data).__name__}"])
    try:
        lesson = Lesson.model_validate(data)
    except ValidationError as error:
        raise LessonError([f"{name}: {_describe_error(e)}" for e in error.errors()]) from None
    return lesson.model_copy(update={"source": path.resolve()})


def _check_shape(text: str, name: str) -> None:
    """Refuse YAML nested deeper than ``MAX_DEPTH`` or using aliases, from the parser's
    events (read one by one, without recursion), before anything is built from them."""
    depth = 0
    for event in yaml.parse(text):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1
            raise LessonError(
                [
                    f"{name}: line {line}: anchors and aliases (&name, *name) are not used in lesson "
                    "files; write the value out"
                ]
            )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1
                raise LessonError(
                    [
                        f"{name}: line {line}: nested more than {MAX_DEPTH} levels deep; a lesson "
                        "needs about 6 (steps, a step, try, inputs, a list)"
                    ]
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _describe_error(error: dict) -> str:
    """One pydantic error as `where: what` (``steps.2.try.tab: ...``), steps counted from 1."""
    loc = [
        str(part + 1) if isinstance(part, int) and i > 0 and error["loc"][i - 1] == "steps" else str(part)
        for i, part in enumerate(error["loc"])
    ]
    loc = [part for part in loc if not part.startswith("function-")]
    where = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        sections = {"try": TryIt, "steps": Step}
        parent = next((sections[p] for p in reversed(loc[:-1]) if p in sections), Lesson)
        allowed = [field.alias or name for name, field in parent.model_fields.items() if name != "source"]
        return f"{where}: unknown key; allowed here: {', '.join(allowed)}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] not in ("value_error", "missing") and not isinstance(error.get("input"), (dict, list, type(None))):
        message += f" (got {error['input']!r})"
    return f"{where}: {message}"
