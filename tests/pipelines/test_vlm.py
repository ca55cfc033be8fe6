"""Chat with a vision-language model, for every family: SmolVLM (Idefics3), Gemma 3, Qwen3-VL and Qwen3.5."""

import threading

import pytest
from PIL import Image

from runtime import settings
from runtime.inputs import collect_notices


@pytest.fixture(scope="module", params=["tiny-smolvlm", "tiny-gemma3", "tiny-qwen3-vl", "tiny-qwen3.5"])
def pipe(models, request):
    return models.get("chat", request.param).pipeline


def ask(text, images=()):
    return {"role": "user", "text": text, "images": list(images)}


def test_answer_is_text_with_per_token_probabilities(pipe, cat):
    result = pipe([ask("What animal is this?", [cat])], max_new_tokens=8)
    assert isinstance(result["answer"], str) and result["answer"]
    assert 1 <= len(result["tokens"]) <= 8
    for token in result["tokens"]:
        assert 0.0 <= token["probability"] <= 1.0
        assert len(token["alternatives"]) == 5
        probabilities = [a["probability"] for a in token["alternatives"]]
        assert probabilities == sorted(probabilities, reverse=True)
        # greedy decoding: the chosen token is the likeliest
        assert token["probability"] == pytest.approx(probabilities[0], abs=1e-4)


def test_greedy_answers_are_deterministic(pipe, cat):
    turns = [ask("Describe it.", [cat])]
    assert pipe(turns, max_new_tokens=6)["answer"] == pipe(turns, max_new_tokens=6)["answer"]


def test_sampling_is_replayed_by_its_seed(pipe, cat):
    turns = [ask("Describe it.", [cat])]
    first = pipe(turns, max_new_tokens=8, temperature=1.5, top_p=1.0, seed=7)
    assert first["options"]["seed"] == 7
    assert pipe(turns, max_new_tokens=8, temperature=1.5, top_p=1.0, seed=7)["answer"] == first["answer"]
    drawn = pipe(turns, max_new_tokens=4, temperature=1.0, seed=-1)["options"]["seed"]
    assert isinstance(drawn, int) and drawn >= 0


def test_image_tokens_go_into_the_prompt(pipe, cat):
    text_only = pipe([ask("Hello")], max_new_tokens=2)
    one = pipe([ask("Hello", [cat])], max_new_tokens=2)
    two = pipe([ask("Hello", [cat, cat.rotate(90)])], max_new_tokens=2)
    assert text_only["image_tokens"] == 0
    assert one["image_tokens"] > 0
    assert two["image_tokens"] == 2 * one["image_tokens"]
    assert two["prompt_tokens"] - one["prompt_tokens"] >= one["image_tokens"]


def test_a_multi_turn_conversation_is_read_whole(pipe, cat):
    turns = [ask("What is it?", [cat]), {"role": "assistant", "text": "a cat", "images": []}, ask("What colour?")]
    result = pipe(turns, max_new_tokens=3)
    assert result["messages_used"] == 3 and result["messages_dropped"] == 0
    assert result["images"] == 1 and result["image_tokens"] > 0


def test_the_chat_template_is_the_families_own(pipe, cat):
    prompt = pipe.processor.tokenizer.decode(
        pipe.encode(pipe.messages([ask("Hi", [cat])], "Be brief."))["input_ids"][0]
    )
    if pipe.model_type == "gemma3":
        assert prompt.startswith("<bos><start_of_turn>user\nBe brief.")
        assert prompt.endswith("<start_of_turn>model\n")
    elif pipe.model_type in ("qwen3_vl", "qwen3_5"):
        assert prompt.startswith(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|>"
        )
        assert "<|image_pad|><|vision_end|>Hi<|im_end|>\n" in prompt
        # Qwen3.5 is asked to answer, not to think first: its thought is empty.
        end = "<think>\n\n</think>\n\n" if pipe.model_type == "qwen3_5" else ""
        assert prompt.endswith("<|im_start|>assistant\n" + end)
    else:
        assert prompt.startswith("<|im_start|>System: Be brief.<end_of_utterance>")
        assert prompt.endswith("Assistant:")


def test_old_exchanges_are_dropped_with_a_notice(pipe, cat, monkeypatch):
    one = pipe([ask("Hello", [cat])], max_new_tokens=2)
    # Room for about one exchange with an image, not three.
    monkeypatch.setattr(pipe, "max_context", one["prompt_tokens"] + 10)
    reply = {"role": "assistant", "text": "a cat", "images": []}
    turns = [ask("one", [cat]), reply, ask("two", [cat]), reply, ask("three", [cat])]
    with collect_notices() as notices:
        result = pipe(turns, max_new_tokens=4)
    assert result["messages_dropped"] == 4 and result["messages_used"] == 1
    assert any("oldest 2 exchange" in n and "2 image" in n for n in notices)


def test_a_message_that_alone_outgrows_the_context_is_refused(pipe, cat, monkeypatch):
    monkeypatch.setattr(pipe, "max_context", 20)
    with pytest.raises(ValueError, match="exceeds the model's context of 20 tokens"):
        pipe([ask("Hello", [cat])], max_new_tokens=4)


def test_too_many_images_in_one_message_are_refused(pipe, cat):
    with pytest.raises(ValueError, match=f"5 images; the limit is {settings.CHAT_MAX_IMAGES} per message"):
        pipe([ask("Compare", [cat] * 5)])


def test_an_image_too_large_is_refused_with_its_name(pipe):
    huge = Image.new("RGB", (1, settings.MAX_IMAGE_PIXELS + 1))
    with pytest.raises(ValueError, match="image 1 of message 1"):
        pipe([ask("What is it?", [huge])])


@pytest.mark.parametrize(
    "turns, message",
    [
        ([], "empty"),
        ("hello", "empty"),
        ([{"role": "assistant", "text": "hi"}], "must come from the user"),
        ([ask("a"), ask("b")], "must come from the assistant"),
        ([ask("a"), {"role": "assistant", "text": "b"}], "must come from the user|last message"),
        ([ask("   ")], "message is empty"),
        ([ask("x" * 4001)], "limit is 4,000"),
        ([ask("hi", ["/no/such/file.png"])], "image 1 of message 1 file .* does not exist"),
    ],
)
def test_bad_conversations_are_refused(pipe, turns, message):
    with pytest.raises((ValueError, TypeError), match=message) as refused:
        pipe(turns)
    assert refused.value.code  # said in the page's language (runtime/locales)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 5000}, "max_new_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"seed": -5}, "seed"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_bad_decoding_options_are_refused(pipe, options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        pipe([ask("hi")], **options)


def test_stream_yields_growing_text_then_the_full_result(pipe, cat):
    turns = [ask("Describe it.", [cat])]
    steps = list(pipe.stream(turns, max_new_tokens=8))
    assert all(not s["done"] for s in steps[:-1]) and steps[-1]["done"]
    texts = [s["answer"] for s in steps[:-1]]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))
    assert steps[-1]["answer"] == pipe(turns, max_new_tokens=8)["answer"]


def test_stop_ends_the_answer_early(pipe, cat):
    stop = threading.Event()
    stop.set()  # pressed before the first token: one token, then it stops
    result = pipe([ask("Describe it.", [cat])], max_new_tokens=50, stop=stop)
    assert result["stopped"] and len(result["tokens"]) == 1


def test_bad_input_fails_before_streaming_starts(pipe):
    steps = pipe.stream([ask("")])
    with pytest.raises(ValueError, match="message is empty"):
        next(steps)


def test_a_chinese_message_gets_a_notice_from_an_english_only_model(models, cat):
    with collect_notices() as notices:
        models.get("chat", "tiny-smolvlm").pipeline([ask("这是什么动物？", [cat])], max_new_tokens=2)
    assert any("Tiny Gemma 3" in n for n in notices)
    with collect_notices() as notices:
        models.get("chat", "tiny-gemma3").pipeline([ask("这是什么动物？", [cat])], max_new_tokens=2)
    assert notices == []
    for key in ("tiny-qwen3-vl", "tiny-qwen3.5"):  # the Qwen families read Chinese: no notice
        with collect_notices() as notices:
            answer = models.get("chat", key).pipeline([ask("这是什么动物？", [cat])], max_new_tokens=2)
        assert notices == [] and answer["image_tokens"] > 0


def test_other_model_types_are_refused(models):
    from pipelines.vlm import ChatPipeline

    blip = models.get("caption", "tiny-blip").checkpoint
    from runtime.tiny import tiny_path

    with pytest.raises(ValueError, match="'blip' model"):
        ChatPipeline.from_pretrained(str(tiny_path(blip.repo_id)))


def test_image_side_sets_how_many_tiles_an_image_costs(cat):
    from pipelines.vlm import ChatPipeline
    from runtime.tiny import tiny_path

    path = str(tiny_path("tiny/smolvlm"))
    tiled = ChatPipeline.from_pretrained(path)([ask("Hi", [cat])], max_new_tokens=1)
    one_tile = ChatPipeline.from_pretrained(path, defaults={"image_side": 32})([ask("Hi", [cat])], max_new_tokens=1)
    assert tiled["image_tokens"] == 5 * 4  # 2 x 2 tiles of 32 px and the global view, 4 tokens each
    assert one_tile["image_tokens"] == 4


def test_the_greedy_answer_is_model_generate_on_the_same_inputs(pipe, cat):
    import torch

    turns = [ask("What is it?", [cat])]
    inputs = pipe.encode(pipe.messages(pipe.check_conversation(turns)[0]))
    with torch.inference_mode():
        ids = pipe.model.generate(**inputs, max_new_tokens=8, do_sample=False)
    expected = pipe.processor.tokenizer.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert pipe(turns, max_new_tokens=8)["answer"] == expected.strip()


def test_each_images_tokens_come_in_the_messages_order(pipe, cat):
    import torch

    other = Image.new("RGB", cat.size, "blue")  # the same size: the same number of tiles
    first = pipe.encode(pipe.messages(pipe.check_conversation([ask("Compare", [cat, other])])[0]))
    second = pipe.encode(pipe.messages(pipe.check_conversation([ask("Compare", [other, cat])])[0]))
    assert torch.equal(first["input_ids"], second["input_ids"])  # the same layout of image tokens
    pixels_first, pixels_second = first["pixel_values"], second["pixel_values"]
    if pipe.model_type == "gemma3":  # (images, 3, H, W): one view per image, in order
        assert torch.equal(pixels_first[0], pixels_second[1]) and torch.equal(pixels_first[1], pixels_second[0])
    elif pipe.model_type in ("qwen3_vl", "qwen3_5"):  # (patches, 3 x 2 x p x p): the first image's, then the second's
        n = pixels_first.shape[0] // 2
        assert torch.equal(first["image_grid_thw"][0], first["image_grid_thw"][1])
        assert torch.equal(pixels_first[:n], pixels_second[n:]) and torch.equal(pixels_first[n:], pixels_second[:n])
    else:  # (1, tiles, 3, H, W): the first image's tiles, then the second's
        assert not torch.equal(pixels_first, pixels_second)
        n = pixels_first.shape[1] // 2
        assert torch.equal(pixels_first[0, :n], pixels_second[0, n:]) and torch.equal(
            pixels_first[0, n:], pixels_second[0, :n]
        )


def test_int8_language_model_where_the_checkpoint_asks_for_it(cat):
    # The CPU fast path quantises the language model only for checkpoints whose benchmark
    # kept float32's greedy tokens (registry defaults), never the vision side.
    import torch

    from pipelines.vlm import ChatPipeline
    from runtime import registry
    from runtime.tiny import tiny_path

    path = tiny_path("tiny/smolvlm")
    plain = ChatPipeline.from_pretrained(path)
    asked = ChatPipeline.from_pretrained(
        path, dtype=torch.bfloat16, quantize=True, defaults={"int8_language_model": True}
    )
    not_asked = ChatPipeline.from_pretrained(path, quantize=True, defaults={})
    assert asked.quantized and not not_asked.quantized and not plain.quantized
    assert "quantized" in type(asked.model.lm_head).__module__
    assert asked.pixel_dtype == torch.bfloat16 == asked.model.model.vision_model.dtype
    # The answer starts as float32's. (A tiny random model has near-ties, so a later token
    # may flip; agreement at real size is measured by `python -m benchmarks --only vlm`.)
    turns = [ask("Describe it.", [cat])]
    ids = [[t["id"] for t in pipe(turns, max_new_tokens=6)["tokens"]] for pipe in (asked, plain)]
    assert ids[0][:2] == ids[1][:2]
    assert registry.CHECKPOINTS["smolvlm-256m"].defaults["int8_language_model"] is True
    assert "int8_language_model" not in registry.CHECKPOINTS["smolvlm-500m"].defaults


@pytest.mark.parametrize("name", ["tiny/qwen3-vl", "tiny/qwen3.5"])
def test_qwen_loads_without_torchvision_from_the_checkpoints_own_files(name, cat):
    # PyPI's torchvision for the pinned CPU torch is a CUDA build: the Qwen processors load
    # for images alone, from the files a real checkpoint ships (no processor_config.json).
    import importlib.util

    from transformers import Qwen2VLImageProcessorPil

    from pipelines.vlm import ChatPipeline
    from runtime.processors import QwenImageProcessor
    from runtime.tiny import tiny_path

    path = tiny_path(name)
    assert {"preprocessor_config.json", "video_preprocessor_config.json", "chat_template.jinja"} <= {
        f.name for f in path.iterdir()
    }
    pipe = ChatPipeline.from_pretrained(str(path))
    if importlib.util.find_spec("torchvision") is None:
        assert isinstance(pipe.processor, QwenImageProcessor)
        assert isinstance(pipe.processor.image_processor, Qwen2VLImageProcessorPil)
    # Each image's tokens are its grid of patches merged 2 x 2, as the image processor alone counts them.
    inputs = pipe.encode(pipe.messages([ask("Hi", [cat])]))
    grid = pipe.processor.image_processor(images=[cat], return_tensors="pt")["image_grid_thw"]
    assert inputs["image_grid_thw"].tolist() == grid.tolist()
    merge = pipe.processor.image_processor.merge_size
    assert int((inputs["input_ids"] == pipe.model.config.image_token_id).sum()) == int(grid.prod()) // merge**2


def test_max_pixels_sets_how_many_tokens_a_qwen_image_costs(cat):
    from pipelines.vlm import ChatPipeline
    from runtime.tiny import tiny_path

    path = str(tiny_path("tiny/qwen3-vl"))
    full = ChatPipeline.from_pretrained(path)([ask("Hi", [cat])], max_new_tokens=1)
    small = ChatPipeline.from_pretrained(path, defaults={"max_pixels": 32 * 32})([ask("Hi", [cat])], max_new_tokens=1)
    # 8 x 8 px per merged token: at most 64 x 64 px (64 tokens) by the checkpoint, 32 x 32 px (16) asked.
    assert 32 < full["image_tokens"] <= 64 and 4 <= small["image_tokens"] <= 16


def test_qwen_loads_from_a_bundled_processor_config_too(tmp_path):
    # transformers 5 may write a processor's parts into one processor_config.json (its video
    # processor's settings included): the image-only processor still loads from it.
    import json
    import shutil

    from runtime.processors import load_processor
    from runtime.tiny import tiny_path

    folder = tmp_path / "qwen"
    shutil.copytree(tiny_path("tiny/qwen3-vl"), folder)
    parts = {
        name: json.loads((folder / f"{file}.json").read_text())
        for name, file in (("image_processor", "preprocessor_config"), ("video_processor", "video_preprocessor_config"))
    }
    (folder / "processor_config.json").write_text(json.dumps({**parts, "processor_class": "Qwen3VLProcessor"}))
    (folder / "preprocessor_config.json").unlink()
    processor = load_processor(str(folder), "qwen3_vl")
    assert processor.image_processor.size["longest_edge"] == parts["image_processor"]["size"]["longest_edge"]
    assert processor.image_processor.merge_size == 2


@pytest.mark.parametrize("name", ["tiny/qwen3-vl", "tiny/qwen3.5"])
def test_qwen_int8_language_model_keeps_the_vision_side(name, cat):
    # Where a Qwen checkpoint asks for it: the language model and head in int8, the ViT (and
    # its merger) as loaded, handing float32 features to the int8 layers (DeepStack included).
    import torch

    from pipelines.vlm import ChatPipeline
    from runtime.tiny import tiny_path

    plain = ChatPipeline.from_pretrained(str(tiny_path(name)))
    asked = ChatPipeline.from_pretrained(
        str(tiny_path(name)), dtype=torch.bfloat16, quantize=True, defaults={"int8_language_model": True}
    )
    assert asked.quantized and "quantized" in type(asked.model.lm_head).__module__
    assert asked.pixel_dtype == torch.bfloat16 == asked.model.model.visual.dtype
    turns = [ask("Describe it.", [cat])]
    ids = [[t["id"] for t in pipe(turns, max_new_tokens=6)["tokens"]] for pipe in (asked, plain)]
    assert ids[0][:2] == ids[1][:2]
