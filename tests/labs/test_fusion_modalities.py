"""Three modalities in the Fusion lab (the spoken caption heard by Whisper's encoder):
seeded, cached spoken captions; every strategy on every subset of {image, text, audio};
missing-modality tests for each strategy; weighted fusion's weights; and the image +
text models unchanged (a parity test against the models as they were before audio)."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from labs import fusion, spoken
from labs.fusion import FusionConfig, FusionLab
from labs.fusion_models import MODELS

SUBSETS = [list(s) for n in (1, 2, 3) for s in itertools.combinations(fusion.MODALITIES, n)]


def test_every_picture_has_a_spoken_caption_of_its_own_caption(audio_lab, models, audio):
    takes = audio_lab.spoken_captions(models.get("text_to_speech").pipeline, "tiny-vits")
    assert len(takes.order) == len(audio_lab.scenes) == len(audio.audio_pooled)
    assert len(takes.clips) == spoken.TAKES * len(fusion.all_captions(audio_lab.scenes))
    for picture, scene in enumerate(audio_lab.scenes):
        assert takes.lines[takes.order[picture]] == scene.caption
    # the pictures of a concept take turns with the takes; takes differ from each other
    first = [i for i, s in enumerate(audio_lab.scenes) if s.caption == "a red circle"]
    assert len({int(takes.order[i]) for i in first}) == spoken.TAKES
    assert not np.array_equal(takes.clip(first[0]), takes.clip(first[1]))
    assert all(c.dtype == np.float32 and len(c) > 0.2 * takes.sampling_rate for c in takes.clips)
    assert audio.audio_tokens.shape[:2] == (len(audio_lab.scenes), spoken.AUDIO_TOKENS)
    assert np.isfinite(audio.audio_tokens).all() and np.isfinite(audio.audio_pooled).all()


def test_spoken_captions_are_reproducible_and_cached_on_disk(audio_lab, models, audio, monkeypatch):
    tts = models.get("text_to_speech").pipeline
    again = spoken.speak(tts, [s.caption for s in audio_lab.scenes[:6]], "tiny-vits")
    cached = audio_lab.spoken_captions(tts, "tiny-vits")
    assert all(np.allclose(a, b, atol=1 / 32767) for a, b in zip(again.clips, cached.clips, strict=False))

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(spoken, "speak", refuse)
    monkeypatch.setattr(spoken, "encode", refuse)
    fresh = FusionLab(audio_lab.cache_dir).audio_features(
        tts, models.get("speech_recognition").pipeline, ("tiny-vits", "tiny-whisper")
    )
    assert np.array_equal(fresh.audio_tokens, audio.audio_tokens) and fresh.model == "tiny-vits + tiny-whisper"


@pytest.mark.parametrize("strategy", fusion.STRATEGIES)
def test_every_strategy_runs_on_every_subset_of_modalities(audio_lab, clip, audio, strategy):
    data = audio_lab.matching_set(clip, audio=audio)
    for modalities in SUBSETS:
        result = fusion.train(data, FusionConfig(strategy=strategy, modalities=modalities, epochs=2, hidden_size=8))
        assert result["done"] and result["config"]["modalities"] == modalities
        assert 0.0 <= result["metrics"]["test_accuracy"] <= 1.0 and math.isfinite(result["metrics"]["train_loss"])
        assert json.loads(json.dumps(result)) == result
        assert set(result["missing"]) == {"all", "chance", *(modalities if len(modalities) > 1 else [])}
        if "audio" in modalities:
            assert result["data"]["audio_model"] == "tiny-vits + tiny-whisper"


def test_missing_modality_tests_are_reported_for_each_strategy(audio_lab, clip, audio):
    data = audio_lab.matching_set(clip, "instances", "colour", audio=audio)
    every = ["image", "text", "audio"]
    for strategy in fusion.STRATEGIES:
        config = FusionConfig(strategy=strategy, modalities=every, epochs=15, learning_rate=0.003, seed=1)
        result = fusion.train(data, config)
        missing = result["missing"]
        assert missing["all"] == result["metrics"]["test_accuracy"]
        for modality in every:
            assert set(missing[modality]) == {"dropped", "noise"}
            assert all(0.0 <= value <= 1.0 for value in missing[modality].values())
        # The written caption is what is checked: without it, no strategy beats guessing by much.
        assert missing["text"]["dropped"] <= 0.6, (strategy, missing)
        assert fusion.train(data, config)["missing"] == missing  # seeded: the noise too


def test_late_fusion_leaves_a_missing_modality_out_and_early_fusion_fills_it_in():
    torch.manual_seed(0)
    dims = {"image": 6, "text": 5, "audio": 4}
    batch = {
        "image_tokens": torch.randn(3, 2, 6),
        "text_tokens": torch.randn(3, 4, 5),
        "text_mask": torch.ones(3, 4, dtype=torch.bool),
        "text_pooled": torch.randn(3, 5),
        "audio_tokens": torch.randn(3, 2, 4),
        "audio_pooled": torch.randn(3, 4),
    }
    late = MODELS["late"](dims, 8).eval()
    changed = {**batch, "image_tokens": torch.randn(3, 2, 6)}
    # without the picture, late fusion's logit no longer depends on it at all
    assert torch.allclose(late(batch, absent=["image"]), late(changed, absent=["image"]))
    assert not torch.allclose(late(batch), late(changed))
    early = MODELS["early"](dims, 8).eval()
    zeroed = {**batch, "image_tokens": torch.zeros(3, 2, 6)}
    assert torch.allclose(early(batch, absent=["image"]), early(zeroed))  # filled in with the training mean
    for name in ("hybrid", "weighted"):
        model = MODELS[name](dims, 8).eval()
        assert torch.allclose(model(batch, absent=["image"]), model(changed, absent=["image"]))


def test_weighted_fusion_learns_one_weight_per_modality(audio_lab, clip, audio):
    data = audio_lab.matching_set(clip, audio=audio)
    snapshots = list(
        fusion.train_steps(
            data,
            FusionConfig(strategy="weighted", modalities=["image", "text", "audio"], epochs=6, learning_rate=0.01),
            every=3,
        )
    )
    weights = snapshots[-1]["weights"]
    assert list(weights) == ["image", "text", "audio"] and sum(weights.values()) == pytest.approx(1, abs=1e-4)
    assert weights != {"image": 1 / 3, "text": 1 / 3, "audio": 1 / 3}  # they moved from equal
    assert snapshots[0]["weights"] != weights  # shown while training, too


def test_audio_needs_audio_features_and_modalities_are_checked(audio_lab, clip):
    data = audio_lab.matching_set(clip)
    with pytest.raises(ValueError, match="no audio features"):
        fusion.train(data, FusionConfig(modalities=["image", "text", "audio"]))
    with pytest.raises(
        ValueError, match=r"Unknown modality 'smell'; available modalities = \['image', 'text', 'audio'\]"
    ):
        fusion.train(data, FusionConfig(modalities=["image", "smell"]))
    with pytest.raises(ValueError, match="at least one modality"):
        fusion.train(data, FusionConfig(modalities=[]))
    assert FusionConfig(modalities="text, image").check().modalities == ["image", "text"]


# --- Parity: with the picture and the caption, the models are the ones the lab always had ---


def _mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o))


class OldEarly(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.mlp = _mlp(2 * dim, hidden, 1)

    def forward(self, b):
        return self.mlp(torch.cat([b["image_tokens"][:, 0], b["text_pooled"]], -1)).squeeze(-1)


class OldLate(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.image_head, self.text_head = _mlp(dim, hidden, hidden), _mlp(dim, hidden, hidden)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, b):
        i, t = self.image_head(b["image_tokens"][:, 0]), self.text_head(b["text_pooled"])
        return (i * t).sum(-1) / math.sqrt(i.shape[-1]) + self.bias


class OldHybrid(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        heads = 4 if hidden % 4 == 0 else 1
        self.image_in, self.text_in = nn.Linear(dim, hidden), nn.Linear(dim, hidden)
        self.text_to_image = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.image_to_text = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.text_norm, self.image_norm = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.head = _mlp(2 * hidden, hidden, 1)

    def forward(self, b):
        image, text = self.image_in(b["image_tokens"]), self.text_in(b["text_tokens"])
        text = self.text_norm(text + self.text_to_image(text, image, image, need_weights=False)[0])
        image = self.image_norm(
            image + self.image_to_text(image, text, text, key_padding_mask=~b["text_mask"], need_weights=False)[0]
        )
        mask = b["text_mask"].unsqueeze(-1).float()
        pooled = (text * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.head(torch.cat([image.mean(1), pooled], -1)).squeeze(-1)


@pytest.mark.parametrize(("strategy", "old"), [("early", OldEarly), ("late", OldLate), ("hybrid", OldHybrid)])
def test_image_and_text_models_match_the_models_before_audio(audio_lab, clip, strategy, old):
    batch = audio_lab.matching_set(clip).tensors(test=True)
    dim = batch["text_pooled"].shape[-1]
    torch.manual_seed(3)
    reference = old(dim, 16).eval()
    torch.manual_seed(3)
    model = MODELS[strategy]({"image": dim, "text": dim}, 16).eval()
    with torch.no_grad():
        assert torch.equal(model(batch), reference(batch))
