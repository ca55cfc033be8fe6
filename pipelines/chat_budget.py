"""What one chat request may cost, known before the model runs: /chat and /explain_chat
take the same conversations, checked the same way (pipelines/vlm.py calls these).

- Every message has a length limit, the assistant's included: a history is sent back by
  the client, so an "answer" in it is whatever the client wrote.
- The images of the whole conversation count, past turns included: every image is
  encoded again on each turn. The counts are checked before any image is decoded.
- The tokens: prompt and answer together stay within the model's context. Older
  exchanges are dropped (with a notice) until the rest fits. Each message's cost is first
  bounded from below without the processor (its text's tokens, its images' fewest
  tokens), so that exchanges that can't fit are dropped before the conversation is
  encoded at all; then the rest is encoded, exactly, and dropped further where needed.
"""

from __future__ import annotations

from runtime import settings
from runtime.inputs import notify
from runtime.messages import InputError, Notice, said

MAX_MESSAGE_CHARS = 4000  # a message the user types (the Chat box's own limit)
# An answer in a history: 1,024 new tokens (the most /chat writes) are under 8,000
# characters in any language the models here write; twice that leaves room.
MAX_ANSWER_CHARS = 16_000
MAX_TURNS = 64  # messages in one conversation (user and assistant), before any is dropped
MAX_IMAGES_IN_CONVERSATION = 16  # every image is encoded again on each turn
MAX_ANSWER_TOKENS = 1024  # the longest answer /chat writes (max_new_tokens)

ROLES = ("user", "assistant")  # whose message it is: role_<role> in the catalogue names it


def check_counts(turns: list) -> None:
    """Refuse a conversation with too many messages or images, or a message too long,
    before anything in it is decoded or tokenized."""
    if len(turns) > MAX_TURNS:
        raise InputError(
            "chat_too_long",
            count=len(turns),
            limit=MAX_TURNS,
        )
    total_images = 0
    for n, turn in enumerate(turns):
        if not isinstance(turn, dict):
            continue  # check_conversation says what is wrong with it
        images = turn.get("images") or []
        count = len(images) if isinstance(images, (list, tuple)) else 1
        if count > settings.CHAT_MAX_IMAGES:
            raise InputError(
                "chat_images",
                number=n + 1,
                count=count,
                limit=settings.CHAT_MAX_IMAGES,
            )
        total_images += count
        if total_images > MAX_IMAGES_IN_CONVERSATION:
            raise InputError(
                "chat_images_total",
                limit=MAX_IMAGES_IN_CONVERSATION,
            )
        check_length(turn.get("text"), turn.get("role"), n + 1)


def check_length(text, role, number: int) -> None:
    """Refuse message ``number`` (1-based) when its text is longer than its role allows."""
    limit = MAX_ANSWER_CHARS if role == "assistant" else MAX_MESSAGE_CHARS
    length = len(" ".join(text.split())) if isinstance(text, str) else 0  # runs of spaces as one, as check_text
    if length > limit and role in ROLES:
        raise InputError(
            "chat_message_long",
            number=number,
            role=said(f"role_{role}"),
            length=length,
            limit=limit,
        )


def least_tokens(chat, turn: dict) -> int:
    """Fewer tokens than ``turn`` takes in any prompt: its text's tokens alone (less one at
    each end, which the template's tokens may merge with), and for each image the tokens
    of its smallest view (SmolVLM: the global view; Gemma 3: its one view)."""
    processor = chat.processor
    per_image = getattr(processor, "image_seq_len", None) or getattr(processor, "image_seq_length", None) or 0
    tokens = (
        processor.tokenizer(turn["text"], add_special_tokens=False, verbose=False)["input_ids"] if turn["text"] else []
    )
    text = len(tokens)
    return max(text - 2, 0) + len(turn["images"]) * int(per_image)


def fit_context(chat, turns: list[dict], system_prompt: str | None, new_tokens: int):
    """The inputs for the longest recent part of the checked conversation ``turns`` that fits
    ``chat``'s context with room for ``new_tokens``, and how many messages were dropped
    (oldest first, a user message with its answer at a time), with a notice. Refuses the
    last message when it alone doesn't fit."""
    room = chat.max_context - new_tokens
    costs = [least_tokens(chat, turn) for turn in turns]
    dropped = 0
    while len(turns) - dropped > 1 and sum(costs[dropped:]) > room:  # can't fit, whatever the exact count
        dropped += 2
    while True:
        inputs = chat.encode(chat.messages(turns[dropped:], system_prompt))
        length = inputs["input_ids"].shape[1]
        if length <= room:
            break
        if len(turns) - dropped == 1:
            images = len(turns[-1]["images"])
            raise InputError(
                "chat_context",
                length=length,
                images=images,
                name="max_new_tokens",
                value=new_tokens,
                limit=chat.max_context,
            )
        dropped += 2
    if dropped:
        lost = sum(len(turn["images"]) for turn in turns[:dropped])
        notify(
            Notice(
                "chat_dropped",
                limit=chat.max_context,
                exchanges=dropped // 2,
                images=lost,
            )
        )
    return inputs, dropped
