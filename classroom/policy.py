"""Classroom mode in the app: the teacher's settings (``classroom/rules.py``) enforced on
the server, for the page and the API alike. ``build_demo`` makes one ``ClassroomPolicy``
(with no rules outside classroom mode, where every check passes) and hands it to the tabs.

- Tabs: a tab the teacher leaves out is not built, so it has no endpoint either.
- Checkpoints: model pickers offer only the allowed ones, put the teacher's default
  first (``guard_picker``); each call of their events gets the teacher's default for an
  empty value and is refused a checkpoint the teacher doesn't allow, for API calls too.
- Locks, limits and the prompt log: each event is declared once, where the tab wires it
  (``declare``, called by ui/chain.py), and each of its calls is checked once, before its
  handler runs (``check``): the handler's arguments matched to the locks by name
  (``num_inference_steps``, ``width``, ...), the text a student typed logged and the
  images the event says it makes counted. An event that only shows what a request made
  (Show the code, a status line) is held to the locks but neither counted nor logged.
  The controls that feed locked parameters are built narrowed or fixed (``control``,
  which each tab builds them with), so students see a rule before the server refuses: a
  value outside a narrowed range is then refused by the control itself, before any
  handler runs, and is not in the prompt log (Gradio has no public hook that sees both
  the request and that refusal).
- Locked app settings (``safety_filter: on``) are read through ``setting``.
- The class password (``launch_kwargs``).
"""

from __future__ import annotations

import hmac
import inspect
import logging
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import gradio as gr

from classroom.records import PromptLog, SharedPromptLog, SharedStudentLimits, StudentLimits
from classroom.rules import MAX_STUDENT_NAME, Classroom, ClassroomError, Lock, on_off
from pipelines.safety import check_prompt
from runtime import registry, settings
from runtime.inputs import identity
from runtime.messages import InputError

log = logging.getLogger("playground.classroom")
TITLE = "Classroom rule / 课堂规则"  # the title of a refusal
# Handlers whose text goes to a model with no filter of its own: in classroom mode, with the
# safety filter on, their text boxes and the student's turns of their history are read by
# the blocklist that screens image prompts (pipelines/safety.py); so are those of any
# handler called with a chat model (Caption and Ask offer them: ``screened``).
SCREENED = ("chat",)
# The kinds of control a lock fits (``ClassroomPolicy.control``): each one bound to a locked
# parameter must be built with its lock; other kinds (an image, a file) can't be fixed to a value.
LOCKABLE = (gr.Slider, gr.Number, gr.Checkbox, gr.Radio, gr.Dropdown, gr.CheckboxGroup, gr.Textbox)
C = TypeVar("C")


@dataclass(frozen=True)
class Checked:
    """What the classroom checks in each call of one event (``ClassroomPolicy.declare``)."""

    endpoint: str  # the handler's name, as the prompt log names it
    parameters: tuple[str, ...]  # the handler's parameters that come from inputs, in order
    pickers: dict[str, tuple[str, bool]]  # parameter -> (task, optional) of the model pickers among its inputs
    typed: tuple[str, ...]  # the parameters that hold what a student typed: logged
    images: int | str | Callable[[dict], int] = 0  # how many images one call makes (see ``images_made``)
    counted: bool = True  # a request (limits, prompt log), or only a display of one
    controls: tuple[int, ...] = ()  # the ids of its input controls, in the order of ``parameters``


class ClassroomPolicy:
    """The rules of one classroom file in force in one app; ``rules=None`` is no classroom."""

    def __init__(self, rules: Classroom | None = None, profile: str | None = None):
        self.rules = rules
        self.profile = profile
        # Shared by the app's replicas with SHARED_STATE (runtime/shared.py), else this process's.
        limits, prompt_log = (
            (SharedStudentLimits, SharedPromptLog) if settings.SHARED_STATE else (StudentLimits, PromptLog)
        )
        self.limits = limits(rules.limits) if rules is not None else None
        path = rules.prompt_log_path() if rules is not None else None
        self.log = prompt_log(path) if path is not None else None
        self._pickers: dict[int, tuple[str, bool]] = {}  # id of a guarded model picker -> (task, optional)
        self._problems: list[str] = []  # locks that could not fit their controls (``control``, ``declare``)
        self._built: dict[int, str] = {}  # id of a control built with a lock (``control``) -> its parameter
        self._locked: dict[int, str] = {}  # id of a control bound to a locked parameter -> the parameter
        self.endpoints: list[Checked] = []  # every event declared in classroom mode, in order
        if rules is not None:
            log.info("Classroom mode from %s", rules.source)
            if path is not None:
                log.info("Prompt log on: students' text is appended to %s", path)

    @property
    def active(self) -> bool:
        return self.rules is not None

    def setting(self, name: str, default: str) -> str:
        """An app setting the teacher locked (e.g. ``safety_filter``), else ``default``."""
        if self.rules is None:
            return default
        return self.rules.setting_locks().get(name, default)

    def private_files(self) -> list[Path]:
        """Files that must never be served: the settings file (it may hold the password)
        and the prompt log."""
        if self.rules is None:
            return []
        return [path for path in (self.rules.source, self.rules.prompt_log_path()) if path is not None]

    # --- Checking the file against the app ------------------------------------------------

    def check_against(self, tabs: list[str], handlers: Iterable[Callable]) -> None:
        """Raise ClassroomError unless every tab and locked parameter the file names exists
        (``handlers``: every public handler of every tab, shown or not)."""
        if self.rules is None:
            return
        problems = [
            f"tabs: unknown tab {tab!r}; available tabs = {tabs}" for tab in self.rules.tabs or [] if tab not in tabs
        ]
        parameters = {name for fn in handlers for name in _parameters(fn)}
        for name in self.rules.argument_locks():
            if name not in parameters:
                lockable = sorted(parameters - {"model"})
                problems.append(f"locked.{name}: no tab has a parameter of this name; lockable = {lockable}")
        self._raise(problems)

    def _raise(self, problems: list[str]) -> None:
        if problems:
            name = self.rules.source.name if self.rules.source else "The classroom file"
            raise ClassroomError(f"{name} does not fit this app:\n" + "\n".join(f"  - {p}" for p in problems))

    def shows(self, tab: str) -> bool:
        return self.rules is None or self.rules.tabs is None or tab in self.rules.tabs

    # --- Checkpoints ---------------------------------------------------------------------

    def offered(self, task: str) -> list[registry.Checkpoint]:
        """What ``task``'s model picker offers: the profile's choices, narrowed by the
        teacher, the teacher's default first."""
        choices = registry.choices(task, self.profile)
        rule = self.rules.models.get(task) if self.rules is not None else None
        if rule is None:
            return choices
        allowed = [c for c in choices if rule.allowed is None or c.key in rule.allowed]
        if not allowed:
            self._raise(
                [
                    f"models.{task}: none of {rule.allowed} is offered under the "
                    f"{registry.resolve_profile(self.profile)!r} profile; offered = {[c.key for c in choices]}"
                ]
            )
        default = rule.default or (rule.allowed[0] if rule.allowed else None)
        return sorted(allowed, key=lambda c: c.key != default)

    def model_for(self, task: str, key: str | None) -> str | None:
        """The checkpoint key a request may use: the teacher's default for None, else ``key``
        if the teacher allows it (ValueError otherwise)."""
        if self.rules is None or task not in self.rules.models:
            return key
        keys = [c.key for c in self.offered(task)]
        if not key:
            return keys[0]
        if key not in keys:
            raise InputError(
                "classroom_models",
                models=", ".join(keys),
                value=str(key),
            )
        return key

    def guard_picker(self, picker: gr.Dropdown, task: str, optional: bool = False) -> gr.Dropdown:
        """A model picker that fills in the teacher's default and answers a checkpoint the
        teacher doesn't allow with the rule; an ``optional`` picker may also stay empty
        ("none", as the Evaluate tab's second column)."""
        if self.rules is not None and task in self.rules.models:
            self._pickers[id(picker)] = (task, optional)  # checked in each call of its events (``check``)
        return picker

    # --- Locks, limits and the prompt log, for every request ---------------------------

    def declare(
        self, fn, inputs: list, *, typed: Iterable[str] | None = None, images=0, counted: bool = True
    ) -> Checked:
        """What the classroom checks in each call of ``fn`` wired to ``inputs`` (ui/chain.py,
        where the event is declared). ``typed``: the parameters that hold what a student typed,
        logged in the prompt log (by default the visible text boxes among ``inputs``);
        ``images``: how many images one call makes (a parameter's name, a number, or a
        function of the call's arguments), counted toward ``images_per_hour``; ``counted``
        False for an event that only shows what a request made (Show the code, a status
        line): held to the locks of the controls it reads, but neither another request nor
        logged.

        Each control bound to a request's locked parameter must have been built with its
        lock (``control``); one that wasn't is a problem for ``check_controls``."""
        names = _parameters(fn)
        bound = list(zip(names, inputs, strict=False))
        if typed is None:
            typed = [name for name, c in bound if isinstance(c, gr.Textbox) and c.visible is True]
        checked = Checked(
            endpoint=getattr(fn, "__name__", None) or type(fn).__name__,
            parameters=tuple(names),
            pickers={name: self._pickers[id(c)] for name, c in bound if id(c) in self._pickers},
            typed=tuple(typed) if counted else (),
            images=images,
            counted=counted,
            controls=tuple(id(c) for _name, c in bound),
        )
        if self.rules is None:
            return checked
        locks = self.rules.argument_locks()
        for name, component in bound if counted else ():  # a display's parameters may be named alike
            if name in locks:
                self._locked[id(component)] = name
                if self._built.get(id(component)) != name and (
                    problem := _unfitted(component, locks[name], checked.endpoint)
                ):
                    self._problems.append(f"locked.{name}: {problem}")
        self.endpoints.append(checked)
        return checked

    def control(self, name: str, kind: type[C], *args, **kwargs) -> C:
        """``kind(*args, **kwargs)``, the control that feeds the handlers' parameter ``name``,
        built with the teacher's lock on it: its range narrowed, its value fixed and greyed
        out, or its choices filtered. A lock that can't fit it (a word for a number, an empty
        range) is kept for ``check_controls`` and the control built as asked."""
        lock = self.rules.argument_locks().get(name) if self.rules is not None else None
        if lock is None:
            return kind(*args, **kwargs)
        arguments = inspect.signature(kind).bind(*args, **kwargs).arguments
        fitted, problem = _fit(kind, arguments, lock)
        if problem:
            self._problems.append(f"locked.{name}: {problem}")
        built = kind(**fitted)  # as asked where the lock can't fit
        self._built[id(built)] = name
        return built

    def check_controls(self) -> None:
        """Raise ClassroomError, listing them, when locks could not fit their controls
        (``control``) or a control was built without its lock (``declare``); call once
        every tab is built."""
        self._raise(sorted(set(self._problems)))

    def check(self, checked: Checked, arguments: dict, request=None) -> dict:
        """One call of an event declared with ``declare``: ``arguments`` (the handler's, by
        name) with the model pickers' empty values set to the teacher's default. Raises
        ValueError (an ``InputError``, said in the request's language by ui/chain.py) when
        an argument breaks a lock or the student is over a limit; logs the call's typed text
        when the teacher turned the prompt log on, refused or not."""
        if self.rules is None:
            return arguments
        arguments = dict(arguments)
        texts = _texts(arguments, checked.typed)
        try:
            for name, (task, optional) in checked.pickers.items():
                if name in arguments and not (optional and not arguments[name]):
                    arguments[name] = self.model_for(task, arguments[name])
            locks = self.rules.argument_locks()
            if checked.counted:  # a request: its parameters by name
                for name, lock in locks.items():
                    if name in arguments:
                        lock.check(name, arguments[name])
            else:  # a display: the locked controls it reads, whatever its parameters are called
                for parameter, control in zip(checked.parameters, checked.controls, strict=False):
                    if (name := self._locked.get(control)) is not None and parameter in arguments:
                        locks[name].check(name, arguments[parameter])
            for name, value in self.rules.setting_locks().items():
                if name in arguments and on_off(arguments[name]) != value:
                    raise InputError(
                        "classroom_setting",
                        name=name,
                        value=repr(value),
                    )
            if not checked.counted:  # Show the code, a status line: its request was counted and logged
                return arguments
            if screened(checked.endpoint, arguments) and self.setting("safety_filter", settings.SAFETY_FILTER) == "on":
                for name, text in [*texts.items(), *(("message", turn) for turn in _user_turns(arguments))]:
                    check_prompt(text, name.replace("_", " "))
            self.limits.check(student(request), images=images_made(checked, arguments))
        except ValueError as error:
            self._write_log(checked.endpoint, request, texts, refused=str(error))
            raise
        self._write_log(checked.endpoint, request, texts)
        return arguments

    def check_call(self, fn, args: tuple, kwargs: dict, typed: Iterable[str] = (), images=0, request=None) -> None:
        """``check`` for one call of ``fn`` made by hand (no event): a classroom rule's
        refusal is a gr.Error, with both languages in its title."""
        checked = Checked(fn.__name__, tuple(_parameters(fn)), {}, tuple(typed), images, counted=True)
        try:
            self.check(checked, _arguments(fn, args, kwargs), request)
        except ValueError as error:
            raise _refusal(error) from None

    def allowed(self, name: str, values: tuple | list) -> list:
        """The ``values`` of parameter ``name`` the teacher allows (all of them outside
        classroom mode): for handlers that try several values themselves, such as comparing
        the fusion strategies."""
        lock = self.rules.argument_locks().get(name) if self.rules is not None else None
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

    def _write_log(self, endpoint: str, request, texts: dict, refused: str | None = None) -> None:
        if self.log is None or not texts:
            return
        who = student(request)
        entry = {
            "time": datetime.now().astimezone().isoformat(timespec="seconds"),
            "student": who,
            "endpoint": endpoint,
            **texts,
        }
        if (typed := typed_name(request)) and typed.casefold() != who:
            entry["name"] = typed  # as the student wrote it ("Иван"), where "student" reads it as Latin letters
        if refused:
            entry["refused"] = refused
        try:
            self.log.write(entry)
        except OSError:  # a full disk must not stop the lesson
            log.exception("could not write the prompt log %s", self.log.path)

    # --- The page and the login ---------------------------------------------------------

    def launch_kwargs(self) -> dict:
        """``auth`` for demo.launch when the teacher set a class password: students log in
        with their name (used for their limits and the log) and the password."""
        password = self.rules.the_password() if self.rules is not None else None
        if not password:
            return {}

        def check(username: str, given: str) -> bool:
            name = identity(username)
            return 0 < len(name) <= MAX_STUDENT_NAME and hmac.compare_digest(given.encode(), password.encode())

        return {"auth": check, "auth_message": "Type your name and the class password. / 请输入你的名字和班级密码。"}


def student(request: gr.Request | None) -> str:
    """Who is asking: the name typed at the login, else the computer's address."""
    if request is None:
        return "local"
    if getattr(request, "username", None):
        # "Cara", "CARA" and "ca\u200bra" are one student, with one allowance.
        return identity(str(request.username))[:MAX_STUDENT_NAME] or "unknown"
    client = getattr(request, "client", None)  # the address ui/server/security.py's Guard decided
    return getattr(client, "host", None) or "unknown"


def typed_name(request: gr.Request | None) -> str | None:
    """The login name as the student typed it (NFKC, spaces as one), for the teacher to
    read beside ``student``'s form of it; None without a login."""
    name = getattr(request, "username", None) if request is not None else None
    return " ".join(unicodedata.normalize("NFKC", str(name)).split())[:MAX_STUDENT_NAME] if name else None


def screened(endpoint: str, arguments: dict) -> bool:
    """Whether a call's text goes to a chat model, which has no filter of its own: Chat's,
    and Caption's or Ask's when the student picked one of the chat models they offer."""
    checkpoint = registry.CHECKPOINTS.get(arguments.get("model")) if isinstance(arguments.get("model"), str) else None
    return endpoint in SCREENED or (checkpoint is not None and checkpoint.task == "chat")


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


def _count(value) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1 else 1


def images_made(checked: Checked, arguments: dict) -> int:
    """How many images one call makes, as its event declares it (``ClassroomPolicy.declare``):
    a parameter's name, a number, or a function of the arguments; 0 when it declares none."""
    declared = checked.images
    if callable(declared):
        return max(0, int(declared(arguments)))
    if isinstance(declared, str):
        return _count(arguments.get(declared))
    return int(declared)


def _texts(arguments: dict, typed: Iterable[str]) -> dict:
    """The text a student typed, by parameter name: the non-empty strings among ``typed``."""
    return {name: arguments[name] for name in typed if isinstance(arguments.get(name), str) and arguments[name].strip()}


def _user_turns(arguments: dict) -> list[str]:
    """The text of the student's own turns in a ``history`` argument (a chat's, as its
    endpoint takes it: [{"role", "content"}, ...], content a text or a list of texts,
    {"type": "text", "text"} parts and files); what a page or client sent back."""
    history = arguments.get("history")
    texts = []
    for turn in history if isinstance(history, list) else []:
        if isinstance(turn, dict) and turn.get("role") == "user":
            content = turn.get("content")
            for item in content if isinstance(content, list) else [content]:
                text = item.get("text") if isinstance(item, dict) else item
                texts += [text] if isinstance(text, str) else []
    return texts


def _refusal(error) -> gr.Error:
    """A classroom rule's refusal outside an event (``check_call``): one log line, not
    Gradio's traceback, titled in both languages. (An event's is said in its page's
    language by ui/chain.py.)"""
    message = str(error)
    log.info("refused by the classroom: %s", message[:300])
    return gr.Error(message, title=TITLE, print_exception=False)


def _unfitted(component, lock: Lock, endpoint: str) -> str | None:
    """Why a control bound to a locked parameter of ``endpoint`` is not built with ``lock``
    (``declare``), or None where no lock needs fitting to it (a list of values allowed for
    an image: the server's check is the whole rule)."""
    kind = type(component).__name__
    if isinstance(component, LOCKABLE):  # a bug of its tab, caught by the classroom tests
        return f"{endpoint}'s {kind} was built without its lock (build it with ClassroomPolicy.control)"
    if lock.allowed is not None:
        return None
    if lock.value is None:
        return "a range (min/max) needs a number control"
    return f"{kind} can't be locked to one value; lockable: sliders, numbers, choices and text boxes"


def _fit(kind: type, arguments: dict, lock: Lock) -> tuple[dict, str | None]:
    """The constructor ``arguments`` of a control of ``kind`` with ``lock`` applied, or why
    the lock can't fit it."""
    fitted = dict(arguments)
    numeric = issubclass(kind, (gr.Slider, gr.Number))
    if lock.value is not None:
        if numeric and (isinstance(lock.value, bool) or not isinstance(lock.value, (int, float))):
            return fitted, f"this control takes a number, not {lock.value!r}"
        if issubclass(kind, gr.Checkbox) and not isinstance(lock.value, bool):
            return fitted, f"this control is on/off (true or false), not {lock.value!r}"
        fitted.update(value=lock.value, interactive=False)
        return fitted, None
    if lock.allowed is not None:
        if issubclass(kind, (gr.Radio, gr.Dropdown)):
            offered = [tuple(c) if isinstance(c, (tuple, list)) else (str(c), c) for c in fitted.get("choices") or []]
            choices = [c for c in offered if any(str(c[1]) == str(a) for a in lock.allowed)]
            if not choices:
                return fitted, f"none of {lock.allowed} is a choice here ({[c[1] for c in offered]})"
            fitted["choices"] = choices
            if fitted.get("value") not in [c[1] for c in choices]:
                fitted["value"] = choices[0][1]
        return fitted, None
    if not numeric:
        return fitted, "a range (min/max) needs a number control"
    parameters = inspect.signature(kind).parameters
    minimum, maximum = (fitted.get(end, parameters[end].default) for end in ("minimum", "maximum"))
    low, high = minimum, maximum
    if lock.min is not None:
        low = lock.min if low is None else max(low, lock.min)
    if lock.max is not None:
        high = lock.max if high is None else min(high, lock.max)
    if low is not None and high is not None and low > high:
        return fitted, f"the range {lock.describe()} leaves no value this control can take ({minimum}-{maximum})"
    value = fitted.get("value", parameters["value"].default)
    if issubclass(kind, gr.Slider) and low == high:  # a slider needs a range: one value left is a fixed one
        fitted.update(value=low, interactive=False)
        return fitted, None
    fitted.update(minimum=low, maximum=high)
    if issubclass(kind, gr.Slider) and value is None:
        value = low  # a slider's value is its minimum when none is given
    if isinstance(value, (int, float)):
        fitted["value"] = min(max(value, low if low is not None else value), high if high is not None else value)
    return fitted, None
