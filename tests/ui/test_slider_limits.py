"""Every slider and number box of every tab shows the range the server checks (issue 34):
its ends are the limits its pipeline (or lab, search index or explain view) declares and
checks, so the page never refuses a value the pipeline takes (the Caption tab's
temperature slider started at 0.1, the pipeline at 0.05: both start at 0.1 now, as the page's
input guard held API clients to) nor offers one it refuses."""

import gradio as gr
import pytest

from explain import clip as explain_clip
from explain.explanation import TOP_K as RANKED_ANSWERS
from labs import contrastive, fusion
from pipelines import limits
from runtime.inputs import Range
from search.classify import EXAMPLES
from search.index import SHOWN as HITS

SEARCH = {"top_k": HITS, "text_weight": limits.RETRIEVAL["text_weight"]}


def checked() -> dict[str, dict[str, Range]]:
    """Endpoint -> parameter -> the range the server checks it against."""
    from ui.tabs.contrastive import CONCEPTS
    from ui.tabs.evaluate import ITEMS

    return {
        "caption": limits.CAPTION,
        "explain_caption": limits.CAPTION,
        "explain_vqa": {"top_k": RANKED_ANSWERS},
        "chat": limits.CHAT,
        "text_to_image": limits.TEXT_TO_IMAGE,
        "explain_text_to_image": limits.TEXT_TO_IMAGE,
        "search_by_text": SEARCH,
        "search_by_image": SEARCH,
        "search": SEARCH,
        "more_like_this": SEARCH,
        "embedding_map": {"top_k": HITS},  # the Search tab's own control
        "classify_collection": {"examples": EXAMPLES},
        "rescale_matrix": {"temperature": explain_clip.TEMPERATURE},
        "speak": limits.TEXT_TO_SPEECH,
        "train_fusion": fusion.LIMITS,
        "compare_fusion": fusion.LIMITS,
        "train_contrastive": {**contrastive.LIMITS, "batch_size": contrastive.batch_sizes(CONCEPTS)},
        "evaluate": {"limit": ITEMS},
    }


# Controls whose maximum is set from the result they show (the layers of an explanation, the
# tokens of an answer) and checked against that result, not a declared range.
FOLLOW_THE_RESULT = {("explain_caption", "layer"), ("explain_vqa", "layer"), ("where_maps", "token")}
# The seed boxes: whole numbers, whose range the seed check says in its own words ("-1 draws
# one", "between 0 and 4294967295"); each is ui.components.seed_input (below).
SEEDS = "seed"


@pytest.fixture(scope="module")
def controls(models):
    """(endpoint, parameter, component) for every slider and number box an event reads."""
    from ui import build_demo

    demo = build_demo("tiny")
    found = []
    for block_fn in demo.fns.values():
        names = list(block_fn.input_parameter_names or [])
        for name, component in zip(names, block_fn.inputs, strict=False):
            if isinstance(component, (gr.Slider, gr.Number)):
                found.append((block_fn.api_name, name, component))
    return found


def test_every_control_shows_the_range_the_server_checks(controls):
    expected = checked()
    wrong, covered = [], set()
    for endpoint, name, component in controls:
        limit = expected.get(endpoint, {}).get(name)
        if limit is None or name == SEEDS:
            continue
        covered.add(id(component))
        if (component.minimum, component.maximum) != limit.ends:
            wrong.append(
                f"{endpoint}.{name}: the control shows {component.minimum}-{component.maximum}, "
                f"the server checks {limit.low}-{limit.high}"
            )
    assert not wrong, "\n".join(wrong)
    # The table names real endpoints (a renamed one would pass unchecked) ...
    assert set(expected) <= {endpoint for endpoint, _, _ in controls}
    # ... and every control is in it: a new slider needs its pipeline's declared range.
    covered |= {id(c) for endpoint, name, c in controls if (endpoint, name) in FOLLOW_THE_RESULT or name == SEEDS}
    unchecked = {(endpoint, name) for endpoint, name, component in controls if id(component) not in covered}
    assert not unchecked, f"Controls with no declared range: {sorted(unchecked)}"


def test_a_caption_temperature_the_pipeline_takes_is_offered(controls):
    temperature = next(c for e, n, c in controls if (e, n) == ("caption", "temperature"))
    assert temperature.minimum == 0.1
    limits.check_caption_options(30, 3, temperature.minimum, 0.9)
    with pytest.raises(ValueError, match="between 0.1 and 2.0"):
        limits.check_caption_options(30, 3, 0.09, 0.9)


def test_every_seed_box_is_the_one_seed_control(controls):
    """Every tab's seed box comes from ui.components.seed_input: a whole number; a model's
    seed has no bound on the box (-1 draws one, and runtime.inputs.check_seed refuses any
    other outside 0-4294967295 in those words), a lab's starts at its declared seed range."""
    from runtime.inputs import MAX_SEED

    labs = {"train_fusion": fusion.LIMITS["seed"], "compare_fusion": fusion.LIMITS["seed"]}
    labs["train_contrastive"] = contrastive.LIMITS["seed"]
    models = {"caption", "explain_caption", "chat", "text_to_image", "explain_text_to_image"}
    seeds = {endpoint: box for endpoint, name, box in controls if name == SEEDS and endpoint in models | set(labs)}
    assert set(seeds) == models | set(labs)
    # ... and no other seed box: Show the code reads the same ones.
    assert {id(box) for _, name, box in controls if name == SEEDS} == {id(box) for box in seeds.values()}
    for endpoint, box in seeds.items():
        lowest = labs[endpoint].low if endpoint in labs else None
        assert (box.precision, box.minimum, box.maximum) == (0, lowest, None), endpoint
    assert all(limit.ends == (0, MAX_SEED) for limit in labs.values())  # what check_seed takes too
    # A model's seed box offers -1 ("draw one") as its default.
    assert {seeds[endpoint].value for endpoint in models} == {-1}
