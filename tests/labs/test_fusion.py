"""The fusion lab's data, models and training, on tiny CLIP features: seeded scenes,
pairs that need both modalities, deterministic training, each strategy beating chance
on an easy split, plain results, and a feature cache that survives restarts."""

import json

import numpy as np
import pytest

from labs import fusion
from labs.fusion import FusionConfig, FusionLab, MatchingSet


@pytest.fixture(scope="module")
def clip(models):
    return models.get("retrieval", "tiny-clip").pipeline


@pytest.fixture(scope="module")
def lab(clip, tmp_path_factory):
    lab = FusionLab(tmp_path_factory.mktemp("fusion-cache"))
    lab.features(clip)
    return lab


def test_scenes_are_seeded_and_cover_every_concept():
    scenes, again, other = fusion.make_scenes(2, seed=0), fusion.make_scenes(2, seed=0), fusion.make_scenes(2, seed=1)
    assert len(scenes) == 2 * len(fusion.COLOURS) * len(fusion.SHAPES)
    assert {s.caption for s in scenes} == set(fusion.all_captions(scenes))
    assert all(np.array_equal(np.asarray(a.image), np.asarray(b.image)) for a, b in zip(scenes, again, strict=True))
    assert any(not np.array_equal(np.asarray(a.image), np.asarray(b.image)) for a, b in zip(scenes, other, strict=True))
    red_circle = np.asarray(scenes[0].image).reshape(-1, 3)
    assert (np.abs(red_circle - fusion.COLOURS["red"]).max(axis=1) < 30).sum() > 1000  # a red shape is drawn


@pytest.mark.parametrize("negatives", fusion.NEGATIVES)
def test_half_the_pairs_match_and_a_wrong_caption_changes_one_word(lab, clip, negatives):
    data = lab.matching_set(clip, "instances", negatives)
    assert data.labels.mean() == 0.5 and data.labels[data.test].mean() == 0.5
    for image, caption, label in zip(data.image_index, data.caption_index, data.labels, strict=True):
        truth, said = lab.scenes[image].caption.split(), data.features.captions[caption].split()
        changed = [i for i, (a, b) in enumerate(zip(truth, said, strict=True)) if a != b]
        assert changed == ([] if label == 1.0 else {"colour": [1], "shape": [2], "either": changed}[negatives])
        assert label == 1.0 or len(changed) == 1


def test_instances_split_holds_out_new_pictures_of_every_concept(lab, clip):
    data = lab.matching_set(clip, "instances")
    train, test = set(data.image_index[~data.test]), set(data.image_index[data.test])
    assert not train & test
    assert {lab.scenes[i].caption for i in test} == {lab.scenes[i].caption for i in train}
    assert (len(train), len(test)) == (96, 48)


def test_combinations_split_never_shows_a_held_out_caption_in_training(lab, clip):
    data = lab.matching_set(clip, "combinations")
    held_out = {fusion.caption_for(*pair) for pair in fusion.HELD_OUT_COMBINATIONS}
    seen = {data.features.captions[c] for c in data.caption_index[~data.test]}
    assert not seen & held_out
    assert {lab.scenes[i].caption for i in data.image_index[data.test]} == held_out


def test_training_is_deterministic_for_a_seed(lab, clip):
    data = lab.matching_set(clip)
    for strategy in fusion.STRATEGIES:
        config = FusionConfig(strategy=strategy, epochs=3, hidden_size=16, seed=5)
        first, second = fusion.train(data, config), fusion.train(data, config)
        assert first["curves"] == second["curves"] and first["metrics"] == second["metrics"]
        other = fusion.train(data, FusionConfig(strategy=strategy, epochs=3, hidden_size=16, seed=6))
        assert other["curves"]["train_loss"] != first["curves"]["train_loss"]


@pytest.mark.parametrize(("strategy", "epochs"), [("early", 60), ("late", 60), ("hybrid", 20)])
def test_each_strategy_beats_chance_on_an_easy_split(lab, clip, strategy, epochs):
    # Easy: new pictures of known concepts, wrong captions change the colour (which even
    # a random tiny CLIP encodes). Chance is 50%; with 96 held-out pairs, 65% is > 3 sigma.
    data = lab.matching_set(clip, "instances", "colour")
    result = fusion.train(data, FusionConfig(strategy=strategy, epochs=epochs, learning_rate=0.003))
    assert result["metrics"]["test_accuracy"] >= 0.65, result["metrics"]
    assert result["curves"]["train_loss"][-1] < result["curves"]["train_loss"][0]


def test_results_are_plain_values_that_agree_with_each_other(lab, clip):
    data = lab.matching_set(clip)
    result = fusion.train(data, FusionConfig(strategy="late", epochs=4))
    assert json.loads(json.dumps(result)) == result
    assert result["done"] and result["curves"]["epoch"] == [1, 2, 3, 4]
    assert all(len(values) == 4 for values in result["curves"].values())
    (tn, fp), (fn, tp) = result["confusion_matrix"]["matrix"]
    assert tn + fp + fn + tp == result["data"]["test_pairs"] == 96
    assert result["metrics"]["test_accuracy"] == pytest.approx((tn + tp) / 96, abs=1e-4)
    assert result["metrics"]["test_accuracy"] == result["curves"]["test_accuracy"][-1]
    assert len(result["mistakes"]) <= 8 and all(m["label"] in ("match", "mismatch") for m in result["mistakes"])
    for mistake in result["mistakes"]:
        assert (mistake["probability_match"] >= 0.5) != (mistake["label"] == "match")


def test_live_snapshots_arrive_every_few_epochs_and_stay_as_they_were(lab, clip):
    data = lab.matching_set(clip)
    snapshots = list(fusion.train_steps(data, FusionConfig(strategy="early", epochs=12), every=5))
    assert [len(s["curves"]["epoch"]) for s in snapshots] == [5, 10, 12]
    assert [s["done"] for s in snapshots] == [False, False, True]
    assert snapshots[-1]["curves"]["train_loss"][:5] == snapshots[0]["curves"]["train_loss"]


BAD_CONFIGS = [
    (dict(strategy="middle"), "Unknown fusion strategy 'middle'"),
    (dict(optimizer="rmsprop"), "Unknown optimizer"),
    (dict(epochs=0), "`epochs` must be between 1 and 200"),
    (dict(epochs=2.5), "whole number"),
    (dict(learning_rate=0), "`learning_rate` must be between"),
    (dict(hidden_size=10_000), "`hidden_size` must be between"),
    (dict(seed=-3), "`seed` must be between"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_bad_settings_are_refused_with_the_rule(lab, clip, bad, message):
    with pytest.raises(ValueError, match=message):
        fusion.train(lab.matching_set(clip), FusionConfig(**bad))


def test_unknown_split_or_negatives_are_refused(lab, clip):
    with pytest.raises(ValueError, match="Unknown split 'random'"):
        lab.matching_set(clip, "random")
    with pytest.raises(ValueError, match="Unknown kind of negatives"):
        lab.matching_set(clip, "instances", "size")


def test_features_are_cached_on_disk_and_a_damaged_cache_is_recomputed(lab, clip, monkeypatch):
    path = next(lab.cache_dir.glob("*.npz"))
    expected = lab.features(clip).image_tokens

    def refuse(*args, **kwargs):
        raise AssertionError("features were recomputed")

    monkeypatch.setattr(fusion, "encode", refuse)
    assert np.array_equal(FusionLab(lab.cache_dir).features(clip).image_tokens, expected)
    monkeypatch.undo()
    path.write_bytes(b"not a numpy file")
    assert np.array_equal(FusionLab(lab.cache_dir).features(clip).image_tokens, expected)


def test_other_scenes_can_be_used(clip):
    # e.g. the evaluation probe set: any scenes with a colour, a shape and a caption
    scenes = [s for s in fusion.make_scenes(4) if s.colour in ("red", "blue") and s.shape in ("circle", "square")]
    lab = FusionLab(scenes=scenes)
    data = MatchingSet.build(scenes, lab.features(clip), "instances")
    assert sorted(data.features.captions) == ["a blue circle", "a blue square", "a red circle", "a red square"]
    assert fusion.train(data, FusionConfig(epochs=2))["data"]["test_pairs"] == 16


def test_a_diverging_run_stops_and_says_why(lab, clip):
    data = lab.matching_set(clip)
    config = FusionConfig(strategy="hybrid", optimizer="sgd", learning_rate=1.0, hidden_size=256, epochs=6)
    with pytest.raises(ValueError, match=r"Training diverged at epoch \d .*learning rate 1.0 is too high for sgd"):
        fusion.train(data, config)
