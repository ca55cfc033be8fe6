"""The chat benchmark's measuring helpers (benchmarks/vlm.py), on the tiny Qwen3.5 twin: the
logits check that decides whether int8 may serve a checkpoint, and the timing's structure.
The real sizes and the times themselves are the benchmark's (python -m benchmarks --only vlm)."""

import torch

from benchmarks import vlm
from pipelines.vlm import ChatPipeline
from runtime.tiny import tiny_path


def test_the_logits_check_finds_no_error_for_the_same_model_and_some_for_int8(cat):
    path = str(tiny_path("tiny/qwen3.5"))
    plain = ChatPipeline.from_pretrained(path)
    int8 = ChatPipeline.from_pretrained(
        path, dtype=torch.bfloat16, quantize=True, defaults={"int8_language_model": True}
    )
    turns = [{"role": "user", "text": "这是什么动物？", "images": [cat]}]
    answer = [t["id"] for t in plain(turns, max_new_tokens=4)["tokens"]]
    error = vlm.logits_error({"same": plain, "int8": int8}, plain, turns, answer)
    assert error["same"] == {"logits_error": 0.0, "top1_same": 1.0}
    assert 0 < error["int8"]["logits_error"] < 0.5 and 0 <= error["int8"]["top1_same"] <= 1

    speed = vlm.speeds({"plain": vlm.asking(plain, turns)}, repeats=1, answer_tokens=3)["plain"]
    assert speed["answer_tokens"] == 3 and speed["first_token_s"] > 0 and speed["answer_s"] > 0
    assert vlm.prompt_size(plain, turns)["image_tokens"] > 0
