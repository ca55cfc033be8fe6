"""Classroom mode in the app: the teacher's settings (classroom/rules.py) enforced
on the server, for the UI and the API alike.

- Tabs: a tab the teacher leaves out is not built, so it has no endpoint either.
- Checkpoints: model pickers offer only the allowed ones; ``model_for`` (called by
  ``ui.handlers.get_model``) fills in the teacher's default and refuses the others.
- Locked parameters and limits per student: every public handler goes through
  ``ui.handlers.user_errors``, which calls ``check_call`` with the handler's arguments;
  locks are matched to arguments by name (``num_inference_steps``, ``width``, ...), so
  a new tab is covered without changes. ``adapt`` narrows or fixes the matching
  controls too, so students see the rule before the server refuses.
- The class password (``launch_kwargs``) and the prompt log.
"""

from __future__ import annotations

import functools
import hmac
import inspect
import logging
import os
from datetime import datetime
from types import ModuleType

import gradio as gr

from classroom.rules import (
    MAX_STUDENT_NAME,
    TEXT_ARGUMENTS,
    Classroom,
    ClassroomError,
    Lock,
    PromptLog,
    StudentLimits,
    on_off,
)
from runtime import registry, settings
from runtime.cache import MODELS
from ui.i18n import _

log = logging.getLogger("playground.classroom")
# The classroom in force (None: no classroom mode), with its counters and log.
ACTIVE: Classroom | None = None
_LIMITS: StudentLimits | None = None
_LOG: PromptLog | None = None
TITLE = "Classroom rule / 课堂规则"  # the title of a refusal


def activate(classroom: Classroom | None) -> None:
    """Put ``classroom`` in force for this process (None turns classroom mode off)."""
    global ACTIVE, _LIMITS, _LOG
    ACTIVE = classroom
    _LIMITS = StudentLimits(classroom.limits) if classroom is not None else None
    path = classroom.prompt_log_path() if classroom is not None else None
    _LOG = PromptLog(path) if path is not None else None
    if classroom is None:
        return
    for name, value in classroom.setting_locks().items():  # e.g. safety_filter -> SAFETY_FILTER
        variable = name.upper()
        if not hasattr(settings, variable):
            log.warning(
                "This version of the app has no %s setting; the classroom's lock on it has no effect.", variable
            )
        os.environ[variable] = value
        setattr(settings, variable, value)
    log.info("Classroom mode from %s", classroom.source)
    if path is not None:
        log.info("Prompt log on: students' text is appended to %s", path)


def private_files() -> list:
    """Files of the classroom in force that must never be served: the settings file
    (it may hold the password) and the prompt log."""
    if ACTIVE is None:
        return []
    return [path for path in (ACTIVE.source, ACTIVE.prompt_log_path()) if path is not None]


# --- Checking the file against the app ------------------------------------------------


def lockable(modules: list[ModuleType]) -> dict[str, list[str]]:
    """Parameter name -> the handlers that take it, over every public handler (the
    functions wrapped by ``user_errors``) of every tab module, shown or not."""
    found: dict[str, list[str]] = {}
    for module in modules:
        for fn in vars(module).values():
            if callable(fn) and getattr(fn, "classroom_checked", False):
                for name in _parameters(fn):
                    found.setdefault(name, []).append(fn.__name__)
    return found


def check_against(classroom: Classroom, tabs: list[str], modules: list[ModuleType]) -> None:
    """Raise ClassroomError unless every tab and locked parameter the file names exists."""
    problems = []
    for tab in classroom.tabs or []:
        if tab not in tabs:
            problems.append(f"tabs: unknown tab {tab!r}; available tabs = {tabs}")
    parameters = lockable(modules)
    for name in classroom.argument_locks():
        if name not in parameters:
            problems.append(
                f"locked.{name}: no tab has a parameter of this name; lockable = {sorted(set(parameters) - {'model'})}"
            )
    _raise(classroom, problems)


def _raise(classroom: Classroom, problems: list[str]) -> None:
    if problems:
        name = classroom.source.name if classroom.source else "The classroom file"
        raise ClassroomError(f"{name} does not fit this app:\n" + "\n".join(f"  - {p}" for p in problems))


def shows(tab: str) -> bool:
    return ACTIVE is None or ACTIVE.tabs is None or tab in ACTIVE.tabs


# --- Checkpoints ------------------------------------------------------------------------


def offered(task: str) -> list[registry.Checkpoint]:
    """What ``task``'s model picker offers: the profile's choices, narrowed by the teacher,
    the teacher's default first."""
    choices = registry.choices(task, MODELS.profile)
    rule = ACTIVE.models.get(task) if ACTIVE is not None else None
    if rule is None:
        return choices
    allowed = [c for c in choices if rule.allowed is None or c.key in rule.allowed]
    if not allowed:
        _raise(ACTIVE, [f"models.{task}: none of {rule.allowed} is offered under the "
                        f"{registry.resolve_profile(MODELS.profile)!r} profile; offered = {[c.key for c in choices]}"])  # fmt: skip
    default = rule.default or (rule.allowed[0] if rule.allowed else None)
    return sorted(allowed, key=lambda c: c.key != default)


def model_for(task: str, key: str | None) -> str | None:
    """The checkpoint key a request may use: the teacher's default for None, else ``key``
    if the teacher allows it (ValueError otherwise)."""
    if ACTIVE is None or task not in ACTIVE.models:
        return key
    keys = [c.key for c in offered(task)]
    if not key:
        return keys[0]
    if key not in keys:
        raise ValueError(f"In this classroom the teacher allows these {task} models: {keys}; got {key!r}.")
    return key


# --- Locks, limits and the prompt log, for every request ---------------------------------


def _special(parameter: inspect.Parameter) -> bool:
    """Whether Gradio fills this parameter in itself (progress, the request), not an input."""
    return isinstance(parameter.default, gr.Progress) or "Request" in str(parameter.annotation)


def _parameters(fn) -> list[str]:
    return [name for name, parameter in inspect.signature(fn).parameters.items() if not _special(parameter)]


def _arguments(fn, args: tuple, kwargs: dict) -> dict:
    signature = inspect.signature(fn)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:  # wrong arguments: the handler itself says so
        return {}
    bound.apply_defaults()
    return {name: value for name, value in bound.arguments.items() if not _special(signature.parameters[name])}


def student(request: gr.Request | None) -> str:
    """Who is asking: the name typed at the login, else the computer's address."""
    if request is None:
        return "local"
    if getattr(request, "username", None):
        return str(request.username)[:MAX_STUDENT_NAME]
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


def check_call(fn, args: tuple, kwargs: dict) -> None:
    """Apply the classroom to one call of handler ``fn``: refuse it (gr.Error) when an
    argument breaks a lock or the student is over a limit, and log its text when the
    teacher turned the prompt log on. Does nothing outside classroom mode."""
    if ACTIVE is None:
        return
    from gradio.context import LocalContext

    arguments = _arguments(fn, args, kwargs)
    who = student(LocalContext.request.get(None))
    texts = {
        name: arguments[name]
        for name in TEXT_ARGUMENTS
        if isinstance(arguments.get(name), str) and arguments[name].strip()
    }
    try:
        for name, lock in ACTIVE.argument_locks().items():
            if name in arguments:
                lock.check(name, arguments[name])
        for name, value in ACTIVE.setting_locks().items():
            if name in arguments and on_off(arguments[name]) != value:
                raise ValueError(f"In this classroom the teacher has locked `{name}` to {value!r}.")
        if _LIMITS is not None:
            _LIMITS.check(who, images=_count(arguments.get("num_images")) if "num_images" in arguments else 0)
    except ValueError as error:
        _write_log(fn, who, texts, refused=str(error))
        raise gr.Error(str(error), title=TITLE) from None
    _write_log(fn, who, texts)


def allowed(name: str, values: tuple | list) -> list:
    """The ``values`` of parameter ``name`` the teacher allows (all of them outside
    classroom mode): for handlers that try several values themselves, such as comparing
    the fusion strategies."""
    lock = ACTIVE.argument_locks().get(name) if ACTIVE is not None else None
    if lock is None:
        return list(values)
    permitted = []
    for value in values:
        try:
            lock.check(name, value)
            permitted.append(value)
        except ValueError:
            pass
    return permitted


def _count(value) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1 else 1


def _write_log(fn, who: str, texts: dict, refused: str | None = None) -> None:
    if _LOG is None or not texts:
        return
    entry = {"time": datetime.now().astimezone().isoformat(timespec="seconds"), "student": who,
             "endpoint": fn.__name__, **texts}  # fmt: skip
    if refused:
        entry["refused"] = refused
    try:
        _LOG.write(entry)
    except OSError:  # a full disk must not stop the lesson
        log.exception("could not write the prompt log %s", _LOG.path)


# --- The UI --------------------------------------------------------------------------------


def banner() -> None:
    """What students are told: that a teacher set the app up, the teacher's message, and
    whether their text is logged."""
    if ACTIVE is None:
        return
    gr.Markdown(_("classroom.banner"), elem_classes="banner-classroom")
    if ACTIVE.message:
        gr.Markdown(ACTIVE.message, elem_classes="banner-classroom")
    if _LOG is not None:
        gr.Markdown(_("classroom.prompt_log"), elem_classes="banner-classroom")


def adapt(demo: gr.Blocks) -> None:
    """Fit the controls bound to locked parameters to their locks: a fixed value is set
    and greyed out, a range narrows a slider, a list narrows a choice. Raises
    ClassroomError when a lock can't fit its control (a word for a number, an empty range)."""
    if ACTIVE is None:
        return
    locks = ACTIVE.argument_locks()
    problems = []
    for block_fn in demo.fns.values():
        if not getattr(block_fn.fn, "classroom_checked", False):
            continue
        for name, component in zip(_parameters(block_fn.fn), block_fn.inputs, strict=False):
            if name in locks:
                problem = _fit(component, locks[name])
                if problem:
                    problems.append(f"locked.{name}: {problem}")
                else:
                    _guard(component, functools.partial(locks[name].check, name))
    _raise(ACTIVE, sorted(set(problems)))


def _guard(component, check) -> None:
    """Run ``check(payload)`` before the control's own checks (a narrowed slider or picker
    refuses values outside its range itself), so that students and API clients read the
    teacher's rule rather than "Value 3 is greater than maximum value 2"."""
    if getattr(component, "classroom_guarded", False):
        return
    preprocess = component.preprocess

    def guarded(payload):
        try:
            check(payload)
        except ValueError as error:
            raise gr.Error(str(error), title=TITLE) from None
        return preprocess(payload)

    component.preprocess = guarded
    component.classroom_guarded = True


def guard_picker(picker: gr.Dropdown, task: str) -> gr.Dropdown:
    """A model picker that answers a checkpoint the teacher doesn't allow with the rule."""
    if ACTIVE is not None and task in ACTIVE.models:
        _guard(picker, lambda key: model_for(task, key))
    return picker


def _fit(component, lock: Lock) -> str | None:
    numeric = isinstance(component, (gr.Slider, gr.Number))
    if lock.value is not None:
        if numeric and (isinstance(lock.value, bool) or not isinstance(lock.value, (int, float))):
            return f"this control takes a number, not {lock.value!r}"
        if isinstance(component, gr.Checkbox) and not isinstance(lock.value, bool):
            return f"this control is on/off (true or false), not {lock.value!r}"
        component.value, component.interactive = lock.value, False
        return None
    if lock.allowed is not None:
        if isinstance(component, (gr.Radio, gr.Dropdown)):
            choices = [c for c in component.choices if any(_same_choice(c[1], a) for a in lock.allowed)]
            if not choices:
                return f"none of {lock.allowed} is a choice here ({[c[1] for c in component.choices]})"
            component.choices = choices
            if component.value not in [c[1] for c in choices]:
                component.value = choices[0][1]
        return None
    if not numeric:
        return "a range (min/max) needs a number control"
    low, high = component.minimum, component.maximum
    if lock.min is not None:
        low = lock.min if low is None else max(low, lock.min)
    if lock.max is not None:
        high = lock.max if high is None else min(high, lock.max)
    if low is not None and high is not None and low > high:
        return f"the range {lock.describe()} leaves no value this control can take ({component.minimum}-{component.maximum})"
    component.minimum, component.maximum = low, high
    if isinstance(component.value, (int, float)):
        component.value = min(max(component.value, low if low is not None else component.value),
                              high if high is not None else component.value)  # fmt: skip
    return None


def _same_choice(choice, allowed) -> bool:
    return str(choice) == str(allowed)


# --- The class password ------------------------------------------------------------------


def launch_kwargs() -> dict:
    """``auth`` for demo.launch when the teacher set a class password: students log in
    with their name (used for their limits and the log) and the password."""
    password = ACTIVE.the_password() if ACTIVE is not None else None
    if not password:
        return {}

    def check(username: str, given: str) -> bool:
        name = (username or "").strip()
        return 0 < len(name) <= MAX_STUDENT_NAME and hmac.compare_digest(given.encode(), password.encode())

    return {"auth": check, "auth_message": "Type your name and the class password. / 请输入你的名字和班级密码。"}
