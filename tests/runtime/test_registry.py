"""Profiles, overrides and the auto-profile fallback to tiny models."""

import pytest
from PIL import Image

from pipelines.cache import ModelCache
from runtime import registry, settings
from runtime.hub import CheckpointUnavailable


def test_every_task_has_a_default_in_every_profile():
    for profile in ("gpu", "cpu", "tiny"):
        for task in registry.TASKS:
            checkpoint = registry.default_checkpoint(task, profile)
            assert checkpoint.task == task
            assert checkpoint.is_tiny == (profile == "tiny")


def test_every_real_checkpoint_has_a_tiny_twin_of_its_family():
    for checkpoint in registry.CHECKPOINTS.values():
        twin = registry.tiny_twin(checkpoint)
        assert twin.is_tiny and twin.task == checkpoint.task and twin.family == checkpoint.family


def test_auto_profile_follows_cuda():
    assert registry.resolve_profile("auto", cuda=True) == "gpu"
    assert registry.resolve_profile("auto", cuda=False) == "cpu"
    assert registry.resolve_profile("CPU") == "cpu"


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown profile 'fast'.*'auto', 'gpu', 'cpu', 'tiny'"):
        registry.resolve_profile("fast")


def test_pickers_offer_real_or_tiny_models_default_first():
    cpu = registry.choices("vqa", "cpu")
    assert [c.key for c in cpu[:3]] == ["blip-vqa-base", "blip-vqa-large", "vilt-vqa"]
    tiny = registry.choices("vqa", "tiny")
    assert [c.key for c in tiny] == [
        "tiny-blip-vqa",
        "tiny-vilt",
        "tiny-smolvlm",
        "tiny-gemma3",
        "tiny-qwen3-vl",
        "tiny-qwen3.5",
    ]


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_the_chat_default_reads_chinese_and_downloads_without_a_licence(profile):
    # A Chinese student's question is answered by the default, and a teacher who deploys the
    # app without a Hub token gets it: no gated checkpoint is a default of any task.
    chat = registry.default_checkpoint("chat", profile)
    assert "Han" in chat.scripts and not chat.gated
    assert not any(registry.CHECKPOINTS[key].gated for key in registry.DEFAULTS[profile].values())
    gemma = registry.CHECKPOINTS["gemma3-4b"]
    assert gemma.gated and "gated" in gemma.label and gemma in registry.choices("chat", profile)


def test_the_qwen_checkpoints_come_from_modelscope_under_the_same_ids():
    for checkpoint in registry.CHECKPOINTS.values():
        if checkpoint.family in ("qwen3_vl", "qwen3_5") and not checkpoint.is_tiny:
            assert registry.modelscope_id(checkpoint) == checkpoint.repo_id


@pytest.mark.parametrize("task", ["caption", "vqa"])
def test_caption_and_ask_offer_the_chat_models_after_their_own(task):
    # The same tab can compare BLIP with a VLM on one image: every chat model of the
    # profile is offered, after the task's own, under the same keys as in Chat.
    for profile in ("cpu", "gpu", "tiny"):
        offered = [c.key for c in registry.choices(task, profile)]
        chat = [c.key for c in registry.choices("chat", profile)]
        own = [k for k in offered if registry.CHECKPOINTS[k].task == task]
        assert offered == own + [k for k in offered if k in chat] and set(chat) <= set(offered)
    assert registry.named(task, "smolvlm-256m") is registry.CHECKPOINTS["smolvlm-256m"]
    with pytest.raises(ValueError, match="is a text_to_image checkpoint"):
        registry.named(task, "sd-turbo")


def test_unknown_model_key_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"Unknown caption model 'blip-huge'.*'blip-base'"):
        registry.get_checkpoint("caption", "blip-huge", "cpu")
    with pytest.raises(ValueError, match="available tasks"):
        registry.default_checkpoint("painting", "cpu")


def test_override_by_key_hub_id_and_directory(monkeypatch, tmp_path):
    monkeypatch.setitem(settings.MODEL_OVERRIDES, "caption", "blip-large")
    assert registry.default_checkpoint("caption", "cpu").key == "blip-large"

    monkeypatch.setitem(settings.MODEL_OVERRIDES, "caption", "someone/my-blip@abc123")
    checkpoint = registry.default_checkpoint("caption", "cpu")
    assert (checkpoint.repo_id, checkpoint.revision) == ("someone/my-blip", "abc123")
    assert registry.choices("caption", "cpu")[0] == checkpoint  # the override is the picker's default

    monkeypatch.setitem(settings.MODEL_OVERRIDES, "caption", str(tmp_path))
    assert registry.default_checkpoint("caption", "cpu").repo_id == str(tmp_path.resolve())


def test_bad_overrides_say_what_is_wrong(monkeypatch):
    monkeypatch.setitem(settings.MODEL_OVERRIDES, "vqa", "clip-b32")
    with pytest.raises(ValueError, match="is a retrieval checkpoint, not a vqa one"):
        registry.default_checkpoint("vqa", "cpu")
    monkeypatch.setitem(settings.MODEL_OVERRIDES, "vqa", "not a model")
    with pytest.raises(ValueError, match="owner/name"):
        registry.default_checkpoint("vqa", "cpu")


def test_auto_falls_back_to_the_tiny_twin_and_says_so(monkeypatch):
    monkeypatch.setattr(
        registry, "resolve_profile", lambda profile=None, cuda=None: "cpu" if profile != "tiny" else "tiny"
    )
    cache = ModelCache("auto")
    loaded = cache.get("vqa", "vilt-vqa")
    assert loaded.requested.key == "vilt-vqa"
    assert loaded.checkpoint.key == "tiny-vilt"
    assert "dandelin/vilt-b32-finetuned-vqa" in loaded.notice and "hf download" in loaded.notice
    answer = loaded.pipeline(Image.new("RGB", (40, 30)), "what?")
    assert answer in loaded.pipeline.model.config.id2label.values()


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_explicit_profiles_never_fall_back(profile):
    cache = ModelCache(profile)
    with pytest.raises(CheckpointUnavailable, match=r"not in the local Hugging Face cache.*hf download"):
        cache.get("caption")


def test_unknown_hub_checkpoint_under_explicit_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(settings.MODEL_OVERRIDES, "retrieval", "nobody/no-such-model")
    with pytest.raises(CheckpointUnavailable, match="nobody/no-such-model"):
        ModelCache("cpu").get("retrieval")


def test_a_qwen_messages_images_fit_the_chat_context():
    # One token per 32 x 32 px at most max_pixels: a message with the most images still leaves
    # room for an answer of the default length (128 tokens) in the chat's context.
    for checkpoint in registry.CHECKPOINTS.values():
        if checkpoint.family in ("qwen3_vl", "qwen3_5") and not checkpoint.is_tiny:
            image_tokens = checkpoint.defaults["max_pixels"] // (32 * 32)
            assert settings.CHAT_MAX_IMAGES * image_tokens + 128 < settings.CHAT_MAX_CONTEXT, checkpoint.key
