"""One request's life on the server, read top to bottom: what every event of the page and
every API call goes through, composed here once and applied where each event is declared:

    button.click(endpoint(caption, ctx, inputs), inputs, outputs, api_name="caption")

Before the chain, the app's middleware checks the request (ui/server/security.py) and
its raw inputs (ui/server/events.py), the queue gives it its turn (ui/server/queue.py),
and Gradio prepares the inputs (each component's ``preprocess``). Then, for each call
(docs/architecture.md lists every module a caption and a chat request cross):

1. Page language: the request's language (``ui.server.language.locale_of``: the page's
   cookie, else Accept-Language, else English) is set for everything the call runs, so
   every message, status line and table header it writes is in the page's language.
2. Classroom rules (classroom/policy.py): the teacher's locks and model pickers; for a
   request (``endpoint``, not ``display``), the student's limits, the images it makes
   and the prompt log. A refusal is said in the request's language.
3. Input guard: the raw inputs are checked before Gradio reads them (a file reference
   must be refused before Gradio opens it), so ahead of this chain: ui/server/events.py's
   EventGuard, an ASGI middleware, in the request's language. A check that needs the
   prepared values belongs here.
4. The handler. Its failures become messages (``_errors_and_notices``): a pipeline's
   ValueError/TypeError is the user's input, said with the rule and the bad value; any
   other failure is a fault, logged with its traceback, its memory freed, and the user
   told that the app still runs. The notices the pipeline gave become warnings.

Gradio hands a handler its request only through a parameter annotated ``gr.Request``:
the callable Gradio gets has the handler's own parameters (names, defaults), name and
docstring, for the API docs, MCP tools and lessons (``ui.actions.parameters``), with
that one parameter added first. A handler that yields (streaming) goes through steps 1
and 4 at every step: Gradio may run each ``next()`` in another thread, where the language
set for the step before is gone; Stop or a closed page closes it, and its cleanup runs.
"""

from __future__ import annotations

import functools
import gc
import inspect
import logging
import traceback
import typing

import gradio as gr

from runtime.backends import BackendError
from runtime.download import DownloadError
from runtime.files import hide_paths
from runtime.hub import CheckpointUnavailable
from runtime.inputs import collect_notices
from ui.actions import parameters
from ui.context import Context
from ui.handlers import ModelLoadError, is_out_of_memory, refusal
from ui.messages import text, translate
from ui.server.language import request_language

log = logging.getLogger("playground")
REQUEST = "page_request"  # the parameter through which Gradio hands the chain the request


def endpoint(fn, ctx: Context, inputs, *, typed=None, images=0):
    """``fn`` as Gradio should call it for a request wired to ``inputs``: a task a student
    asks for, counted against the classroom's limits and logged (``typed``: the parameters
    holding what the student typed, by default the visible text boxes among ``inputs``;
    ``images``: how many images one call makes, see ``ClassroomPolicy.declare``)."""
    inputs = _listed(inputs)
    checked = ctx.classroom.declare(fn, inputs, typed=typed, images=images, counted=True)
    return _chain(fn, ctx, checked, _labels(fn, inputs))


def display(fn, ctx: Context | None, inputs=None):
    """``fn`` as Gradio should call it for an event that is no task a student asks for: it
    shows what a request made (a status line, Show the code, a chart redrawn) or the app's
    state (the models panel). In the page's language, held to the teacher's locks, its
    failures as messages, but not another request: neither counted nor logged.
    ``ctx`` None: no classroom rule concerns it (its inputs are no control a rule names)."""
    inputs = _listed(inputs)
    checked = ctx.classroom.declare(fn, inputs, counted=False) if ctx is not None else None
    return _chain(fn, ctx, checked, _labels(fn, inputs))


def _chain(fn, ctx: Context | None, checked, labels: dict[str, str]):
    signature = inspect.signature(fn)
    if REQUEST in signature.parameters:
        raise TypeError(f"{_name(fn)}: the parameter name {REQUEST!r} is the chain's own")
    policy = ctx.classroom if ctx is not None else None

    def classroom_rules(request, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """2. The call's arguments, checked, with the teacher's default for an empty model picker."""
        if policy is None:
            return args, kwargs
        try:
            bound, full = signature.bind_partial(*args, **kwargs), signature.bind_partial(*args, **kwargs)
        except TypeError:  # wrong arguments: the handler itself says so (step 4)
            return args, kwargs
        full.apply_defaults()
        try:
            arguments = policy.check(checked, _inputs_of(signature, full.arguments), request)
        except ValueError as error:
            raise refusal(translate(error, labels=labels), title=text("title_classroom")) from None
        bound.arguments.update({name: arguments[name] for name in checked.pickers if name in arguments})
        return bound.args, bound.kwargs

    if inspect.isgeneratorfunction(fn):

        def stream(page_request, *args, **kwargs):
            steps = None

            def start():
                nonlocal steps
                checked_args, checked_kwargs = classroom_rules(page_request, args, kwargs)  # 2.
                # 3. Input guard: ahead of this chain (see the module's docstring).
                steps = fn(*checked_args, **checked_kwargs)
                return next(steps, _DONE)

            try:
                with request_language(page_request):  # 1., around each step: each may run in another thread
                    item = _errors_and_notices(start, _name(fn), labels)()  # 4.
                while item is not _DONE:
                    yield item
                    with request_language(page_request):
                        item = _errors_and_notices(lambda: next(steps, _DONE), _name(fn), labels)()
            finally:  # Stop or a closed page (Gradio closes this generator): the handler's cleanup runs now
                if steps is not None:
                    with request_language(page_request):
                        steps.close()

        return _as_handler(stream, fn, signature)

    def call(page_request, *args, **kwargs):
        with request_language(page_request):  # 1.
            args, kwargs = classroom_rules(page_request, args, kwargs)  # 2.
            # 3. Input guard: ahead of this chain (see the module's docstring).
            return _errors_and_notices(fn, _name(fn), labels)(*args, **kwargs)  # 4.

    return _as_handler(call, fn, signature)


def _as_handler(wrapper, fn, signature: inspect.Signature):
    """``wrapper`` dressed as ``fn`` for Gradio: its name, docstring and parameters, with
    the request's parameter first (Gradio fills a parameter in by its annotation, and
    only positional ones: first, it never takes the place of an input left out)."""
    functools.update_wrapper(wrapper, fn)
    wrapper.__name__ = _name(fn)
    try:
        hints = typing.get_type_hints(fn)
    except TypeError:  # not a function (a functools.partial): Gradio reads no annotation of it either
        hints = {}
    except NameError as error:  # Gradio reads them too: unread, it would pass the request as an input
        raise TypeError(f"{_name(fn)}: its annotations can't be read ({error})") from None
    request = inspect.Parameter(REQUEST, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    wrapper.__signature__ = signature.replace(parameters=[request, *signature.parameters.values()])
    wrapper.__annotations__ = {**hints, REQUEST: gr.Request}
    return wrapper


def _name(fn) -> str:
    """A handler's name, as Gradio names its event by it (a functools.partial by its type)."""
    return getattr(fn, "__name__", None) or type(fn).__name__


_DONE = object()


def _errors_and_notices(fn, name: str, labels: dict[str, str]):
    """4. ``fn``, whose failures become messages: a pipeline's ValueError/TypeError (bad
    input) or a missing checkpoint becomes a gr.Error the user reads; running out of
    memory (host or GPU), a model that fails to load and any other failure are logged,
    the memory they held is freed, and the user gets a message while the app keeps
    serving. Notices the pipeline gave (``runtime.inputs.notify``) are shown as warnings."""

    def run(*args, **kwargs):
        failure = None
        with collect_notices() as notices:
            try:
                result = fn(*args, **kwargs)
            except gr.Error:
                raise
            except BackendError as error:  # a model server down, slow, busy or failing: one line, no traceback
                log.warning("model server: %s", error)
                raise gr.Error(
                    hide_paths(translate(error)), title=text("title_server"), print_exception=False
                ) from None
            except (ValueError, TypeError, CheckpointUnavailable) as error:
                raise refusal(translate(error, labels=labels)) from None
            except DownloadError as error:  # missing, gated, a failing server, a full disk: one line, no traceback
                raise refusal(translate(error), title=text("title_download")) from None
            except Exception as error:  # MemoryError included
                failure = _failure_message(name, error)
        if failure is not None:
            # Freed only here, out of the except block: until then the traceback keeps
            # every frame of the failed call alive, and with them its tensors.
            _free_memory()
            # Logged with its traceback already (_failure_message): not again by Gradio.
            raise gr.Error(failure[1], title=failure[0], print_exception=False) from None
        for message in notices:
            gr.Warning(translate(message, labels=labels))
        return result

    return run


def _failure_message(handler: str, error: Exception) -> tuple[str, str]:
    """(title, message) for an unexpected failure, logged with its traceback."""
    if is_out_of_memory(error):
        log.warning("handler %s ran out of memory: %s", handler, str(error)[:500])
        return text("title_memory"), text("out_of_memory")
    # The traceback is logged as text: a log record holding the exception itself would
    # keep the failed call's frames, and their tensors, alive in any handler that keeps records.
    log.error("handler %s failed:\n%s", handler, "".join(traceback.format_exception(error)).rstrip())
    if isinstance(error, ModelLoadError):
        model, detail = getattr(error, "model", ""), getattr(error, "detail", str(error))
        return text("title_load"), text("load_failed", model=model, detail=hide_paths(detail))
    detail = hide_paths(f"{type(error).__name__}: {error}")  # the log keeps the paths, the user doesn't see them
    detail = detail if len(detail) <= 300 else detail[:300] + "…"
    return text("title_model"), text("model_failed", detail=detail)


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _listed(inputs) -> list:
    if inputs is None:
        return []
    return list(inputs) if isinstance(inputs, (list, tuple, set)) else [inputs]


def _labels(fn, inputs: list) -> dict[str, str]:
    """The label keys of the controls wired to ``fn``'s parameters: a message about its
    ``max_new_tokens`` then names the control the user set (Chat's "Maximum answer length
    (tokens)", not Caption's)."""
    found = {}
    for name, component in zip(parameters(fn), inputs, strict=False):
        if key := getattr(getattr(component, "label", None), "key", None):
            found[name] = key
    return found


def _inputs_of(signature: inspect.Signature, arguments: dict) -> dict:
    """The arguments that come from inputs: not those Gradio fills in (progress, the request)."""
    return {
        name: value
        for name, value in arguments.items()
        if not isinstance(signature.parameters[name].default, gr.Progress)
        and "Request" not in str(signature.parameters[name].annotation)
    }
