"""A vision-language model in the Caption and Ask tabs (pipelines/vlm_tasks.py), and the
maps of where its answer looked (explain/vlm.py), for every family."""

import numpy as np
import pytest
import torch
from PIL import Image

from explain import generation, vlm
from runtime.inputs import collect_notices


@pytest.fixture(scope="module", params=["tiny-smolvlm", "tiny-gemma3", "tiny-qwen3-vl", "tiny-qwen3.5"])
def key(request):
    return request.param


def test_caption_and_ask_share_the_chat_model(models, key):
    chat = models.get("chat", key)
    caption, vqa = models.get("caption", key), models.get("vqa", key)
    assert caption.pipeline.chat is chat.pipeline and vqa.pipeline.chat is chat.pipeline
    assert [(item.requested.task, item.checkpoint.key) for item in models.loaded()].count(("chat", key)) == 1
    assert models.get("caption", key).pipeline is caption.pipeline  # one adapter: requests still batch


def test_the_caption_is_the_models_greedy_answer_to_the_instruction(models, key, cat):
    task = models.get("caption", key).pipeline
    caption = task(cat, max_new_tokens=6, num_beams=1)
    # The same as the model's generate on the chat template's inputs, by hand:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": cat},
                {"type": "text", "text": "Describe this image in one sentence."},
            ],
        }
    ]
    inputs = task.processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    with torch.inference_mode():
        ids = task.model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert (
        caption
        == task.processor.tokenizer.decode(ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    )


def test_a_caption_prompt_starts_the_answer(models, key, cat):
    task = models.get("caption", key).pipeline
    assert task(cat, prompt="a photo of", max_new_tokens=4, num_beams=1).startswith("a photo of")
    sampled = dict(prompt="a photo of", max_new_tokens=6, num_beams=1, do_sample=True, temperature=1.2, seed=3)
    assert task(cat, **sampled) == task(cat, **sampled)


def test_lists_are_answered_one_at_a_time_as_alone(models, key, cat):
    task = models.get("caption", key).pipeline
    other = cat.rotate(90, expand=True)
    assert task([cat, other], max_new_tokens=5, num_beams=1) == [
        task(i, max_new_tokens=5, num_beams=1) for i in (cat, other)
    ]


def test_ask_gets_a_short_answer_in_the_questions_language(models, key):
    task = models.get("vqa", key).pipeline
    assert task.instruction("What is it?").endswith("Answer the question using a single word or phrase.")
    assert task.instruction("这是什么？").endswith("请用一个词或短语回答。")
    assert task.instruction("这是什么？").startswith("这是什么？")


def test_vqa_bad_input_gets_its_rule(models, key, cat):
    task = models.get("vqa", key).pipeline
    with pytest.raises(ValueError, match="question"):
        task(cat, "   ")
    with pytest.raises(ValueError, match="max_new_tokens"):
        task(cat, "what?", max_new_tokens=0)
    with pytest.raises(ValueError, match="one question per image"):
        task([cat, cat], "what?")


def test_smolvlm_reading_chinese_gets_a_notice(models, cat):
    with collect_notices() as notices:
        models.get("vqa", "tiny-smolvlm").pipeline(cat, "这是什么？", max_new_tokens=2)
    assert any("Gemma 3" in notice for notice in notices)


def test_a_chinese_reading_model_captions_in_chinese_on_the_chinese_page(models, cat):
    # The Caption tab asks in the page's language (no prompt given) a model that writes
    # Chinese; BLIP and SmolVLM are asked in English whatever the page.
    from ui.server.language import PAGE_LOCALE
    from ui.tabs.caption import caption_language

    qwen, smolvlm = models.get("caption", "tiny-qwen3.5").pipeline, models.get("caption", "tiny-smolvlm").pipeline
    blip = models.get("caption", "tiny-blip").pipeline
    assert qwen.writes_chinese and not smolvlm.writes_chinese
    token = PAGE_LOCALE.set("zh-CN")
    try:
        assert caption_language(qwen, None) == {"language": "zh"} and caption_language(qwen, " ") == {"language": "zh"}
        assert caption_language(qwen, "a photo of") == {}  # the caption continues the prompt, in its language
        assert caption_language(smolvlm, None) == {} and caption_language(blip, None) == {}
    finally:
        PAGE_LOCALE.reset(token)
    assert caption_language(qwen, None) == {}  # the English page
    # Asked in Chinese: the caption is the model's answer to the Chinese instruction.
    image, options = qwen.preprocess(cat, max_new_tokens=5, num_beams=1, language="zh")
    assert qwen.instruction(options["prompt"], options["language"]) == "用一句话描述这张图片。"
    inputs, start = qwen.encode(image, "用一句话描述这张图片。")
    assert qwen.forward([image], **options) == [qwen.generate(inputs, start, 5)]
    assert "用一句话描述这张图片。" in qwen.processor.tokenizer.decode(inputs["input_ids"][0])


def test_a_chinese_question_is_asked_and_answered_without_a_notice(models, cat):
    with collect_notices() as notices:
        task = models.get("vqa", "tiny-qwen3.5").pipeline
        inputs, _ = task.encode(load(cat), task.instruction("这是什么动物？"))
        task(cat, "这是什么动物？", max_new_tokens=2)
    assert notices == []
    assert "这是什么动物？\n请用一个词或短语回答。" in task.processor.tokenizer.decode(inputs["input_ids"][0])


def load(image):
    from runtime.inputs import load_image

    return load_image(image)


# --- Where it looked -----------------------------------------------------------------


def _inputs(chat, images):
    messages = chat.messages([{"role": "user", "text": "hi", "images": images}])
    return chat.encode(messages)


def test_smolvlm_layout_follows_its_tiles_and_global_view(models, cat):
    chat = models.get("chat", "tiny-smolvlm").pipeline
    wide = Image.new("RGB", (120, 40), "white")  # 1 x 2 tiles after the resize to the longest edge
    inputs = _inputs(chat, [cat, wide])
    layouts = vlm.image_layouts(
        "idefics3", chat.processor.tokenizer, chat.model.config, inputs["input_ids"][0].tolist()
    )
    assert len(layouts) == 2
    image_id = chat.model.config.image_token_id
    assert sum(layout.tokens for layout in layouts) == int((inputs["input_ids"][0] == image_id).sum())
    for layout in layouts:
        assert layout.side**2 == len(layout.whole) and len(layout.tiles) == layout.rows * layout.cols
    assert (layouts[1].rows, layouts[1].cols) == (1, 2)
    # Images in order: every position of the first comes before the second's.
    assert max(layouts[0].whole) < min(p for _, _, ps in layouts[1].tiles for p in ps)


def test_gemma3_layout_is_one_square_grid_per_image(models, cat):
    chat = models.get("chat", "tiny-gemma3").pipeline
    inputs = _inputs(chat, [cat, cat])
    layouts = vlm.image_layouts("gemma3", chat.processor.tokenizer, chat.model.config, inputs["input_ids"][0].tolist())
    assert [(layout.rows, layout.side**2) for layout in layouts] == [(0, chat.model.config.mm_tokens_per_image)] * 2


@pytest.mark.parametrize("key", ["tiny-qwen3-vl", "tiny-qwen3.5"])
def test_qwen_layout_is_each_images_merged_grid(models, key, cat):
    # Dynamic resolution: each image is its own (rows / 2) x (cols / 2) grid of tokens, as
    # the processor's image_grid_thw gives it, whatever its aspect ratio.
    chat = models.get("chat", key).pipeline
    wide = Image.new("RGB", (120, 40), "white")
    inputs = _inputs(chat, [cat, wide])
    grids = chat.processor.image_processor(images=[cat, wide], return_tensors="pt")["image_grid_thw"]
    assert inputs["image_grid_thw"].tolist() == grids.tolist()
    layouts = vlm.image_layouts(
        chat.model_type,
        chat.processor.tokenizer,
        chat.model.config,
        inputs["input_ids"][0].tolist(),
        inputs["image_grid_thw"],
    )
    merge = chat.model.config.vision_config.spatial_merge_size
    assert [layout.shape for layout in layouts] == [(int(h) // merge, int(w) // merge) for _, h, w in grids]
    assert layouts[1].shape[1] > layouts[1].shape[0]  # the wide image stays wide
    image_id = chat.model.config.image_token_id
    assert sum(layout.tokens for layout in layouts) == int((inputs["input_ids"][0] == image_id).sum())
    assert max(layouts[0].whole) < min(layouts[1].whole)
    with pytest.raises(ValueError, match="don't match its grids"):
        vlm.image_layouts(
            "qwen3_vl",
            chat.processor.tokenizer,
            chat.model.config,
            inputs["input_ids"][0].tolist(),
            inputs["image_grid_thw"][:1],
        )


def test_token_order_matches_qwens_patch_order_and_merger():
    # The processor writes each 2 x 2 block of patches consecutively, and the merger joins
    # each 4 consecutive patches into one token: the token holding patch (r, c) is
    # (r // 2) * (cols // 2) + c // 2, as the layout assumes. One white patch in a black image
    # finds its token.
    from transformers import Qwen2VLImageProcessorPil

    processor = Qwen2VLImageProcessorPil(
        patch_size=4,
        merge_size=2,
        temporal_patch_size=2,
        min_pixels=16,
        max_pixels=10**6,
        image_mean=[0.0] * 3,
        image_std=[1.0] * 3,
    )
    rows, cols = 6, 10  # patches of 4 px: a 24 x 40 image, 3 x 5 tokens
    for r, c in [(0, 0), (1, 2), (5, 9), (4, 3)]:
        pixels = np.zeros((rows * 4, cols * 4, 3), np.uint8)
        pixels[r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] = 255
        out = processor(images=[Image.fromarray(pixels)], return_tensors="pt")
        assert out["image_grid_thw"].tolist() == [[1, rows, cols]]
        patch = int(out["pixel_values"].abs().sum(-1).argmax())
        assert patch // 4 == (r // 2) * (cols // 2) + c // 2


def test_qwen_attention_through_the_cache_is_one_pass_over_the_answer(models, cat):
    # The maps read the prompt, then the answer through the cache at the positions generate
    # gave it (multimodal RoPE moved by the image's tokens): the same weights as one pass.
    from pipelines.vlm import with_tokens

    for key in ("tiny-qwen3-vl", "tiny-qwen3.5"):
        chat = models.get("chat", key).pipeline
        turns = chat.check_conversation([{"role": "user", "text": "What is it?", "images": [cat]}])[0]
        ids = [t["id"] for t in chat(turns, max_new_tokens=5)["tokens"]]
        inputs = chat.encode(chat.messages(turns))
        weights = vlm.token_attention(chat, inputs, ids)
        before = chat.model.config._attn_implementation
        chat.model.set_attn_implementation("eager")
        try:
            with torch.inference_mode():
                whole = chat.model(**with_tokens(inputs, ids[:-1]), output_attentions=True)
        finally:
            chat.model.set_attn_implementation(before)
        start = inputs["input_ids"].shape[1] - 1
        expected = np.stack([a[0, :, start:].float().mean(0).numpy() for a in whole.attentions])
        np.testing.assert_allclose(weights, expected, atol=1e-5)


def test_token_order_matches_the_pixel_shuffle(models):
    # The connector's pixel shuffle merges s x s patches into one token, row by row:
    # the token holding patch (r, c) is (r // s) * (w // s) + c // s, as image_maps assumes.
    model = models.get("chat", "tiny-smolvlm").pipeline.model
    connector, s = model.model.connector, model.config.scale_factor
    side = model.config.vision_config.image_size // model.config.vision_config.patch_size
    for r, c in [(0, 0), (1, 2), (side - 1, side - 1), (2, side - 1)]:
        patches = torch.zeros(1, side * side, 1)
        patches[0, r * side + c, 0] = 1.0
        shuffled = connector.pixel_shuffle(patches, s)  # (1, tokens, s * s)
        token = int(shuffled[0].abs().sum(-1).argmax())
        assert token == (r // s) * (side // s) + c // s


def test_token_order_matches_gemma3s_pooling(models):
    model = models.get("chat", "tiny-gemma3").pipeline.model
    projector = model.model.multi_modal_projector
    side = projector.patches_per_image
    tokens_side = int(model.config.mm_tokens_per_image**0.5)
    k = side // tokens_side
    for r, c in [(0, 0), (side - 1, 0), (3, side - 1)]:
        patches = torch.zeros(1, side * side, projector.mm_input_projection_weight.shape[0])
        patches[0, r * side + c] = 1.0
        reshaped = patches.transpose(1, 2).reshape(1, -1, side, side)
        pooled = projector.avg_pool(reshaped).flatten(2).transpose(1, 2)  # the projector's own steps
        assert int(pooled[0].abs().sum(-1).argmax()) == (r // k) * tokens_side + c // k


def test_maps_have_the_grids_shape_and_sum_to_one(models, key, cat):
    task = models.get("caption", key).pipeline
    explanation = generation.explain_caption(task, cat, max_new_tokens=5, seed=1)
    grid = explanation.record["attention"]["grid"]
    for strategy in explanation.record["strategies"]:
        maps = explanation.maps[strategy["name"]]  # (layers, tokens, H, W)
        assert maps.shape == (explanation.record["attention"]["layers"], len(strategy["steps"]), *grid)
        np.testing.assert_allclose(maps.sum((-2, -1)), 1.0, rtol=1e-4)
        assert all(0.0 < share <= 1.0 for share in strategy["image_share"])
    # Each strategy's text is the tab's caption with the same settings.
    texts = {s["name"]: s["text"] for s in explanation.record["strategies"]}
    assert texts["greedy"] == task(cat, max_new_tokens=5, num_beams=1)
    assert texts["beam"] == task(cat, max_new_tokens=5, num_beams=3)
    assert texts["sampling"] == task(cat, max_new_tokens=5, num_beams=1, do_sample=True, seed=1)


def test_vqa_explanation_scores_candidates_by_the_model(models, key, cat):
    task = models.get("vqa", key).pipeline
    explanation = generation.explain_vqa(task, cat, "What animal is this?", candidates="cat, dog")
    answers = explanation.record["answers"]
    assert {a["answer"] for a in answers} == {"cat", "dog"}
    assert answers[0]["probability"] >= answers[1]["probability"] > 0.0
    assert explanation.record["answer"] == task(cat, "What animal is this?")


def test_chat_maps_cover_each_image(models, key, cat):
    chat = models.get("chat", key).pipeline
    turns = [{"role": "user", "text": "Compare them.", "images": [cat, cat.rotate(90, expand=True)]}]
    result = chat(turns, max_new_tokens=4)
    found = vlm.explain_chat(chat, turns, None, [t["id"] for t in result["tokens"]])
    assert len(found["images"]) == 2 and found["tokens"] == [t["token"] for t in result["tokens"]]
    total = sum(item["share"] for item in found["images"])  # (tokens,): on the images, the rest on the text
    assert np.all((total > 0) & (total <= 1 + 1e-5))
    for item in found["images"]:
        np.testing.assert_allclose(item["maps"].sum((-2, -1)), 1.0, rtol=1e-4)


def test_an_answer_holding_an_image_token_is_mapped_as_text(models, key, cat):
    # A random (or confused) model may write the image placeholder; generate read it as text,
    # and so do the maps, instead of failing on "image features and image tokens do not match".
    chat = models.get("chat", key).pipeline
    config = chat.model.config
    image_id = next(i for i in (getattr(config, n, None) for n in ("image_token_id", "image_token_index")) if i)
    turns = [{"role": "user", "text": "Describe it.", "images": [cat]}]
    found = vlm.explain_chat(chat, turns, None, [image_id, image_id, 42])
    np.testing.assert_allclose(found["images"][0]["maps"].sum((-2, -1)), 1.0, rtol=1e-4)
    assert found["images"][0]["maps"].shape[1] == 3


def test_a_chat_model_named_for_caption_or_ask_goes_the_same_route():
    # MODEL_CAPTION / MODEL_VQA may name a folder or a Hub id: a chat model there is asked
    # through the same adapter as a registry chat model (pipelines/cache.py: served_as);
    # BLIP's and ViLT's loaders refuse it, saying so.
    from pipelines.cache import ModelCache
    from pipelines.captioning import CaptionPipeline
    from pipelines.vlm import ChatPipeline
    from pipelines.vlm_tasks import VLMCaptionPipeline, VLMVQAPipeline
    from runtime import registry
    from runtime.hub import locate

    folder, _ = locate(registry.CHECKPOINTS["tiny-smolvlm"])
    cache = ModelCache("tiny")
    for task, adapter in (("caption", VLMCaptionPipeline), ("vqa", VLMVQAPipeline)):
        checkpoint = registry.named(task, folder)
        assert (checkpoint.task, checkpoint.family) == (task, "auto")
        loaded = cache.get(task, checkpoint)
        assert type(loaded.pipeline) is adapter and type(loaded.pipeline.chat) is ChatPipeline
    with pytest.raises(ValueError, match="is asked through VLMCaptionPipeline"):
        CaptionPipeline.from_pretrained(folder, local_files_only=True)
