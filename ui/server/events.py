"""Every event's inputs, checked before Gradio reads them, and its results, said safely
(``EventGuard``, an ASGI middleware). Gradio reads an event's inputs before any handler
runs: it downloads a URL given as a file, reads a file given by path without "meta" from
anywhere on disk, and answers what it can't read with an empty error ("error": null). Gradio
has no hook before that step, so the inputs are checked where they arrive: in the JSON body
of the request that starts the event, by ``EventGuard``. A refused request never reaches the
event's handler: it runs ``input_refused`` instead, a declared endpoint that raises the
refusal, so the client reads it as every other message of the app (gradio_client's AppError,
the page's notice, an MCP tool error).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import re
import urllib.parse
from collections import OrderedDict
from pathlib import Path

import gradio as gr
from PIL import Image, UnidentifiedImageError
from starlette.requests import Request

from runtime.files import hide_paths
from runtime.inputs import IMAGE_FORMATS
from runtime.messages import InputError, said
from ui.handlers import refusal
from ui.messages import text, translate
from ui.server.language import request_language
from ui.server.queue import EVENT_STREAM, SESSION_STREAM
from ui.server.security import NOT_UPLOADED, OWN_FILE_URL, URL_REFUSED, file_refusal, gradio_cache_dirs, replaying

log = logging.getLogger("playground")

REFUSED_HEADER = "x-playground-refused"  # set by EventGuard alone: a client's own is dropped
REFUSED_API = "input_refused"
JOIN_ROUTE = re.compile(r"^(.*?)/gradio_api/queue/join/?$")  # the page, gradio_client, Gradio's MCP client
CALL_ROUTE = re.compile(r"^(.*?)/gradio_api/call/(v2/)?([^/]+)/?$")  # the plain-HTTP API
DIRECT_ROUTE = re.compile(r"^(.*?)/gradio_api/(?:run|api)/([^/]+)/?$")  # events outside the queue


def input_refused(request: gr.Request) -> None:
    """Say why ``EventGuard`` refused this request's inputs (the event runs this instead;
    called without a refusal, it has nothing to say)."""
    carried = json.loads(urllib.parse.unquote(request.headers.get(REFUSED_HEADER) or "") or "{}")
    if carried.get("message"):
        raise gr.Error(carried["message"], title=carried.get("title"), print_exception=False)


def guard_inputs(demo: gr.Blocks) -> gr.Blocks:
    """Declare the endpoint that says why ``EventGuard`` refused an event's inputs (the
    middleware itself is in ``middleware()``)."""
    with demo:
        gr.api(input_refused, api_name=REFUSED_API, api_visibility="undocumented", concurrency_limit=None)

    return demo


class EventGuard:
    """ASGI middleware around Gradio's event routes: what a client sends an event, and
    what it reads back.

    - **Inputs**: the raw inputs of every event a client starts (the JSON body of
      ``queue/join``, ``call/<api_name>`` and ``run/<api_name>``; an MCP tool call
      reaches the first through Gradio's own client) are checked (``check_input``) before
      Gradio reads them. A refused request starts ``input_refused`` instead, carrying the
      message in the request's language; outside the queue the answer is Gradio's own
      error reply.
    - **Outputs**: in the results it streams back (``queue/data``, ``call/<api_name>/<id>``,
      the reply of ``run/<api_name>``), no text output names a folder of the server (a
      record's checkpoint folder, a message quoting a file; files go as Gradio's own
      references), and a failure with no message (Gradio could not read an input or
      prepare a handler's result: its traceback is in the log) says so in the page's
      language instead of a bare "Error".

    The event is found in Gradio's public records (``Blocks.fns``, read only); the events
    started through the queue are remembered by id until their result is sent. Every
    named endpoint is queued (the queue is opened with api_open=False), so an MCP tool
    call comes through here too (Gradio's MCP server would run an event outside the queue
    in-process, past any middleware: the app gives no such event a name)."""

    def __init__(self, app, remembered: int = 10_000):
        self.app = app
        self.events: OrderedDict[str, object] = OrderedDict()  # event id -> its BlockFunction
        self.remembered = remembered

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != REFUSED_HEADER.encode()]
        scope = {**scope, "headers": headers}
        blocks = getattr(scope.get("app"), "get_blocks", lambda: None)()
        path, method = scope["path"], scope["method"]
        if blocks is None:
            return await self.app(scope, receive, send)
        if method == "GET" and (SESSION_STREAM.match(path) or EVENT_STREAM.match(path)):
            return await self.app(scope, receive, self._said_safely(scope, send))
        if method == "POST" and (JOIN_ROUTE.match(path) or CALL_ROUTE.match(path) or DIRECT_ROUTE.match(path)):
            return await self._start(blocks, scope, receive, send)
        return await self.app(scope, receive, send)

    async def _start(self, blocks, scope, receive, send):
        path = scope["path"]
        body = b""
        while True:  # bounded by the Guard (MAX_REQUEST_BYTES)
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        fn = _event_of(blocks, path, payload) if isinstance(payload, dict) else None
        refused = None
        if fn is not None:
            with request_language(Request(scope)):
                refused = _refusal_of(blocks, fn, path, payload)
            body = json.dumps(payload).encode()  # the checks may have turned an agent's files into uploads
        if refused is not None:
            carried = urllib.parse.quote(json.dumps({"message": refused.message, "title": refused.title}))
            if DIRECT_ROUTE.match(path):  # what Gradio answers a gr.Error with there
                return await _reply(send, 500, {"error": refused.message, "title": refused.title, "visible": True})
            if match := CALL_ROUTE.match(path):
                scope = {**scope, "path": f"{match.group(1)}/gradio_api/call/{REFUSED_API}"}
                scope["raw_path"] = scope["path"].encode()
                payload = {"data": []}
            else:
                index = next(i for i, f in blocks.fns.items() if f.api_name == REFUSED_API)
                payload = {**payload, "fn_index": index, "data": [], "event_data": None, "trigger_id": None}
            body = json.dumps(payload).encode()
            scope = {**scope, "headers": [*scope["headers"], (REFUSED_HEADER.encode(), carried.encode())]}
            fn = None
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        replay = replaying(body, receive)

        if fn is None:
            return await self.app(scope, replay, send)
        if DIRECT_ROUTE.match(path):
            return await self.app(scope, replay, _whole_reply(send, lambda reply: _said(scope, fn, reply)))
        return await self.app(scope, replay, _whole_reply(send, lambda reply: self._remember(reply, fn)))

    def _remember(self, reply: dict, fn) -> dict:
        """A queued event's id (``reply``, Gradio's answer to its start), for its results."""
        if isinstance(reply, dict) and isinstance(reply.get("event_id"), str):
            self.events[reply["event_id"]] = fn
            while len(self.events) > self.remembered:
                self.events.popitem(last=False)
        return reply

    def _said_safely(self, scope, send):
        """``send`` for a result stream (server-sent events), each message rewritten by ``_said``."""
        pending, events = b"", False
        stream = EVENT_STREAM.match(scope["path"])

        async def rewrite(message):
            nonlocal pending, events
            if message["type"] == "http.response.start":
                events = b"text/event-stream" in dict(message.get("headers", [])).get(b"content-type", b"")
            if message["type"] != "http.response.body" or not events:  # an error reply: as it is
                return await send(message)
            pending += message.get("body", b"")
            *complete, pending = pending.split(b"\n\n")
            out = b"".join(self._said_event(scope, chunk, stream) + b"\n\n" for chunk in complete)
            if not message.get("more_body", False):
                out, pending = out + pending, b""  # an unfinished last event goes as it came
            if out or not message.get("more_body", False):
                await send({**message, "body": out})

        return rewrite

    def _said_event(self, scope, chunk: bytes, stream) -> bytes:
        """One server-sent event of a result stream, rewritten (``_said``)."""
        lines = chunk.split(b"\n")
        for i, line in enumerate(lines):
            if not line.startswith(b"data: "):
                continue
            try:
                data = json.loads(line[6:])
            except ValueError:
                continue
            if stream is not None:  # call/<api_name>/<id>: the outputs, or the error, alone
                fn = self.events.get(stream.group(1))
                kind = next((k for k in lines if k.startswith(b"event: ")), b"")[7:]
                if kind in (b"complete", b"error"):
                    self.events.pop(stream.group(1), None)
                message = {"output": data if kind == b"error" else {"data": data}, "success": kind != b"error"}
                said = _said(scope, fn, message["output"], message["success"])
                data = said if kind == b"error" else said.get("data")
            elif isinstance(data, dict) and data.get("msg") in ("process_completed", "process_generating"):
                fn = self.events.get(data.get("event_id"))
                if data["msg"] == "process_completed":
                    self.events.pop(data.get("event_id"), None)
                if isinstance(data.get("output"), dict):
                    data["output"] = _said(scope, fn, data["output"], data.get("success", True))
            else:
                continue  # heartbeats, estimates: as they are
            lines[i] = b"data: " + json.dumps(data).encode()
        return b"\n".join(lines)


def _said(scope, fn, output, success: bool = True):
    """``output`` (a result as Gradio sends it: {"data": [...]} or an error) with the
    server's folders hidden in its text outputs, and a message for an error without one."""
    if not isinstance(output, dict):
        return output
    if "error" in output or not success:
        if output.get("error") is None:
            with request_language(Request(scope)):
                output = {**output, "error": text("event_failed")}
            output["visible"] = True
        return output
    data = output.get("data")
    if fn is not None and isinstance(data, list):
        for i, block in enumerate(fn.outputs[: len(data)]):
            if isinstance(block, TEXT_OUTPUTS):
                data[i] = _hide_paths(data[i])
    return output


def _whole_reply(send, rewrite):
    """``send`` for a small JSON reply: held until complete, then ``rewrite(reply)`` sent."""
    start, chunks = None, []

    async def held(message):
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            return await send(message)
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        with contextlib.suppress(ValueError):  # not JSON: sent as it is
            body = json.dumps(rewrite(json.loads(body))).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return held


def _event_of(blocks, path: str, payload: dict):
    """The event (a ``BlockFunction`` of ``blocks.fns``) that a POST of ``payload`` to
    ``path`` starts; None for one Gradio doesn't know (it answers that itself)."""
    fns = blocks.fns
    match = CALL_ROUTE.match(path) or DIRECT_ROUTE.match(path)
    api_name = match.group(match.lastindex) if match else None
    if match is None or api_name == "predict":  # the page names its event by number
        fn = fns.get(payload.get("fn_index")) if isinstance(payload.get("fn_index"), int) else None
    else:
        fn = next((f for f in fns.values() if f.api_name == api_name), None)
    return None if fn is None or fn.api_name == REFUSED_API else fn


def _refusal_of(blocks, fn, path: str, payload: dict) -> gr.Error | None:
    """Why the inputs ``payload`` gives the event ``fn`` are refused, or None. Checks every
    input in place (an agent's list of files becomes uploads)."""
    match = CALL_ROUTE.match(path) or DIRECT_ROUTE.match(path)
    api_name = match.group(match.lastindex) if match else None
    data = _positional(blocks, fn, api_name, payload, path)
    if not isinstance(data, list):
        return None  # not a list of inputs: Gradio refuses the body itself
    names = list(getattr(fn, "input_parameter_names", None) or [])
    session = payload.get("session_hash") if isinstance(payload.get("session_hash"), str) else None
    try:
        if len(data) < len(fn.inputs):
            raise refusal(
                InputError("input_unreadable", detail=f"{len(fn.inputs)} values are needed, {len(data)} were given")
            )
        for i, (component, value) in enumerate(zip(fn.inputs, data, strict=False)):
            if getattr(component, "stateful", False):
                continue  # a gr.State: Gradio ignores what a client sends for it
            name = names[i] if i < len(names) and names[i] else f"input {i + 1}"
            check_input(_in_session(blocks, session, component), value, name)
            _readable(component, value)
    except gr.Error as error:
        return error
    return None


def _positional(blocks, fn, api_name: str | None, payload: dict, path: str):
    """The event's inputs, one per component of ``fn.inputs``, as Gradio will read them
    (the same objects as in ``payload``, so a check that changes one changes the body)."""
    call = CALL_ROUTE.match(path)
    if call is not None and call.group(2):  # call/v2: inputs by parameter name, defaults filled in
        info = blocks.get_api_info()["named_endpoints"].get(f"/{api_name}", {})
        from gradio_client import utils as client_utils

        try:
            values = client_utils.construct_args(info.get("parameters", []), (), dict(payload))
        except (TypeError, ValueError):
            return None  # Gradio refuses the arguments itself
        return _with_skipped(fn, values)  # the body's own objects: what a check changes is sent on
    data = payload.get("data")
    return _with_skipped(fn, data) if call is not None and isinstance(data, list) else data


def _with_skipped(fn, data: list) -> list:
    """``data`` as the plain-HTTP API sends it (no value for inputs it skips) with None in
    their places, as Gradio fills them."""
    if len(data) == len(fn.inputs):
        return data
    shown = [block for block in fn.inputs if not getattr(block, "skip_api", False)]
    if len(data) != len(shown):
        return data
    values = iter(data)
    return [None if getattr(block, "skip_api", False) else next(values) for block in fn.inputs]


def _in_session(blocks, session: str | None, component):
    """``component`` as the session ``session`` has it: an event may have changed its
    range or choices for that session. Gradio keeps those in its state holder and has no
    public accessor for them, so it is read here (never written); a session it doesn't
    hold sees the component as built."""
    holder = getattr(blocks, "state_holder", None)
    if not session or holder is None or session not in holder:
        return component
    key = next((key for key, block in blocks.blocks.items() if block is component), None)
    return holder[session].get(key, component) if key is not None else component


def _readable(component, value) -> None:
    """Refuse ``value`` if Gradio could not read it as ``component``'s data (what it would
    answer with an empty error)."""
    model = getattr(component, "data_model", None)
    if model is None or value is None:
        return
    try:
        model.model_validate(copy.deepcopy(value), context={"validate_meta": True})
    except Exception as error:  # noqa: BLE001 (pydantic's and Gradio's own, said the same way)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise refusal(InputError("input_unreadable", detail=first_line)) from None


async def _reply(send, status: int, content: dict) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


TEXT_OUTPUTS = (gr.JSON, gr.Code, gr.Markdown, gr.Textbox, gr.Label, gr.HTML, gr.Dataframe)


def _hide_paths(value):
    """``value`` (a payload: text, lists, dicts) with every string's server folders hidden."""
    if isinstance(value, str):
        return hide_paths(value)
    if isinstance(value, list):
        return [_hide_paths(item) for item in value]
    if isinstance(value, dict):
        return {key: _hide_paths(item) for key, item in value.items()}
    if hasattr(value, "root"):  # a pydantic root model: gr.JSON's payload
        value.root = _hide_paths(value.root)
    return value


def _refuse(name: str, code: str, component=None, **params) -> None:
    """Refuse the input ``name`` with the message ``code`` (runtime/locales/*/messages.json),
    said in the request's language, naming the control by its label on the page."""
    key = getattr(getattr(component, "label", None), "key", None)
    error = InputError(code, name=name, **params)
    raise refusal(translate(error, labels={name: key} if key else None))


def check_input(component, value, name: str) -> None:
    """Refuse ``value`` for ``component`` (the parameter ``name``) with a clear message."""
    if value is None:
        return
    if isinstance(component, gr.File) and isinstance(value, list):
        value[:] = [_file_from_text(item) for item in value]  # an MCP agent's list of files
    if _takes_files(component):
        _check_files(value, name, gradio_cache_dirs()[:1])  # the upload folder
    if isinstance(component, gr.Image) and isinstance(value, dict) and isinstance(value.get("path"), str):
        _check_image(value["path"], name, component)
    if isinstance(component, (gr.Number, gr.Slider)):
        low, high = component.minimum, component.maximum
        bounds = {"low": "−∞" if low is None else f"{low:g}", "high": "∞" if high is None else f"{high:g}"}
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _refuse(name, "number_expected", component, value=_show(value))
        if not math.isfinite(value):
            _refuse(name, "number_range", component, **bounds, value=str(value))
        if _whole(component) and float(value) != int(value):  # Gradio would round it silently
            _refuse(name, "number_whole", component, value=f"{value:g}")
        if (low is not None and value < low) or (high is not None and value > high):  # refused, never clamped
            _refuse(name, "number_bounds", component, **bounds, value=f"{value:g}")
    elif isinstance(component, gr.Textbox) and not isinstance(value, str):
        _refuse(name, "text_expected", component, value=_show(value))
    elif isinstance(component, gr.Checkbox) and not isinstance(value, bool):
        _refuse(name, "flag_type", component, value=_show(value))
    elif isinstance(component, (gr.Dropdown, gr.Radio)) and not getattr(component, "allow_custom_value", False):
        allowed = [choice[1] for choice in component.choices]
        chosen = value if getattr(component, "multiselect", False) and isinstance(value, list) else [value]
        if any(item not in allowed for item in chosen):
            _refuse(name, "choice_unknown", component, allowed=str(allowed), value=_show(value))
    elif isinstance(component, gr.CheckboxGroup):
        allowed = [choice[1] for choice in component.choices]
        if not isinstance(value, list) or any(item not in allowed for item in value):
            _refuse(name, "choices_unknown", component, allowed=str(allowed), value=_show(value))
    elif isinstance(component, gr.Chatbot) and (
        not isinstance(value, list)
        or any(not isinstance(m, dict) or m.get("role") not in ("user", "assistant") for m in value)
    ):
        _refuse(name, "chat_history_type", component)
    elif _takes_files(component) and not isinstance(value, (dict, list)):
        _refuse(name, "file_expected", component, value=_show(value))


def _check_image(path: str, name: str, component) -> None:
    """An uploaded file Pillow can't identify as an image is refused here, in the request's
    language: Gradio reads it later, outside any request. Only the header is read."""
    try:
        with Image.open(path) as opened:
            opened.format  # noqa: B018 (identifying it is the check)
    except UnidentifiedImageError:
        formats = ", ".join(sorted(IMAGE_FORMATS))
        _refuse(name, "image_unreadable", component, file=Path(path).name, formats=formats)
    except Exception:  # noqa: BLE001 (too large, truncated, missing: the pipeline's own checks say which)
        return


def _file_from_text(item):
    """A list of files as an MCP agent sends it: each a base64 ``data:`` URL or the URL of
    a file uploaded here (Gradio's MCP server turns these into files for a single file,
    not inside a list). A ``data:`` URL becomes an upload, saved as Gradio saves one; the
    file checks that follow apply to both. Anything else is left for them to refuse."""
    if not isinstance(item, str):
        return item
    if item.startswith("data:"):
        from gradio import processing_utils

        try:
            path = processing_utils.save_base64_to_cache(item, str(gradio_cache_dirs()[0]))
        except Exception:  # noqa: BLE001 (any undecodable data: URL is refused the same way)
            raise refusal(InputError("data_url_undecodable")) from None
        return {"path": path, "meta": {"_type": "gradio.FileData"}}
    if OWN_FILE_URL.match(item):
        return {"path": None, "url": item, "meta": {"_type": "gradio.FileData"}}  # _check_files reads it
    return item


def _whole(component) -> bool:
    """Whether a number control takes whole numbers only: a Number with precision 0, or
    a Slider whose steps from a whole minimum are whole."""
    if isinstance(component, gr.Number):
        return component.precision == 0
    step, low = component.step, component.minimum
    return step is not None and float(step).is_integer() and (low is None or float(low).is_integer())


def _takes_files(component) -> bool:
    """Components whose value is read as files. (Gradio itself refuses a file object in
    any other component's value unless it was uploaded.)"""
    # A Chatbot's value (a conversation sent back by an API client) holds its messages' files.
    return isinstance(component, (gr.Image, gr.File, gr.Audio, gr.Video, gr.Gallery, gr.Model3D, gr.Chatbot))


def _check_files(value, name: str, upload_dirs: list[Path]) -> None:
    """Every file reference in ``value`` (a dict with a "path" or "url", at any depth)
    must be a file uploaded to this app."""
    if isinstance(value, list):
        for item in value:
            _check_files(item, name, upload_dirs)
    elif isinstance(value, dict):
        for key in ("path", "url"):  # a URL of a file uploaded here stands for that file
            if isinstance(value.get(key), str) and (own := OWN_FILE_URL.match(value[key])):
                value["path"], value["url"] = urllib.parse.unquote(own.group(1)), None
        path, url = value.get("path"), value.get("url")
        if isinstance(url, str) and url.lower().startswith("data:"):  # Gradio would decode it instead of the path
            _refuse(name, "data_url_refused")
        if path is not None:
            if not isinstance(path, str):
                _refuse(name, "file_path_type", value=_show(path))
            # A file uploaded by a client may be named ".photo.png": it's theirs to send.
            reason = file_refusal(path, upload_dirs, outside=NOT_UPLOADED, dotfiles=True)
            if reason is not None:  # with how to send it instead, unless it was a URL
                _refuse(name, "file_refused" if reason == URL_REFUSED else "file_refused_upload", reason=said(reason))
        elif url is not None:
            _refuse(name, "file_refused", reason=said(URL_REFUSED))
        for key, item in value.items():
            if key not in ("path", "url", "meta") and isinstance(item, (dict, list)):
                _check_files(item, name, upload_dirs)


def _show(value) -> str:
    text = repr(value)
    return (text if len(text) <= 60 else text[:57] + "...") + f" ({type(value).__name__})"
