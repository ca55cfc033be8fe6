"""The Chat tab's handlers in this process (issue 36): /explain_chat takes the histories
/chat takes, within the same budget, and its attention pass is bounded by it; the limits
they say are the limits they apply."""

import gradio as gr
import pytest
import torch

from tests.conftest import IMAGES

CAT = str(IMAGES / "cat.jpg")


@pytest.fixture(scope="module")
def handlers(models):
    from tests.conftest import ThroughTheChain
    from ui.tabs import chat

    return ThroughTheChain(chat.endpoints(None))


def fed_to(model, monkeypatch) -> list[dict]:
    """Every forward pass of ``model``: the tokens it was fed, those in its cache before,
    and whether it was asked for its attention weights."""
    calls, forward = [], model.forward

    def recorded(*args, **kwargs):
        ids = kwargs.get("input_ids")
        cache = kwargs.get("past_key_values")
        calls.append(
            {
                "new": int(ids.shape[1]) if torch.is_tensor(ids) else 0,
                "cached": int(cache.get_seq_length()) if cache is not None else 0,
                "attentions": bool(kwargs.get("output_attentions")),
            }
        )
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", recorded)
    return calls


def test_a_message_as_long_as_the_box_allows_is_accepted(handlers):
    # The box takes 4,000 characters; the handler said "the limit is 1,000".
    message = ("word " * 400).strip()  # 1,999 characters
    *_, (answer, history, details) = handlers.chat(message, [CAT], model="tiny-gemma3", max_new_tokens=2)
    assert details["messages_used"] == 1
    with pytest.raises(gr.Error, match="4,000"):
        next(handlers.chat("x" * 4001, model="tiny-gemma3"))


@pytest.mark.parametrize("dropped", [2, 3, 1, -2])
def test_messages_dropped_outside_the_conversation_is_refused_with_the_rule(handlers, dropped):
    history = [{"role": "user", "content": [{"path": CAT}, "What is it?"]}, {"role": "assistant", "content": "a cat"}]
    details = {"tokens": [{"id": 5}, {"id": 6}], "messages_dropped": dropped}
    with pytest.raises(gr.Error, match="messages_dropped") as refused:
        handlers.explain_chat(history, details)
    assert refused.value.title != "Model error"


@pytest.mark.parametrize("last", [False, True])
def test_a_4000_word_answer_is_refused_before_the_model_runs(handlers, models, monkeypatch, last):
    # Issue 36 (1): 23 KB, one assistant message of 4,000 words, took the server to 21.5 GB.
    model = models.get("chat", None).pipeline.model
    calls = fed_to(model, monkeypatch)
    words = " ".join(["word"] * 4000)
    history = [{"role": "user", "content": [{"path": CAT}, "Describe it."]}, {"role": "assistant", "content": words}]
    if not last:  # in the conversation the explained answer replied to
        history += [{"role": "user", "content": "And?"}, {"role": "assistant", "content": "ok"}]
    with pytest.raises(gr.Error, match=r"Message 2 \(the assistant's\) is 19,999 characters long; the limit is 16,000"):
        handlers.explain_chat(history, {"tokens": [{"id": 5}] * 64, "messages_dropped": 0})
    assert calls == []


def test_a_long_history_is_cut_to_the_context_and_only_the_answer_rows_are_weighed(handlers, models, monkeypatch):
    chat = models.get("chat", None).pipeline
    calls = fed_to(chat.model, monkeypatch)
    history = []
    for n in range(12):  # 12 exchanges of 15,000-character answers: about 180,000 tokens for this tokenizer
        history += [
            {"role": "user", "content": [{"path": CAT}, f"Question {n}?"] if n < 4 else f"Question {n}?"},
            {"role": "assistant", "content": ("an answer " * 1500).strip()},
        ]
    history += [{"role": "user", "content": [{"path": CAT}, "And this one?"]}, {"role": "assistant", "content": "ok"}]
    details = {"tokens": [{"id": 40 + n} for n in range(80)], "messages_dropped": 0}  # a client that dropped nothing
    with pytest.warns(UserWarning, match="oldest 12 exchange"):
        record, gallery, found = handlers.explain_chat(history, details)
    assert len(record["images"]) == 1 and len(record["tokens"]) == 64
    assert calls, "the model ran"
    assert max(call["cached"] + call["new"] for call in calls) <= chat.max_context
    weighed = [call for call in calls if call["attentions"]]
    assert len(weighed) == 1 and weighed[0]["new"] == 64  # the last prompt token and 63 answer tokens


def test_the_length_refusal_is_said_in_both_languages():
    from pipelines.chat_budget import check_length
    from ui.messages import translate

    with pytest.raises(ValueError) as refused:
        check_length("word " * 5000, "assistant", 4)
    assert "Message 4 (the assistant's) is 24,999 characters long; the limit is 16,000" in translate(
        refused.value, "en"
    )
    assert "第 4 条消息（助手的）有 24,999 个字符；每条消息最多 16,000 个" in translate(refused.value, "zh-CN")


def test_where_it_looked_before_any_answer_is_refused_in_the_pages_language(handlers):
    # The Chinese page's "Show where it looked" before a first answer said it in English.
    from ui.server.language import PAGE_LOCALE

    for locale, said in (("zh-CN", "还没有可解释的回答"), ("en", "There is no answer to explain yet")):
        token = PAGE_LOCALE.set(locale)
        try:
            with pytest.raises(gr.Error, match=said):
                handlers.explain_chat([], None)
        finally:
            PAGE_LOCALE.reset(token)


def test_an_answer_past_the_time_budget_stops_and_says_why(handlers, monkeypatch):
    # Issue 36: every request has a wall-clock deadline (JOB_TIME_LIMIT), Chat's too; what
    # was written stays, the model is freed for the next visitor.
    from runtime import settings

    monkeypatch.setattr(settings, "JOB_TIME_LIMIT", 1e-6)
    with pytest.warns(UserWarning, match="JOB_TIME_LIMIT"):
        *_, (answer, history, details) = handlers.chat("Describe it.", [CAT], model="tiny-smolvlm", max_new_tokens=64)
    assert history[-1]["role"] == "assistant" and len(details["tokens"]) < 64


def test_a_fast_answer_is_redrawn_a_few_times_a_second_not_at_every_token(handlers, models, monkeypatch):
    # Each redraw sends the whole conversation, its images checked and named again: some
    # 25 ms of the server's time. A tiny (or served) model writes hundreds of tokens a second,
    # and redrawing at each one made a 0.2-s answer with four images take 7 s of the server.
    from types import SimpleNamespace

    from ui.tabs import chat

    steps, stream = [], models.get("chat", "tiny-smolvlm").pipeline.stream
    monkeypatch.setattr(
        models.get("chat", "tiny-smolvlm").pipeline,
        "stream",
        lambda *a, **k: (steps.append(s) or s for s in stream(*a, **k)),
    )
    now = iter(range(10**6))  # a clock that moves 10 ms each time it is read
    monkeypatch.setattr(chat, "time", SimpleNamespace(monotonic=lambda: next(now) / 100), raising=False)
    *drawn, (answer, history, details) = handlers.chat(
        "Describe it.", [CAT] * 4, model="tiny-smolvlm", max_new_tokens=96
    )
    assert len(steps) >= 40, len(steps)  # an answer long enough to tell
    assert 1 <= len(drawn) <= len(steps) / 2, (len(drawn), len(steps))  # 0.05 s apart: every fifth step or fewer
    assert history[-1]["content"] == answer and details["output"] == answer  # the last redraw has it all
