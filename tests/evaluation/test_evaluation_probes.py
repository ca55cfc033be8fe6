"""The probe set: scenes drawn from a seed are reproducible and their ground truth is
exact; the bundled data file agrees with the generator and with the pictures."""

import json
import random

import numpy as np
import pytest

from evaluation.probes import ABILITIES, build_probes, load_probes, photos_of, probe_path
from labs.scenes import COLORS, RELATIONS, describe, generate_prompts, generate_scenes, questions, render_scene


def test_the_same_seed_draws_the_same_scenes_and_pixels():
    first, second = generate_scenes(seed=7), generate_scenes(seed=7)
    assert first == second
    assert all(
        np.array_equal(np.asarray(render_scene(a)), np.asarray(render_scene(b)))
        for a, b in zip(first, second, strict=True)
    )
    assert generate_prompts(seed=7) == generate_prompts(seed=7)


def test_another_seed_draws_other_scenes():
    assert generate_scenes(seed=0) != generate_scenes(seed=1)
    assert generate_prompts(seed=0) != generate_prompts(seed=1)


def _pixel(image, x, y):
    return np.asarray(image)[y, x].astype(int)


def test_each_shape_is_drawn_in_its_colour_where_the_ground_truth_says():
    for scene in generate_scenes(seed=3):
        image = render_scene(scene)
        assert image.size == (scene.size, scene.size) and image.mode == "RGB"
        for shape in scene.shapes:
            assert np.abs(_pixel(image, shape.x, shape.y) - COLORS[shape.color]).max() <= 8, (scene.id, shape)
        if scene.kind == "word":  # dark letters in the middle, nothing else
            pixels = np.asarray(image)
            assert pixels.min() < 60 and (pixels.reshape(-1, 3).max(axis=1) < 100).mean() > 0.01


def test_count_scenes_do_not_overlap_and_stay_inside():
    for scene in generate_scenes(seed=5, n_count=20):
        if scene.kind != "count":
            continue
        assert len({(s.shape, s.color) for s in scene.shapes}) == 1
        for i, a in enumerate(scene.shapes):
            assert a.r <= a.x <= scene.size - a.r and a.r <= a.y <= scene.size - a.r
            assert all(np.hypot(a.x - b.x, a.y - b.y) > 2.2 * a.r for b in scene.shapes[i + 1 :])


def test_position_answers_match_the_geometry():
    for scene in generate_scenes(seed=11, n_pair=16):
        if scene.kind != "pair":
            continue
        a, b = scene.shapes
        truth = {"left": a.x < b.x - a.r, "right": a.x > b.x + a.r, "above": a.y < b.y - a.r, "below": a.y > b.y + a.r}
        assert truth[scene.relation], scene
        qa = questions(scene, random.Random(0))
        assert qa[0]["answers"] == [scene.relation] and qa[0]["ability"] == "position"
        stated = next(r for r, (phrase, _) in RELATIONS.items() if f" {phrase} " in qa[1]["question"])
        assert qa[1]["answers"] == ["yes" if truth[stated] else "no"]


def test_count_questions_and_captions_say_the_true_count():
    scene = next(s for s in generate_scenes(seed=0) if s.kind == "count" and len(s.shapes) == 3)
    qa = {q["ability"]: q for q in questions(scene, random.Random(0))}
    assert qa["count"]["answers"] == ["3"]
    assert all(caption.startswith(("three", "a picture of three", "a drawing of three")) for caption in describe(scene))


def test_captions_name_exactly_one_image():
    probes = load_probes()
    _, texts = probes.retrieval
    assert len({t["text"] for t in texts}) == len(texts)


def test_the_bundled_file_is_what_the_generator_makes_from_its_seed():
    probes = load_probes(1)
    rebuilt = build_probes(probes.seed, photos_of(probes), probes.version)
    assert rebuilt.to_dict() == probes.to_dict()
    on_disk = json.loads(probe_path(1).read_text(encoding="utf-8"))
    assert on_disk == probes.to_dict()


def test_the_bundled_images_have_the_recorded_pixels():
    # A different Pillow or FreeType could draw the words differently: then the probe
    # set needs a new version, since scores on v1 would no longer be comparable.
    assert load_probes().verify() == []


def test_the_probe_set_covers_every_ability_and_source():
    probes = load_probes()
    assert {q["ability"] for q in probes.vqa} == set(ABILITIES)
    assert {probes.source(i) for i in probes.images} == {"synthetic", "photo"}
    assert all(len(item["references"]) >= 3 for item in probes.captions)
    assert all(q["answers"] and all(a.strip() for a in q["answers"]) for q in probes.vqa)
    assert {q["ability"] for p in probes.text_to_image for q in p["questions"]} >= {"count", "color", "position"}


def test_a_missing_or_broken_probe_file_is_refused_with_a_message(tmp_path):
    with pytest.raises(ValueError, match="No probe set"):
        load_probes(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text('{"version": 1}')
    with pytest.raises(ValueError, match="not a valid probe set"):
        load_probes(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="Unknown probe image"):
        load_probes().image("scene-999")
