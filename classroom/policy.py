"""Classroom mode in the app: the teacher's settings (``classroom/rules.py``) enforced on
the server, for the page and the API alike. ``build_demo`` makes one ``ClassroomPolicy``
(with no rules outside classroom mode, where every check passes) and hands it to the tabs.

- Tabs: a tab the teacher leaves out is not built, so it has no endpoint either.
- Checkpoints: model pickers offer only the allowed ones, put the teacher's default
  first, and refuse the others (``guard_picker``), for API calls too.
- Locks, limits and the prompt log: ``enforce`` wraps every event whose handler went
  through ``ui.handlers.user_errors``; each call is checked once, before it runs, with
  the handler's arguments matched to the locks by name (``num_inference_steps``,
  ``width``, ...), its text boxes logged and the images it declares it makes
  (``ui.handlers.makes_images``) counted, so a new tab is covered without changes. The controls bound to
  locked parameters are narrowed or fixed too, so students see a rule before the server
  refuses.
- Locked app settings (``safety_filter: on``) are read through ``setting``.
- The class password (``launch_kwargs``).
"""

from __future__ import annotations

import functools
import hmac
import inspect
import logging
import unicodedata
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path

import gradio as gr

from classroom.records import PromptLog, SharedPromptLog, SharedStudentLimits, StudentLimits
from classroom.rules import MAX_STUDENT_NAME, Classroom, ClassroomError, Lock, on_off
from pipelines.safety import check_prompt
from runtime import registry, settings
from runtime.inputs import identity
from runtime.messages import InputError
from runtime.shared import off_loop

log = logging.getLogger("playground.classroom")
TITLE = "Classroom rule / 课堂规则"  # the title of a refusal
# Handlers whose text goes to a model with no filter of its own: in classroom mode, with the
# safety filter on, their text boxes and the student's turns of their history are read by
# the blocklist that screens image prompts (pipelines/safety.py); so are those of any
# handler called with a chat model (Caption and Ask offer them: ``screened``).
SCREENED = ("chat",)


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
            _guard(picker, lambda key: key if optional and not key else self.model_for(task, key), replace=True)
        return picker

    # --- Locks, limits and the prompt log, for every request ---------------------------

    def enforce(self, demo: gr.Blocks) -> None:
        """Check every call of every event whose handler went through ``user_errors`` once,
        before it runs, and fit the controls bound to locked parameters to their locks.
        Raises ClassroomError when a lock can't fit its control (a word for a number, an
        empty range). Does nothing outside classroom mode.

        What is logged and counted follows from each event's own declaration: the text
        a student types (``typed_boxes``) goes into the prompt log, and the images its
        handler says it makes (``ui.handlers.makes_images``) count toward
        ``images_per_hour``; a handler that only shows what another request made
        (``ui.handlers.shows_result``: Show the code) is neither counted nor logged. A
        request refused before its handler runs (by a locked control, or by the app's
        input checks) is logged too, with the reason."""
        if self.rules is None:
            return
        locks = self.rules.argument_locks()
        answers = _answer_boxes(demo)
        problems = []
        for block_fn in demo.fns.values():
            if not getattr(block_fn.fn, "classroom_checked", False):
                continue
            names = _parameters(block_fn.fn)
            for name, component in zip(names, block_fn.inputs, strict=False):
                if name in locks:
                    problem = _fit(component, locks[name])
                    if problem:
                        problems.append(f"locked.{name}: {problem}")
                    else:
                        _guard(component, functools.partial(locks[name].check, name))
            block_fn.typed = [] if getattr(block_fn.fn, "shows_result", False) else typed_boxes(block_fn, answers)
            block_fn.fn = self._checked(block_fn.fn, block_fn.typed)
        self._raise(sorted(set(problems)))
        self._log_refusals(demo)

    def _checked(self, fn, typed: list[str]):
        """``fn``, calling ``check_call`` first, once per call (also for a generator)."""
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(*args, **kwargs):
                self.check_call(fn, args, kwargs, typed)
                yield from fn(*args, **kwargs)

            return stream

        @functools.wraps(fn)
        def call(*args, **kwargs):
            self.check_call(fn, args, kwargs, typed)
            return fn(*args, **kwargs)

        return call

    def check_call(self, fn, args: tuple, kwargs: dict, typed: Iterable[str] = ()) -> None:
        """Refuse one call of handler ``fn`` (gr.Error) when an argument breaks a lock or the
        student is over a limit, and log the text of its ``typed`` arguments when the
        teacher turned the prompt log on."""
        if self.rules is None:
            return
        from gradio.context import LocalContext

        arguments = _arguments(fn, args, kwargs)
        request = LocalContext.request.get(None)
        who = student(request)
        shows_result = getattr(fn, "shows_result", False)  # Show the code: its request was counted and logged
        texts = {} if shows_result else _texts(arguments, typed)
        if (seen := _SEEN.get()) is not None:
            seen.append(True)  # this call is logged here, not again as refused before it ran
        try:
            for name, lock in self.rules.argument_locks().items():
                if name in arguments:
                    lock.check(name, arguments[name])
            for name, value in self.rules.setting_locks().items():
                if name in arguments and on_off(arguments[name]) != value:
                    raise InputError(
                        "classroom_setting",
                        name=name,
                        value=repr(value),
                    )
            if shows_result:
                return
            if screened(fn, arguments) and self.setting("safety_filter", settings.SAFETY_FILTER) == "on":
                for name, text in [*texts.items(), *(("message", turn) for turn in _user_turns(arguments))]:
                    check_prompt(text, name.replace("_", " "))
            self.limits.check(who, images=images_made(fn, arguments))
        except ValueError as error:
            self._write_log(fn.__name__, request, texts, refused=str(error))
            raise _refusal(error) from None
        self._write_log(fn.__name__, request, texts)

    def _log_refusals(self, demo: gr.Blocks) -> None:
        """Log the requests refused before their handler ran (a locked control, a value out
        of range, a file that is not an upload): Gradio raises those while it prepares the
        inputs, where no request is known, so this watches ``process_api``, which has it."""
        if self.log is None:
            return
        process = demo.process_api

        async def process_api(block_fn, inputs, state=None, request=None, *args, **kwargs):
            token = _SEEN.set([])
            try:
                return await process(block_fn, inputs, state, request, *args, **kwargs)
            except gr.Error as error:
                fn = demo.fns[block_fn] if isinstance(block_fn, int) else block_fn
                if getattr(fn.fn, "classroom_checked", False) and not _SEEN.get() and not kwargs.get("iterator"):
                    typed = getattr(fn, "typed", [])
                    calls = zip(request, zip(*inputs, strict=False), strict=False) if fn.batch else [(request, inputs)]
                    for one_request, one_inputs in calls:
                        raw = dict(zip(_parameters(fn.fn), one_inputs, strict=False))
                        refused = str(error.message if hasattr(error, "message") else error)
                        # Off the event loop: the log may be in Redis (runtime/shared.py).
                        await off_loop(self._write_log, fn.fn.__name__, one_request, _texts(raw, typed), refused)
                raise
            finally:
                _SEEN.reset(token)

        demo.process_api = process_api

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


def screened(fn, arguments: dict) -> bool:
    """Whether a call's text goes to a chat model, which has no filter of its own: Chat's,
    and Caption's or Ask's when the student picked one of the chat models they offer."""
    checkpoint = registry.CHECKPOINTS.get(arguments.get("model")) if isinstance(arguments.get("model"), str) else None
    return fn.__name__ in SCREENED or (checkpoint is not None and checkpoint.task == "chat")


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


def _answer_boxes(demo: gr.Blocks) -> set[int]:
    """The text boxes a public endpoint writes its answer into (a caption, an answer)."""
    return {
        component._id
        for block_fn in demo.fns.values()  # noqa: SLF001
        if getattr(block_fn.fn, "classroom_checked", False) and block_fn.api_visibility == "public"
        for component in block_fn.outputs
        if isinstance(component, gr.Textbox)
    }


def typed_boxes(block_fn, answers: set[int]) -> list[str]:
    """The parameters of an event that hold what a student typed: its text boxes on the page,
    but not the hidden ones (an image's id, set by a click) nor those a model's answer is
    written into (``answers``: Read aloud reads the caption). A question spoken and
    transcribed into the Ask tab's box stays the student's."""
    return [
        name
        for name, component in zip(_parameters(block_fn.fn), block_fn.inputs, strict=False)
        if isinstance(component, gr.Textbox) and component.visible is True and component._id not in answers
    ]  # noqa: SLF001


def _count(value) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1 else 1


def images_made(fn, arguments: dict) -> int:
    """How many images one call of ``fn`` makes, as its handler declares it
    (``ui.handlers.makes_images``): an argument's name, a number, or a function of the
    arguments; 0 when it declares none."""
    declared = getattr(fn, "images_made", 0)
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
    """A classroom rule's refusal: one log line, not Gradio's traceback (ui.handlers.refusal).
    It keeps the rule's error (``said``): the UI says it in the page's language
    (ui/server/language.py), as it does every coded message."""
    message = str(error)
    log.info("refused by the classroom: %s", message[:300])
    refusal = gr.Error(message, title=TITLE, print_exception=False)
    refusal.said, refusal.title_code = error, "title_classroom"
    return refusal


# Set while the app processes one request: whether check_call logged it (then a refusal
# raised afterwards, by the handler, is not logged again as refused before it ran).
_SEEN: ContextVar[list | None] = ContextVar("classroom_seen", default=None)


def _guard(component, check, replace: bool = False) -> None:
    """Run ``check(payload)`` before the control's own checks (a narrowed slider or picker
    refuses values outside its range itself), so that students and API clients read the
    teacher's rule rather than "Value 3 is greater than maximum value 2". With ``replace``,
    what ``check`` returns is the value used."""
    if getattr(component, "classroom_guarded", False):
        return
    preprocess = component.preprocess

    def guarded(payload):
        try:
            checked = check(payload)
        except ValueError as error:
            raise _refusal(error) from None
        return preprocess(checked if replace else payload)

    component.preprocess = guarded
    component.classroom_guarded = True


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
            choices = [c for c in component.choices if any(str(c[1]) == str(a) for a in lock.allowed)]
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
        component.value = min(
            max(component.value, low if low is not None else component.value),
            high if high is not None else component.value,
        )
    return None
