"""Model servers: a task that runs on a remote server speaking the OpenAI-compatible API
(vLLM, SGLang, TGI, ``transformers serve``) instead of in this process.

``BACKEND_<TASK>`` holds the server's base URL (runtime/settings.py); ``backend_for``
says whether a task runs remotely and under which model name; ``client`` makes the
OpenAI client that talks to it (bounded timeouts, bounded retries with exponential
back-off on a refused connection, 408, 409, 429 and 5xx); ``BackendError`` is what every
failure of a server becomes: one sentence that says which server, what went wrong and
what to do, never a hung request.

A server is untrusted input: each call has one deadline and a bounded reply, and is sent
to the server's own origin only (runtime/backend_http.py); what the reply holds is checked
by the pipelines (pipelines/remote.py).

    backend = backend_for("chat", checkpoint)      # None: in the process
    with talking_to(backend):                      # one call's budget; failures -> BackendError
        reply = client(backend).chat.completions.create(model=backend.model, ...)
"""

from __future__ import annotations

import atexit
import contextlib
import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from runtime import settings
from runtime.messages import InputError, english, said
from runtime.registry import Checkpoint

# The remote tasks, whose servers messages name by their kind (server_what_<task> in the catalogue).
TASKS = ("chat", "speech_recognition", "text_to_image")


class BackendError(RuntimeError):
    """A model server that can't be reached, is slow or busy, fails, or answers what the
    app can't read. ``str()`` is the English message (runtime/locales/en/messages.json);
    ``code`` and ``params`` let the UI say it in the page's language (as ``runtime.messages.InputError``)."""

    def __init__(self, code: str, backend: Backend, **params):
        tries = settings.BACKEND_RETRIES + 1
        params = {
            "what": said(f"server_what_{backend.task}") if backend.task in TASKS else backend.task,
            "server": backend.describe(),
            "setting": f"BACKEND_{backend.task.upper()}",
            "retried": said("server_retried", tries=tries) if tries > 1 else "",
            **params,
        }
        super().__init__(english(code, params))
        self.code, self.params = code, params


@dataclass(frozen=True)
class Backend:
    task: str
    url: str  # the base URL, up to and including /v1
    model: str  # the model name the server knows

    @property
    def where(self) -> str:
        """The server as messages name it: host and port, without any credentials in the URL."""
        parts = urlsplit(self.url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else self.url

    @property
    def shown_model(self) -> str:
        """The model name as messages show it: a local directory by its name alone (no path of
        the server's disk)."""
        return self.model.rstrip("/").rsplit("/", 1)[-1] if self.model.startswith(("/", "~", ".")) else self.model

    def describe(self) -> str:
        return f"{self.shown_model} at {self.where}"


def backend_for(task: str, checkpoint: Checkpoint | None = None) -> Backend | None:
    """The server ``task`` runs on (a chat model that Caption or Ask borrows: the chat
    server), or None when it runs in this process."""
    url = settings.BACKENDS.get(task)
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"BACKEND_{task.upper()} must be an http:// or https:// URL, not {url!r}.")
    model = settings.BACKEND_MODELS.get(task) or (checkpoint.repo_id if checkpoint is not None else "")
    if not model:
        raise ValueError(f"Set BACKEND_{task.upper()}_MODEL: the model name the server at {url} serves.")
    return Backend(task, url, model)


@functools.cache
def client(backend: Backend):
    """The OpenAI client for ``backend``, one per server.
    Retries are the client's own: bounded (BACKEND_RETRIES), with exponential back-off and
    jitter, honouring a server's Retry-After; a stream is never retried once it has started.
    Its HTTP is ``BoundedTransport``: a deadline per call, a bounded reply, this origin only."""
    import httpx2
    from openai import OpenAI, Timeout

    from runtime.backend_http import BoundedTransport

    parts = urlsplit(backend.url)
    transport = BoundedTransport(
        f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",
        settings.BACKEND_DEADLINE,
        settings.BACKEND_MAX_REPLY_BYTES,
    )
    # The client's own Timeout type (openai re-exports its HTTP library's): a timeout of
    # another HTTP library (httpx's) is refused by some releases of that library.
    timeout = Timeout(settings.BACKEND_TIMEOUT, connect=settings.BACKEND_CONNECT_TIMEOUT)
    made = OpenAI(
        base_url=backend.url,
        api_key=settings.BACKEND_API_KEY or "not-needed",
        timeout=timeout,
        max_retries=settings.BACKEND_RETRIES,
        http_client=httpx2.Client(transport=transport, timeout=timeout, follow_redirects=True),
    )
    atexit.register(made.close)  # closed while the interpreter is whole (not in a late __del__)
    return made


@contextlib.contextmanager
def talking_to(backend: Backend, received: list[str] | None = None, call=None):
    """Run a call to ``backend`` within one budget (``runtime.backend_http.Call``: its
    deadline and reply bytes; ``call`` continues one, else a new one starts): any failure
    becomes a ``BackendError`` saying what happened. ``received``: the text streamed so
    far, given while a stream is read (no request is sent then: its connection already
    has the budget): a connection lost then is a cut answer. Yields the call."""
    import openai

    from runtime.backend_http import Call, Fault, calling

    # The client wraps its HTTP library's errors, inside a stream too (openai/_streaming.py):
    # a read that times out is APITimeoutError, a lost connection APIConnectionError. So
    # nothing here names that library, whose exceptions are not httpx's. A call over its
    # budget raises a Fault (an OpenAIError too), which the client passes on as it is.
    seconds = f"{settings.BACKEND_TIMEOUT:g}"
    call = call or Call.start(settings.BACKEND_DEADLINE, settings.BACKEND_MAX_REPLY_BYTES)
    try:
        if received is None:
            with calling(call):
                yield call
        else:
            yield call
    except BackendError:
        raise
    except Fault as fault:
        raise BackendError(fault.code, backend, **fault.params) from None
    except openai.APITimeoutError:
        if call.expired:
            raise BackendError("server_deadline", backend, seconds=f"{call.seconds:g}") from None
        code = "server_timeout" if received is None else "server_stalled"  # stalled: in the middle of a stream
        raise BackendError(code, backend, seconds=seconds) from None
    except openai.APIConnectionError as error:
        if received is not None:  # the stream had started: the connection was lost in its middle
            raise BackendError("server_cut", backend, count=f"{len(''.join(received)):,}") from None
        raise BackendError("server_unreachable", backend, reason=type(error.__cause__ or error).__name__) from None
    except openai.RateLimitError:
        raise BackendError("server_busy", backend) from None
    except openai.InternalServerError as error:
        raise BackendError("server_failed", backend, status=error.status_code) from None
    except openai.APIStatusError as error:  # 4xx: the server's own reason, e.g. a context too long
        raise BackendError("server_refused", backend, status=error.status_code, reason=_reason(error)) from None
    except (
        ValueError,
        openai.APIResponseValidationError,
        KeyError,
        IndexError,
        AttributeError,
        TypeError,
    ) as error:  # (ValueError: bad JSON or base64)
        raise BackendError("server_garbled", backend, reason=type(error).__name__) from None


def _reason(error) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        body = body.get("error", body)
        body = body.get("message", body) if isinstance(body, dict) else body
        body = body.get("detail", body) if isinstance(body, dict) else body
    text = " ".join(str(body or error.message).split())
    return text if len(text) <= 300 else text[:300] + "…"


class NeedsLocalModel(InputError):
    """A view that reads the model's insides, asked of a model that runs on a server."""


def needs_local_model(pipeline, view: str) -> None:
    """Raise ``NeedsLocalModel`` when ``pipeline`` (or the chat model it adapts) runs on a
    server; ``view``: "where", "caption", "answer", "forming" or "latents" (its name in
    the catalogue: view_<view>)."""
    backend = getattr(pipeline, "backend", None) or getattr(getattr(pipeline, "chat", None), "backend", None)
    if backend is not None:
        params = {
            "view": said(f"view_{view}"),
            "server": backend.describe(),
            "setting": f"BACKEND_{backend.task.upper()}",
        }
        raise NeedsLocalModel(
            "needs_local_model",
            **params,
        )
