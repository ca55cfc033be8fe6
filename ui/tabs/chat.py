"""Chat tab: a conversation about one or more images with a vision-language model
(pipelines/vlm.py), streamed token by token, with a Stop button."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from explain import snippets
from pipelines.chat_budget import MAX_ANSWER_TOKENS, MAX_MESSAGE_CHARS, check_length
from pipelines.limits import CHAT
from runtime import settings
from runtime.backends import needs_local_model
from runtime.inputs import InputTypeError, check_number, check_text, notify
from runtime.messages import InputError, Notice
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import examples, model_picker, model_status, seed_input, session_state, status_line
from ui.context import Context
from ui.handlers import get_model, gpu_method
from ui.i18n import _, bilingual, both
from ui.server.mcp_inputs import Conversation, Files
from ui.server.queue import Deadline, model_event

# (message, images): examples in both languages, each with its images.
EXAMPLES = [
    ("Describe this picture in one sentence.", ["cat.jpg"]),
    ("What is different between these two pictures?", ["cat.jpg", "horse.jpg"]),
    ("Read the text in this picture.", ["text.jpg"]),
    ("How many coins are there, and what are they made of?", ["coins.jpg"]),
]
EXAMPLES_ZH = [
    ("用一句话描述这张图片。", ["cat.jpg"]),
    ("这两张图片有什么不同？", ["cat.jpg", "horse.jpg"]),
    ("读出这张图片里的文字。", ["text.jpg"]),
    ("图里有几枚硬币？它们是什么做的？", ["coins.jpg"]),
]
MAX_SYSTEM_CHARS = 4000
# The answer is redrawn at most this often while it is written: each redraw sends the whole
# conversation, its images checked and named again (some 25 ms of the server's time), and a
# small or served model writes hundreds of tokens a second, faster than anyone reads.
REDRAW_EVERY_S = 0.05


def turns_from_history(history) -> list[dict]:
    """The conversation so far, from the Chatbot's messages (or an API client's list of
    {"role", "content"}), as the pipeline's turns: consecutive messages of one role are
    one turn, their files its images (paths), their text its text."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise InputTypeError("chat_history_list", name="history", kind=type(history).__name__)
    turns: list[dict] = []
    for n, message in enumerate(history):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise InputError("chat_history_role", name="history", number=n + 1)
        content = message.get("content")
        items = content if isinstance(content, list) else [content]
        texts, images = [], []
        for item in items:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, dict) and item.get("type", "text") == "text" and "text" in item:
                texts.append(str(item["text"]))
            elif isinstance(item, dict) and isinstance(item.get("file"), dict) and item["file"].get("path"):
                images.append(item["file"]["path"])
            elif isinstance(item, dict) and item.get("path"):
                images.append(item["path"])
            elif item is not None:
                raise InputError("chat_history_content", name="history", number=n + 1)
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1]["text"] = " ".join(t for t in (turns[-1]["text"], *texts) if t)
            turns[-1]["images"] += images
        else:
            turns.append({"role": message["role"], "text": " ".join(t for t in texts if t), "images": images})
    return turns


def _shown(turn: dict) -> list[dict]:
    """One turn as the Chatbot shows it: its images, then its text."""
    content = [{"path": path} for path in turn["images"]] + ([turn["text"]] if turn["text"] else [])
    return [{"role": turn["role"], "content": content}]


class Chat:
    """The Chat tab's endpoints: each public method is one endpoint, named as its api_name.
    Stop reaches the answer being written for the same visitor."""

    def __init__(self):
        self.stops: dict[str, threading.Event] = {}  # session -> its answer's Stop

    @gpu_method
    def chat(
        self,
        message: str,
        images: list[str] | None = None,
        history: list[dict] | None = None,
        system_prompt: str | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 0.9,
        seed: int = -1,
        model: str | None = None,
        request: gr.Request = None,
        progress=gr.Progress(),
    ):
        """Chat about images with a vision-language model: send a message with up to CHAT_MAX_IMAGES images, and the conversation so far, and the answer streams back.

        Args:
            message: What to ask or say, in English or Chinese (SmolVLM reads English; Qwen3-VL, Qwen3.5 and Gemma 3 also Chinese).
            images: Images for this message (up to 4 by default); earlier messages keep theirs in the history.
            history: The conversation so far, as this endpoint returned it (a list of {"role", "content"}); empty to start one.
            system_prompt: Optional instructions for the model, e.g. "Answer in one sentence."
            max_new_tokens: The longest answer, in tokens (1-1024).
            temperature: 0 for greedy decoding (the likeliest token each step); above 0 samples, higher is more varied (up to 2).
            top_p: When sampling, draw from the smallest set of tokens whose probabilities add up to top_p (0.05-1).
            seed: The sampling seed; -1 draws one (shown in the details, to replay the answer).
            model: Which chat checkpoint to use; the profile's default when empty.

        Returns:
            The answer, the conversation with it, and the details: each token with its probability and alternatives, and what the prompt cost in tokens.
        """
        turns = turns_from_history(history)
        text = check_text(message, "message", MAX_MESSAGE_CHARS)  # before a model loads; as the pipeline's limit
        paths = [images] if isinstance(images, str) else [str(path) for path in images or []]
        turns.append({"role": "user", "text": text, "images": paths})
        loaded = get_model("chat", model, progress)
        session = getattr(request, "session_hash", None) or ""
        stop = self.stops[session] = threading.Event()
        shown = [m for turn in turns for m in _shown(turn)]
        deadline = Deadline()  # the answer's wall-clock budget (JOB_TIME_LIMIT), as Create's
        drawn = 0.0  # when the answer was last redrawn
        try:
            steps = loaded.pipeline.stream(
                turns,
                system_prompt,
                stop,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
            )
            for step in steps:
                if deadline.passed and not stop.is_set():  # the answer so far stays; the model is freed
                    stop.set()
                    notify(
                        Notice(
                            "chat_deadline",
                            seconds=f"{deadline.seconds:g}",
                        )
                    )
                answer = step["answer"]
                history_now = [*shown, {"role": "assistant", "content": answer}]
                if not step["done"]:
                    if time.monotonic() - drawn >= REDRAW_EVERY_S:
                        drawn = time.monotonic()
                        yield answer, history_now, gr.skip()
                else:  # the details, as the record Show the code reproduces
                    used = turns[step["messages_dropped"] :]
                    yield answer, history_now, snippets.chat_record(loaded, step, used, system_prompt)
        finally:
            if self.stops.get(session) is stop:
                del self.stops[session]

    def stop_chat(self, request: gr.Request = None) -> None:
        """Stop the answer being written for this visitor (it keeps what was written)."""
        stop = self.stops.get(getattr(request, "session_hash", None) or "")
        if stop is not None:
            stop.set()

    @gpu_method
    def explain_chat(
        self,
        history: list[dict] | None,
        details: dict | None,
        system_prompt: str | None = None,
        model: str | None = None,
        progress=gr.Progress(),
    ):
        """Where the last answer looked: for each of its tokens, a heatmap over each image of the language model's attention to that image's tokens.

        Args:
            history: The conversation as /chat returned it, its last message the answer to explain.
            details: The details /chat returned with that answer (its tokens and how many messages were dropped).
            system_prompt: The system prompt the answer was written with.
            model: Which chat checkpoint wrote it; the profile's default when empty.

        Returns:
            Per image its token grid and each answer token's share of attention on it, and the heatmaps of the whole answer (each sums to one over the image).
        """
        from explain import vlm

        turns = turns_from_history(history)
        if isinstance(details, dict) and details.get("server"):  # an answer from a model server
            needs_local_model(get_model("chat", model, progress).pipeline, "where")
        if not turns or turns[-1]["role"] != "assistant" or not isinstance(details, dict) or not details.get("tokens"):
            raise InputError("chat_no_answer")
        loaded = get_model("chat", model, progress)
        chat = loaded.pipeline
        needs_local_model(chat, "where")
        if not isinstance(details["tokens"], list) or len(details["tokens"]) > MAX_ANSWER_TOKENS:
            count = len(details["tokens"]) if isinstance(details["tokens"], list) else 0
            raise InputError(
                "chat_answer_tokens",
                count=count,
                limit=MAX_ANSWER_TOKENS,
            )
        vocabulary = len(chat.processor.tokenizer)
        ids = [
            check_number("token id", token.get("id") if isinstance(token, dict) else token, 0, vocabulary - 1)
            for token in details["tokens"]
        ]
        conversation = turns[:-1]  # what the answer replied to
        check_length(turns[-1]["text"], "assistant", len(turns))  # the answer's text: bounded as the others are
        dropped = check_dropped(details.get("messages_dropped", 0), len(conversation))
        checked, system = chat.check_conversation(conversation, system_prompt)
        # /chat's budget: the prompt and the explained tokens within the context, older
        # exchanges dropped with a notice; the attention pass is bounded by it.
        inputs, more = chat.prepare(checked[dropped:], system, min(len(ids), vlm.MAX_EXPLAINED_TOKENS))
        found = vlm.explain_chat(chat, checked[dropped + more :], system, ids, inputs=inputs)
        if not found["images"]:
            raise InputError("nothing_to_map")
        record = {
            "tokens": found["tokens"],
            "layers": found["layers"],
            "images": [
                {
                    "image": n + 1,
                    "grid": item["grid"],
                    "tiles": item["tiles"],
                    "image_tokens": item["tokens"],
                    "share": [round(float(v), 4) for v in item["share"]],
                }
                for n, item in enumerate(found["images"])
            ],
        }
        return record, where_maps(found, 0), found


def endpoints(ctx: Context) -> Chat:
    """The Chat tab's endpoints (they need none of the app's objects)."""
    return Chat()


def check_dropped(dropped, messages: int) -> int:
    """The ``messages_dropped`` of /chat's details, checked against the conversation of
    ``messages`` messages it was written for: whole exchanges, the last message kept."""
    dropped = check_number("messages_dropped", dropped, 0, max(messages - 1, 0))
    if dropped % 2:
        raise InputError(
            "chat_dropped_odd",
            value=dropped,
        )
    return dropped


def where_maps(found: dict | None, token: int = 0) -> list:
    """The heatmaps of one answer token (1-based), or of the whole answer (0), one per image,
    averaged over the layers, each captioned with its share of the token's attention."""
    from explain import vlm
    from explain.heatmaps import overlay

    if not found:
        return []
    token = vlm.check_token(token, len(found["tokens"]))
    items = []
    for n, item in enumerate(found["images"], 1):
        maps, share = item["maps"].mean(0), item["share"]  # (tokens, H, W), (tokens,)
        if not len(share):
            continue
        heat, part = (maps.mean(0), share.mean()) if token == 0 else (maps[token - 1], share[token - 1])
        which = bilingual("chat.where_all") if token == 0 else repr(found["tokens"][token - 1])
        label = bilingual("chat.where_caption", image=n, share=f"{float(part):.0%}")
        items.append((overlay(item["image"], heat), f"{which} · {label}"))
    return panels.as_files(items)


# --- Explain, How it works and Show the code ---------------------------------------


def _tokens_table(record) -> pd.DataFrame:
    columns = panels.token_columns()
    if not record:
        return pd.DataFrame([], columns=columns)
    rows = [
        [
            n,
            repr(t["token"]),
            t["probability"],
            "  ".join(f"{a['token']!r} {a['probability']:.2f}" for a in t["alternatives"]),
        ]
        for n, t in enumerate(record.get("tokens", []), 1)
    ]
    return pd.DataFrame(rows, columns=columns)


def _summary(record) -> str:
    if not record:
        return ""
    seed = record["parameters"].get("seed")
    # None: a model server (BACKEND_CHAT) that doesn't say
    counts = {
        key: "—" if record.get(key) is None else f"{record[key]:,}"
        for key in ("prompt_tokens", "image_tokens", "images", "context", "messages_used", "messages_dropped")
    }
    return (
        both("chat.summary", **counts, answer_tokens=len(record["tokens"]))
        + (both("chat.summary_stopped") if record["stopped"] else "")
        + (both("chat.summary_seed", seed=seed) if seed is not None else both("chat.summary_greedy"))
    )


def chat_code(record):
    """The details of an answer as the page shows them: a summary, the token table, and
    Show the code's program and record."""
    if not record or record.get("task") != "chat":
        return "", _tokens_table(None), "", None
    return _summary(record), _tokens_table(record), *panels.code_and_record(record)


# --- The page: layout, then wiring --------------------------------------------------


def _conversation(ctx: Context) -> SimpleNamespace:
    """The conversation, the message with its images, and Send, Stop and New."""
    history = Conversation(label=_("chat.conversation"), height=440, buttons=["copy"])
    message = ctx.classroom.control(
        "message", gr.Textbox, label=_("chat.message"), placeholder=_("chat.placeholder"), max_length=4000, lines=2
    )
    images = Files(label=_("chat.images"), file_count="multiple", file_types=["image"], type="filepath", height=120)
    with gr.Row():
        send = gr.Button(_("chat.send"), elem_id=run_id("chat"), variant="primary")
        stop = gr.Button(_("chat.stop"), variant="stop")
        new = gr.Button(_("chat.new"))
    return SimpleNamespace(history=history, message=message, images=images, send=send, stop=stop, new=new)


def _settings(demo: gr.Blocks, ctx: Context) -> SimpleNamespace:
    """The model, the system prompt and the decoding settings."""
    picker = model_picker("chat", ctx.classroom)
    status = status_line(demo, "chat", picker, ctx)
    system_prompt = ctx.classroom.control(
        "system_prompt",
        gr.Textbox,
        label=_("chat.system_prompt"),
        placeholder=_("chat.system_placeholder"),
        max_length=MAX_SYSTEM_CHARS,
        lines=2,
    )
    with gr.Accordion(_("chat.decoding"), open=False):
        max_new_tokens = ctx.classroom.control(
            "max_new_tokens", gr.Slider, *CHAT["max_new_tokens"].ends, 128, step=1, label=_("chat.max_new_tokens")
        )
        temperature = ctx.classroom.control(
            "temperature",
            gr.Slider,
            *CHAT["temperature"].ends,
            0.0,
            step=0.05,
            label=_("chat.temperature"),
            info=_("chat.temperature_info"),
        )
        top_p = ctx.classroom.control("top_p", gr.Slider, *CHAT["top_p"].ends, 0.9, step=0.05, label=_("chat.top_p"))
        seed = seed_input(ctx.classroom, label=_("chat.seed"), info=_("chat.seed_info"))
    answer = gr.Textbox(label=_("chat.answer"), visible=False)
    return SimpleNamespace(
        picker=picker,
        status=status,
        system_prompt=system_prompt,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        answer=answer,
    )


def _explain_panel() -> SimpleNamespace:
    """The answer's tokens and where it looked, How it works and Show the code."""
    with gr.Accordion(_("chat.explain_title"), open=False):
        gr.Markdown(_("chat.explain_intro"))
        summary = gr.Markdown()
        table = gr.Dataframe(label=_("chat.tokens"), interactive=False, wrap=True)
        details = gr.JSON(label=_("chat.details"))
        with gr.Group():
            gr.Markdown(_("chat.where_intro"))
            where_button = gr.Button(_("chat.where_button"), elem_id=run_id("explain_chat"), variant="secondary")
            where_token = gr.Slider(0, 1, 0, step=1, label=_("chat.where_token"), info=_("chat.where_token_info"))
            where_gallery = gr.Gallery(label=_("chat.where_maps"), columns=4, height=300, object_fit="contain")
            where_record = gr.JSON(label=_("chat.where_record"), visible=False)
            where_state = session_state(None)
    panels.how_it_works("chat.how")
    code, record_file = panels.show_code()
    return SimpleNamespace(
        summary=summary,
        table=table,
        details=details,
        where_button=where_button,
        where_token=where_token,
        where_gallery=where_gallery,
        where_record=where_record,
        where_state=where_state,
        code=code,
        record_file=record_file,
    )


def _wire_chat(api: Chat, page: SimpleNamespace, ctx: Context) -> None:
    """Send (streamed), Stop, New, and the answer's details once it is written."""
    inputs = [
        page.message,
        page.images,
        page.history,
        page.system_prompt,
        page.max_new_tokens,
        page.temperature,
        page.top_p,
        page.seed,
        page.picker,
    ]
    event = gr.on(
        [page.send.click, page.message.submit],
        endpoint(api.chat, ctx, inputs),
        inputs,
        [page.answer, page.history, page.details],
        api_name="chat",
        **model_event("chat"),
    )
    # The message and its images are cleared once answered, never when refused (nothing is lost).
    event.success(lambda: ("", None), None, [page.message, page.images], api_visibility="private", queue=False)
    status_shown = display(lambda m: model_status("chat", m), ctx, page.picker)
    event.then(status_shown, page.picker, page.status, api_visibility="private", queue=False)
    page.stop.click(display(api.stop_chat, ctx), None, None, api_visibility="private", queue=False)
    page.new.click(
        lambda: ([], "", None, "", None, pd.DataFrame()),
        None,
        [page.history, page.message, page.images, page.summary, page.details, page.table],
        api_visibility="private",
        queue=False,
    )
    page.details.change(
        display(chat_code, ctx, page.details),
        page.details,
        [page.summary, page.table, page.code, page.record_file],
        api_visibility="private",
    )


def _wire_where(api: Chat, page: SimpleNamespace, ctx: Context) -> None:
    """Where the answer looked: the heatmaps, then one token's at a time."""
    asked = [page.history, page.details, page.system_prompt, page.picker]
    event = page.where_button.click(
        endpoint(api.explain_chat, ctx, asked),
        asked,
        [page.where_record, page.where_gallery, page.where_state],
        api_name="explain_chat",
        concurrency_id="model",
    )
    event.success(
        lambda found: gr.Slider(maximum=max(len(found["tokens"]), 1), value=0),
        page.where_state,
        page.where_token,
        api_visibility="private",
        queue=False,
    )
    page.where_token.release(
        display(where_maps, ctx, [page.where_state, page.where_token]),
        [page.where_state, page.where_token],
        page.where_gallery,
        api_visibility="private",
        queue=False,
    )


def build(demo: gr.Blocks, ctx: Context) -> None:
    api = endpoints(ctx)
    with gr.Tab(_("chat.tab"), id="chat"):
        gr.Markdown(_("chat.intro"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                conversation = _conversation(ctx)
            with gr.Column(scale=2):
                settings_ = _settings(demo, ctx)
        rows = [
            [[m, [str(settings.EXAMPLE_IMAGES_DIR / name) for name in names]] for m, names in examples_]
            for examples_ in (EXAMPLES, EXAMPLES_ZH)
        ]
        examples(*rows, inputs=[conversation.message, conversation.images])
        page = SimpleNamespace(**vars(conversation), **vars(settings_), **vars(_explain_panel()))
        _wire_chat(api, page, ctx)
        _wire_where(api, page, ctx)


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their
# parameters); the methods of Chat keep each visitor's Stop (``endpoints``).
ENDPOINTS = (Chat.chat, Chat.explain_chat)
