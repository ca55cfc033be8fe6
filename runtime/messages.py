"""Messages with a stable code, so that the UI can say them in the page's language.

A pipeline refuses bad input with ``InputError`` (a ``ValueError``) and tells the user
something about a request with a ``Notice`` (``runtime.inputs.notify``). Each carries a
``code`` ("number_range") and its ``params`` ({"name": "width", "low": 64, ...}); its
text (``str()``) is the English message, the rule and the bad value, as API clients and
logs read it. The UI looks the code up in its catalogue (``ui/locales/<locale>/
messages.json``) and writes the message in the page's language, with a parameter's name
(``name="width"``) as the control's label on the page (ui/messages.py).

Nothing here imports the UI: pipelines stay usable without it.
"""

from __future__ import annotations


class InputError(ValueError):
    """A refused input: ``str(error)`` is the English message; ``code`` and ``params``
    let the UI say it in another language. Params are plain values (str, int, float)."""

    def __init__(self, code: str, message: str, **params):
        super().__init__(message)
        self.code = code
        self.params = params

    def __reduce__(self):  # pickled and copied whole (the default would call __init__ with the message only)
        return _input_error, (type(self), self.code, str(self), self.params)


class Notice(str):
    """A notice (not an error) with a code: a ``str`` (its English text), so that code
    which joins, compares or logs notices keeps working, with ``code`` and ``params``
    for the UI to translate."""

    code: str
    params: dict

    def __new__(cls, code: str, message: str, **params) -> Notice:
        notice = super().__new__(cls, message)
        notice.code = code
        notice.params = params
        return notice

    def __reduce__(self):
        return _notice, (type(self), self.code, str(self), self.params)


def _input_error(cls, code: str, message: str, params: dict) -> InputError:
    return cls(code, message, **params)


def _notice(cls, code: str, message: str, params: dict) -> Notice:
    return cls(code, message, **params)


def model_names(*checkpoints) -> dict:
    """Checkpoints as a message names them: ``{"en": their labels, "models": [[key, label], ...]}``;
    the UI writes each in the page's language (its localised display name, ui/messages.py),
    an API client reads the English labels."""
    return {"en": ", ".join(c.label for c in checkpoints), "models": [[c.key, c.label] for c in checkpoints]}
