"""Messages in the page's language: refusals and notices, said by their codes.

Pipelines raise ``runtime.messages.InputError`` (a ``ValueError`` with a ``code`` and its
``params``, its English text for the API) and give ``Notice``s; here the code is looked
up in the catalogue (``runtime/locales/<locale>/messages.json``) and written in the language
of the request being served (``ui.server.language.page_language``). A ``name`` parameter ("width",
"caption prompt") becomes the label of the control as the page shows it: the handler's
own input of that name (ui/chain.py reads them where the event is declared), else the
control that usually sets it (``NAMES``). A message without a code (or whose code the
catalogue lacks) is shown as it was raised.

The API's policy (docs/languages.md): a client that sends no language reads the message
as raised, in English, naming parameters as the API names them (`max_new_tokens`); one
that sends ``Accept-Language: zh-CN`` reads Chinese. The page sends its language cookie
(ui/server/language.py), so it reads its own language, naming its controls.

A number outside its control's range is refused before the handler runs, by
``ui.server.events.check_input``, with the same catalogue: never clamped.
"""

from __future__ import annotations

from ui.i18n import EN, t
from ui.server.language import FROM_PAGE, page_language

# What a parameter or a thing a check names is called on the page: the label key of the
# control that usually sets it. A handler's own inputs come first (ui/chain.py's ``labels``).
NAMES = {
    "image": "common.image",
    "uploaded image": "common.image",
    "seed": "common.seed",
    "prompt": "create.prompt",
    "negative prompt": "create.negative_prompt",
    "width": "create.width",
    "height": "create.height",
    "num_inference_steps": "create.steps",
    "guidance_scale": "create.guidance",
    "num_images": "create.num_images",
    "caption prompt": "caption.prompt",
    "max_new_tokens": "caption.max_new_tokens",
    "num_beams": "caption.num_beams",
    "temperature": "caption.temperature",
    "top_p": "caption.top_p",
    "do_sample": "caption.do_sample",
    "question": "ask.question",
    "search text": "search.query",
    "query": "search.query",
    "top_k": "search.top_k",
    "text_weight": "search.text_weight",
    "list of labels": "search.labels",
    "labels": "search.labels",
    "examples": "search.examples_per_label",
    "message": "chat.message",
    "system prompt": "chat.system_prompt",
    "text to speak": "speak.text",
    "speaking_rate": "speak.rate",
    "limit": "evaluate.limit",
    "candidate answers": "explain.candidates",
    "layer": "explain.layer",
    "learning_rate": "fusion.learning_rate",
    "hidden_size": "fusion.hidden_size",
    "epochs": "fusion.epochs",
    "batch_size": "contrastive.batch_size",
    "embedding_size": "contrastive.embedding_size",
    "audio": "listen.audio",
    "text": "explain.matrix_texts",
    "language": "listen.language",
}
PREFIX = "messages."  # the catalogue's namespace: runtime/locales/<locale>/messages.json


def locale() -> str:
    """The language of the request being served ("en" outside a request)."""
    return page_language() or "en"


def words(prefix: str, where: str | None = None) -> dict[str, str]:
    """The strings under ``prefix`` ("explain.figure.") in ``where`` (the request's language
    by default), named without it: the words a figure drawn below the UI writes
    (explain/clip.py ``WORDS``)."""
    return {key.removeprefix(prefix): t(key, where or locale()) for key in EN if key.startswith(prefix)}


def label(name: str, where: str | None = None, labels: dict[str, str] | None = None) -> str:
    """``name`` (a parameter, "width", or a thing, "caption prompt") as the page calls it,
    in quotes: “Width” / “宽度”; a name the page has no control for stays as it is."""
    key = (labels or {}).get(name) or NAMES.get(name)
    return f"“{t(key, where or locale())}”" if key else f"`{name}`"


def translate(message, where: str | None = None, labels: dict[str, str] | None = None) -> str:
    """An ``InputError``, ``Notice`` or plain message as the page says it: its code's
    text in ``where`` (the request's language by default), with its parameters filled in."""
    code, params = getattr(message, "code", None), getattr(message, "params", None)
    if not code or PREFIX + code not in EN or params is None:
        return str(message)
    if where is None and locale() == "en" and not FROM_PAGE.get():
        return str(message)  # an API client in English: the message as raised, naming parameters as the API does
    where = where or locale()
    values = {key: _value(key, value, where, labels) for key, value in params.items()}
    # The API's English names a parameter in backticks ("`width` must be", "`width`: must be");
    # the page writes its control's label there, in its own quotes ("“Width” must be").
    template = t(PREFIX + code, where).replace("`{name}`:", "{name}").replace("`{name}`", "{name}")
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):  # the catalogue and the raise out of step: the English as raised
        return str(message)


def model_name(key: str, label: str, where: str | None = None) -> str:
    """A checkpoint's display name in ``where`` (the request's language by default): its
    entry in ``ui/locales/<locale>/checkpoints.json``, else its registry label (a name
    such as "BLIP base" reads the same in both languages)."""
    found = "checkpoints." + key
    return t(found, where or locale()) if found in EN else label


def _value(key: str, value, where: str, labels: dict[str, str] | None):
    if isinstance(value, dict) and "models" in value:  # checkpoints (runtime.messages.model_names): their names
        return t(PREFIX + "list_separator", where).join(model_name(k, name, where) for k, name in value["models"])
    if isinstance(value, dict) and "en" in value:  # said in each language by the pipeline: {"en": .., "zh-CN": ..}
        return value.get(where, value["en"])
    if key == "task" and f"evaluate.task.{value}" in EN:  # a probe task, as the Evaluate tab names it
        return t(f"evaluate.task.{value}", where)
    return label(value, where, labels) if key == "name" else value


def text(code: str, **values) -> str:
    """The catalogue's ``code`` in the request's language, filled in."""
    return t(PREFIX + code, locale()).format(**values)
