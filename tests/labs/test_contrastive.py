"""The Contrastive lab on the tiny CLIP's features: held-out concepts never trained on,
batches of different concepts, deterministic for a seed, the loss falling and the
similarity matrix turning diagonal, a learned temperature, plain results, and bad
settings refused with the rule."""

import json

import numpy as np
import pytest
import torch

from labs import contrastive, fusion
from labs.contrastive import ContrastiveConfig, ContrastiveSet
from labs.contrastive_models import info_nce


@pytest.fixture(scope="module")
def data(audio_lab, clip):
    return ContrastiveSet.build(audio_lab.scenes, audio_lab.features(clip))


def test_held_out_combinations_are_never_trained_on(data, audio_lab):
    captions = data.features.captions
    unseen = {fusion.caption_for(*pair) for pair in fusion.HELD_OUT_COMBINATIONS}
    trained = {captions[c] for c in data.caption_of[data.train]}
    assert not trained & unseen and {captions[c] for c in data.caption_of[data.unseen]} == unseen
    assert data.concepts == 9 and not (data.train & data.kept_back).any() and not (data.train & data.unseen).any()
    # one probe picture per caption, none of them trained on
    assert [captions[data.caption_of[p]] for p in data.probes] == captions and not data.train[data.probes].any()


def test_info_nce_is_symmetric_and_small_for_a_diagonal_matrix():
    logits = torch.randn(5, 5)
    assert torch.isclose(info_nce(logits), info_nce(logits.T))
    assert info_nce(10 * torch.eye(5)) < 0.01 < info_nce(torch.zeros(5, 5))
    assert torch.isclose(info_nce(torch.zeros(5, 5)), torch.log(torch.tensor(5.0)))  # chance: log B


def test_training_is_deterministic_for_a_seed(data):
    config = ContrastiveConfig(epochs=5, seed=4)
    first, second = contrastive.train(data, config), contrastive.train(data, config)
    assert first["curves"] == second["curves"] and first["matrix"] == second["matrix"]
    other = contrastive.train(data, ContrastiveConfig(epochs=5, seed=5))
    assert other["curves"]["loss"] != first["curves"]["loss"]


def test_the_loss_falls_and_the_matrix_turns_diagonal(data):
    result = contrastive.train(data, ContrastiveConfig(epochs=40, batch_size=9, learning_rate=0.01))
    curves = result["curves"]
    assert curves["loss"][-1] < 0.7 * curves["loss"][0]
    start, end = result["start"]["diagonal_share"], result["metrics"]["diagonal_share"]
    assert start < 0.2 and end > 2 * start, (start, end)  # about 1/9 before training
    probabilities = np.array(result["matrix"]["probabilities"])
    assert probabilities.shape == (12, 12) and np.allclose(probabilities.sum(1), 1, atol=1e-3)
    seen = np.array(result["matrix"]["seen"])
    block = probabilities[seen][:, seen]
    assert (block.argmax(1) == np.arange(len(block))).mean() > 2 / 9  # chance: 1 in 9
    assert 0 <= result["metrics"]["zero_shot_accuracy"] <= 1 and result["metrics"]["chance_accuracy"] == round(
        1 / 12, 5
    )


def test_a_learned_temperature_moves_and_a_fixed_one_stays(data):
    learned = contrastive.train(data, ContrastiveConfig(epochs=10, temperature=0.5, learn_temperature=True))
    fixed = contrastive.train(data, ContrastiveConfig(epochs=10, temperature=0.5))
    assert set(fixed["curves"]["temperature"]) == {0.5}
    assert learned["curves"]["temperature"][-1] < 0.5
    assert learned["parameters"] == fixed["parameters"] + 1  # log 1/τ is a parameter


def test_results_are_plain_values_and_arrive_as_they_train(data):
    snapshots = list(contrastive.train_steps(data, ContrastiveConfig(epochs=7), every=3))
    assert [len(s["curves"]["epoch"]) for s in snapshots] == [3, 6, 7]
    assert [s["done"] for s in snapshots] == [False, False, True]
    result = snapshots[-1]
    assert json.loads(json.dumps(result)) == result
    assert result["data"]["unseen_captions"] == ["a red triangle", "a green circle", "a blue square"]
    assert result["data"]["steps_per_epoch"] == -(-result["data"]["train_pictures"] // 8)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (dict(batch_size=1), "`batch_size` must be between 2 and 9"),
        (dict(batch_size=10), "`batch_size` must be between 2 and 9"),
        (dict(temperature=0), "`temperature` must be between 0.01 and 1"),
        (dict(embedding_size=1.5), "whole number"),
        (dict(learn_temperature="yes"), "`learn_temperature` must be true or false"),
        (dict(epochs=0), "`epochs` must be between 1 and 200"),
    ],
)
def test_bad_settings_are_refused_with_the_rule(data, bad, message):
    with pytest.raises(ValueError, match=message):
        contrastive.train(data, ContrastiveConfig(**bad))
