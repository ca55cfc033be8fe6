"""Classroom mode: a teacher's settings file, validated, and the rules it sets.

A teacher starts the app with ``python app.py --classroom classroom.yaml`` (or sets
``CLASSROOM_FILE``). The file (YAML, JSON or TOML; see ``assets/classroom.example.yaml``)
says which tabs students see, which checkpoints they may pick, which parameters are
locked (to one value, a range or a list), limits per student, an optional class
password, whether to keep a prompt log, and the teacher's own lesson files (read and
checked by lessons/files.py when the app starts). pydantic validates it: an unknown key or a
bad value stops the app with a message that names the key and what is allowed.

Nothing here uses Gradio; ``classroom/policy.py`` applies the rules to the app, on the
server, for the UI and the API alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from lessons.files import check_markdown
from runtime import registry, settings
from runtime.messages import LOCALES, InputError, catalogue

FORMATS = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON", ".toml": "TOML"}
# Locks that set an app setting rather than a handler argument, with their values.
SETTING_LOCKS = {"safety_filter": ("on", "off")}
MAX_STUDENT_NAME = 40


class ClassroomError(ValueError):
    """The classroom settings file can't be used; the message says why and where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lock(_Strict):
    """A locked parameter: one ``value``, a ``min``/``max`` range, or a list of ``allowed`` values.
    In the file, a bare value (``guidance_scale: 0``) is short for ``{value: 0}``."""

    value: bool | int | float | str | None = None
    min: float | None = None
    max: float | None = None
    allowed: list[bool | int | float | str] | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):
            raise ValueError("a list of values is written as {allowed: [...]}")
        return data if isinstance(data, dict) else {"value": data}

    @model_validator(mode="after")
    def _one_kind(self) -> Lock:
        kinds = [self.value is not None, self.min is not None or self.max is not None, self.allowed is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of: a value, a range (min and/or max), or a list (allowed)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is larger than max ({self.max:g})")
        return self

    def describe(self, locale: str = "en") -> str:
        """The rule in ``locale``'s words (runtime/locales/<locale>/messages.json):
        "= 0", "one of 1, 2" / "取值之一：1、2", "1 to 2" / "1 到 2", "at least 1" / "至少 1"."""
        words = catalogue(locale)
        if self.value is not None:
            return f"= {self.value}"
        if self.allowed is not None:
            return words["rule_one_of"].format(values=words["list_separator"].join(map(str, self.allowed)))
        low, high = ("" if bound is None else f"{bound:g}" for bound in (self.min, self.max))
        if low and high:
            return words["rule_range"].format(low=low, high=high)
        return words["rule_at_least"].format(low=low) if low else words["rule_at_most"].format(high=high)

    def check(self, name: str, value: Any) -> None:
        """Raise ValueError, saying what the teacher allows, unless ``value`` obeys this lock."""
        said = dict(name=name, rule={locale: self.describe(locale) for locale in LOCALES})
        if value is None:
            raise InputError("classroom_lock_missing", **said)
        if self.value is not None or self.allowed is not None:
            allowed = [self.value] if self.value is not None else self.allowed
            if not any(_same(value, a) for a in allowed):
                raise InputError("classroom_lock", **said, value=repr(value))
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError("classroom_lock_number", **said, value=repr(value))
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise InputError("classroom_lock", **said, value=f"{value:g}")


def _same(a: Any, b: Any) -> bool:
    """Equal as the same kind of value: 2 == 2.0, but True is not 1 and "2" is not 2."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


class ModelRule(_Strict):
    """Which checkpoints of one task students may pick (registry keys, see the README)."""

    default: str | None = None  # the picker's first choice; the first allowed one when absent
    allowed: list[str] | None = Field(default=None, min_length=1)  # every checkpoint when absent

    @model_validator(mode="after")
    def _default_is_allowed(self) -> ModelRule:
        if self.default is not None and self.allowed is not None and self.default not in self.allowed:
            raise ValueError(f"default {self.default!r} is not in allowed {self.allowed}")
        return self


class Limits(_Strict):
    """Per student: the name typed at the login when there is a password, else the computer's address."""

    requests_per_minute: PositiveInt | None = None  # model calls, every tab together
    images_per_hour: PositiveInt | None = None  # images made in the Create tab (and the API)


class PromptLogSettings(_Strict):
    enabled: bool = False
    # A JSON-lines file; relative paths start at PLAYGROUND_DATA_DIR/classroom (never
    # beside the settings file, which may sit in a folder the app serves).
    # Default: PLAYGROUND_DATA_DIR/classroom/prompts.jsonl
    file: str | None = None


class Classroom(_Strict):
    """The whole settings file. Every key is optional; an absent key changes nothing."""

    # Markdown shown above the tabs, e.g. the lesson's task; HTML as in a lesson (a few tags, no attributes)
    message: Annotated[str, AfterValidator(check_markdown)] | None = None
    tabs: list[str] | None = Field(default=None, min_length=1)  # the tabs students see (ids); all when absent
    models: dict[Literal[registry.TASKS], ModelRule] = {}  # type: ignore[valid-type]
    locked: dict[str, Lock] = {}  # parameter name -> lock
    limits: Limits = Limits()
    password: str | None = Field(default=None, min_length=1)  # the class password (or CLASSROOM_PASSWORD)
    prompt_log: PromptLogSettings = PromptLogSettings()
    # The teacher's own lesson files (lessons/files.py), shown after the built-in ones;
    # relative paths start beside this file.
    lessons: list[str] = []
    source: Path | None = Field(default=None, exclude=True)  # the file it came from (set by load)

    @field_validator("prompt_log", mode="before")
    @classmethod
    def _log_shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value

    @field_validator("locked")
    @classmethod
    def _check_locks(cls, locked: dict[str, Lock]) -> dict[str, Lock]:
        for name, lock in locked.items():
            if name == "model":
                raise ValueError("checkpoints are chosen in the `models` section, per task, not locked as `model`")
            if name in SETTING_LOCKS and (lock.value is None or on_off(lock.value) not in SETTING_LOCKS[name]):
                raise ValueError(f"{name} is locked to one of {list(SETTING_LOCKS[name])}, not {lock.describe()}")
        return locked

    @field_validator("models")
    @classmethod
    def _check_models(cls, models: dict[str, ModelRule]) -> dict[str, ModelRule]:
        for task, rule in models.items():
            known = [c.key for c in registry.CHECKPOINTS.values() if c.task in registry.offered_tasks(task)]
            override = registry.override(task)
            for key in [rule.default, *(rule.allowed or [])]:
                if key is not None and key not in known and key != override:
                    raise ValueError(f"{task}: unknown checkpoint {key!r}; available for {task} = {known}")
        return models

    def setting_locks(self) -> dict[str, str]:
        """Locked app settings, e.g. {"safety_filter": "on"}."""
        return {name: on_off(lock.value) for name, lock in self.locked.items() if name in SETTING_LOCKS}

    def argument_locks(self) -> dict[str, Lock]:
        return {name: lock for name, lock in self.locked.items() if name not in SETTING_LOCKS}

    def the_password(self) -> str | None:
        return settings.CLASSROOM_PASSWORD or self.password

    def lesson_paths(self) -> list[Path]:
        folder = self.source.parent if self.source is not None else Path.cwd()
        return [path if (path := Path(p).expanduser()).is_absolute() else folder / path for p in self.lessons]

    def prompt_log_path(self) -> Path | None:
        if not self.prompt_log.enabled:
            return None
        folder = settings.DATA_DIR / "classroom"
        if self.prompt_log.file is None:
            return folder / "prompts.jsonl"
        path = Path(self.prompt_log.file).expanduser()
        return path if path.is_absolute() else (folder / path).resolve()


def on_off(value: Any) -> Any:
    """YAML reads `on` and `off` as booleans; all spellings mean the same here."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return value.strip().lower() if isinstance(value, str) else value


def load(path: str | Path) -> Classroom:
    """Read and validate a classroom settings file; ClassroomError says what is wrong."""
    path = Path(path).expanduser()
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ClassroomError(f"{path.name}: a classroom file must be YAML, JSON or TOML ({', '.join(FORMATS)}).")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClassroomError(f"The classroom file {str(path)!r} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ClassroomError(f"The classroom file {str(path)!r} can't be read: {error}") from None
    data = _parse(text, kind, path.name)
    if data is None:
        raise ClassroomError(f"{path.name} is empty; see assets/classroom.example.yaml for what it can say.")
    if not isinstance(data, dict):
        raise ClassroomError(f"{path.name} must hold settings (key: value), not a {type(data).__name__}.")
    try:
        classroom = Classroom.model_validate(data)
    except ValidationError as error:
        problems = "\n".join(f"  - {_describe_error(e)}" for e in error.errors())
        raise ClassroomError(f"{path.name} is not a valid classroom file:\n{problems}") from None
    return classroom.model_copy(update={"source": path.resolve()})


def _parse(text: str, kind: str, name: str) -> Any:
    try:
        if kind == "YAML":
            return yaml.safe_load(text)
        if kind == "JSON":
            return json.loads(text) if text.strip() else None
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise ClassroomError(
                f"{name}: reading TOML needs Python 3.11 or later; write it as YAML or JSON."
            ) from None
        return tomllib.loads(text) or None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ClassroomError(f"{name} is not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    except json.JSONDecodeError as error:
        raise ClassroomError(
            f"{name} is not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except ValueError as error:  # tomllib.TOMLDecodeError
        raise ClassroomError(f"{name} is not valid TOML: {error}") from None
    except RecursionError:  # the parsers build nested values recursively: a runaway file, not a crash
        raise ClassroomError(
            f"{name} is nested far too deeply to be a classroom file (a few levels: limits, locked, lessons)."
        ) from None


def _describe_error(error: dict) -> str:
    """One pydantic error as `where: what`, naming the keys allowed where a key is unknown."""
    loc = [str(part) for part in error["loc"] if part != "[key]"]
    where = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        sections = {"limits": Limits, "prompt_log": PromptLogSettings, "models": ModelRule, "locked": Lock}
        model = sections.get(loc[0], Classroom) if len(loc) > 1 else Classroom
        allowed = [name for name in model.model_fields if name != "source"]
        return f"{where}: unknown setting; allowed here: {', '.join(allowed)}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] != "value_error" and not isinstance(error.get("input"), (dict, type(None))):
        message += f" (got {error['input']!r})"
    return f"{where}: {message}"
