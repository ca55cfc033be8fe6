"""Model servers: a task that runs on a remote server speaking the OpenAI-compatible API
(vLLM, SGLang, TGI, ``transformers serve``) instead of in this process.

``BACKEND_<TASK>`` holds the server's base URL (runtime/settings.py); ``backend_for``
says whether a task runs remotely and under which model name; ``client`` makes the
OpenAI client that talks to it (bounded timeouts, bounded retries with exponential
back-off on a refused connection, 408, 409, 429 and 5xx); ``BackendError`` is what every
failure of a server becomes: one sentence that says which server, what went wrong and
what to do, never a hung request.

    backend = backend_for("chat", checkpoint)      # None: in the process
    with talking_to(backend):                      # failures -> BackendError
        reply = client(backend).chat.completions.create(model=backend.model, ...)
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from urllib.parse import urlsplit

from runtime import settings
from runtime.registry import Checkpoint

# What each remote task is called in messages.
WHAT = {"chat": "vision-language", "speech_recognition": "speech recognition", "text_to_image": "text-to-image"}


class BackendError(RuntimeError):
    """A model server that can't be reached, is slow or busy, fails, or answers what the
    app can't read. Its message is for the user; the app keeps serving."""


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
    """The OpenAI client for ``backend``, one per server (it keeps a pool of connections).
    Retries are the client's own: bounded (BACKEND_RETRIES), with exponential back-off and
    jitter, honouring a server's Retry-After; a stream is never retried once it has started."""
    import httpx
    from openai import OpenAI

    timeout = httpx.Timeout(settings.BACKEND_TIMEOUT, connect=settings.BACKEND_CONNECT_TIMEOUT)
    return OpenAI(base_url=backend.url, api_key=settings.BACKEND_API_KEY or "not-needed", timeout=timeout,
                  max_retries=settings.BACKEND_RETRIES)  # fmt: skip


@contextlib.contextmanager
def talking_to(backend: Backend, received: list[str] | None = None):
    """Run a request to ``backend``: any failure becomes a ``BackendError`` saying what
    happened. ``received``: the text streamed so far, given while a stream is read: a
    connection lost then is a cut answer."""
    import httpx
    import openai

    server = f"The {WHAT.get(backend.task, backend.task)} server ({backend.describe()})"
    tries = settings.BACKEND_RETRIES + 1
    retried = f" (tried {tries} times)" if tries > 1 else ""
    try:
        yield
    except BackendError:
        raise
    except openai.APITimeoutError:
        raise BackendError(
            f"{server} did not answer within {settings.BACKEND_TIMEOUT:g} s{retried}. It may be overloaded: try "
            "again in a moment."
        ) from None
    except openai.APIConnectionError as error:
        cause = error.__cause__ or error
        if received is not None:  # the stream had started: the connection was lost in its middle
            raise _cut(server, received) from None
        raise BackendError(
            f"{server} can't be reached{retried}: {type(cause).__name__}. It may be starting or down: try again "
            "in a moment, or ask whoever runs this app."
        ) from None
    except openai.RateLimitError:
        raise BackendError(f"{server} is busy (429 Too Many Requests){retried}. Try again in a moment.") from None
    except openai.InternalServerError as error:
        raise BackendError(f"{server} failed ({error.status_code}){retried}. Try again in a moment.") from None
    except openai.APIStatusError as error:  # 4xx: the server's own reason, e.g. a context too long
        raise BackendError(f"{server} refused the request ({error.status_code}): {_reason(error)}") from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as error:  # inside a stream
        if isinstance(error, httpx.ReadTimeout):
            raise BackendError(
                f"{server} stopped sending for {settings.BACKEND_TIMEOUT:g} s in the middle of its answer; what "
                "arrived is shown. Try again."
            ) from None
        raise _cut(server, received) from None
    except (
        ValueError,
        openai.APIResponseValidationError,
        KeyError,
        IndexError,
        AttributeError,
        TypeError,
    ) as error:  # fmt: skip  (ValueError: bad JSON or base64)
        raise BackendError(
            f"{server} answered something that isn't an OpenAI-compatible reply ({type(error).__name__}). Check "
            f"that BACKEND_{backend.task.upper()} points at the server's /v1 URL."
        ) from None


def _cut(server: str, received: list[str] | None) -> BackendError:
    so_far = len("".join(received or []))
    return BackendError(
        f"{server} closed the connection in the middle of its answer, after {so_far:,} characters; what arrived "
        "is shown. Try again."
    )


def _reason(error) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        body = body.get("error", body)
        body = body.get("message", body) if isinstance(body, dict) else body
        body = body.get("detail", body) if isinstance(body, dict) else body
    text = " ".join(str(body or error.message).split())
    return text if len(text) <= 300 else text[:300] + "…"


class NeedsLocalModel(ValueError):
    """A view that reads the model's insides, asked of a model that runs on a server."""


def needs_local_model(pipeline, view: str) -> None:
    """Raise ``NeedsLocalModel`` when ``pipeline`` (or the chat model it adapts) runs on a server."""
    backend = getattr(pipeline, "backend", None) or getattr(getattr(pipeline, "chat", None), "backend", None)
    if backend is not None:
        raise NeedsLocalModel(
            f"{view} needs the model in this process: it reads the model's insides, which a server doesn't send. "
            f"This task runs on {backend.describe()} (BACKEND_{backend.task.upper()}); the answer itself works."
        )
