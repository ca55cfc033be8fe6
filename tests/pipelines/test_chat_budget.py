"""What one chat request may cost (pipelines/chat_budget.py), with the crafted histories of
issue 36: every message is length-checked, the assistant's included, the images of past
turns count, and a conversation longer than the context is cut before it is encoded whole."""

import pytest
from PIL import Image

from pipelines import chat_budget, vlm
from runtime.inputs import collect_notices


@pytest.fixture(scope="module", params=["tiny-smolvlm", "tiny-gemma3", "tiny-qwen3-vl", "tiny-qwen3.5"])
def pipe(models, request):
    return models.get("chat", request.param).pipeline


@pytest.fixture(scope="module")
def small():
    return Image.new("RGB", (64, 48), (200, 120, 40))


def crafted(exchanges: int, user_chars: int, answer_chars: int, image, images_in_first: int = 4) -> list[dict]:
    """The shape of issue 36's history: ``exchanges`` user/assistant pairs, 4 images in each
    of the first 4 user turns, then one more question."""
    turns = []
    for n in range(exchanges):
        images = [image] * 4 if n < images_in_first else []
        turns.append({"role": "user", "text": ("question " * user_chars)[:user_chars], "images": images})
        turns.append({"role": "assistant", "text": ("answer " * answer_chars)[:answer_chars], "images": []})
    turns.append({"role": "user", "text": "And now?", "images": []})
    return turns


def spy_on_encode(pipe, monkeypatch) -> list[int]:
    """The length in tokens of every prompt ``pipe`` encodes."""
    lengths, encode = [], pipe.encode

    def recorded(messages):
        inputs = encode(messages)
        lengths.append(int(inputs["input_ids"].shape[1]))
        return inputs

    monkeypatch.setattr(pipe, "encode", recorded)
    return lengths


def test_the_issues_history_is_refused_before_an_image_is_decoded(pipe, small, monkeypatch):
    # 31 exchanges of about 29 KB (a 4,000-character question, a 25,000-character "answer"),
    # 4 images in each of the first 4 turns: it took 171 s of one CPU before.
    decoded = []
    monkeypatch.setattr(vlm, "load_image", lambda *args, **kwargs: decoded.append(args) or small)
    lengths = spy_on_encode(pipe, monkeypatch)
    with pytest.raises(
        ValueError,
        match=r"Message 2 \(the assistant's\) is 25,000 characters long; the limit is "
        r"16,000 per message",
    ) as refused:
        pipe(crafted(31, 4000, 25_000, small), max_new_tokens=4)
    assert refused.value.code == "chat_message_long"
    assert decoded == [] and lengths == []


def test_images_of_past_turns_count(pipe, small):
    turns = crafted(5, 20, 20, small, images_in_first=5)  # 20 images in all, 4 per message
    with pytest.raises(ValueError, match=f"more than {chat_budget.MAX_IMAGES_IN_CONVERSATION} images"):
        pipe(turns, max_new_tokens=2)


def test_a_history_over_the_context_is_cut_before_it_is_encoded_whole(pipe, small, monkeypatch):
    # Within every per-message limit (a 15,000-character answer is allowed), but some
    # 470,000 tokens in all: only what can fit is ever encoded, and the notice says what was left out.
    turns = crafted(31, 200, 15_000, small)
    lengths = spy_on_encode(pipe, monkeypatch)
    with collect_notices() as notices:
        result = pipe(turns, max_new_tokens=4)
    assert result["messages_dropped"] == 62 and result["messages_used"] == 1
    assert lengths and max(lengths) + 4 <= pipe.max_context
    assert len(lengths) <= 2  # not once per dropped exchange
    assert any(n.code == "chat_dropped" and n.params["exchanges"] == 31 and n.params["images"] == 16 for n in notices)


def test_exchanges_that_fit_are_kept(pipe, small, monkeypatch):
    turns = crafted(3, 20, 30, small, images_in_first=1)
    lengths = spy_on_encode(pipe, monkeypatch)
    result = pipe(turns, max_new_tokens=2)
    assert result["messages_dropped"] == 0 and result["messages_used"] == 7 and result["images"] == 4
    assert len(lengths) == 1


def test_the_lower_bound_never_exceeds_the_exact_count(pipe, small):
    turns = [
        {"role": "user", "text": "Compare these, please.", "images": [small, small]},
        {"role": "assistant", "text": "Two of the same.\nBoth orange.", "images": []},
        {"role": "user", "text": "Why?", "images": [small]},
    ]
    exact = pipe.encode(pipe.messages(turns))["input_ids"].shape[1]
    least = [chat_budget.least_tokens(pipe, turn) for turn in turns]
    assert all(n > 0 for n in least) and sum(least) <= exact
