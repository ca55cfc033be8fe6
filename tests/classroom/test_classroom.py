"""The classroom settings file: validated with messages that name the key and what is
allowed; locks, per-student limits and the prompt log as units; and the app built
from a file (tabs, pickers and sliders narrowed) without loading a model."""

import json
import os
import stat

import pytest

import ui
from classroom import rules as classroom
from classroom.records import PromptLog, StudentLimits
from classroom.rules import ClassroomError, Limits, Lock
from runtime import settings
from tests.conftest import ROOT

EXAMPLE = ROOT / "assets" / "classroom.example.yaml"


def write(tmp_path, text: str, name: str = "classroom.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_file_is_valid_and_says_what_the_readme_says():
    rules = classroom.load(EXAMPLE)
    assert rules.setting_locks() == {"safety_filter": "on"}
    assert rules.argument_locks()["num_inference_steps"].max == 4
    assert rules.models["text_to_image"].allowed == ["sd-turbo"]
    assert not rules.prompt_log.enabled and rules.prompt_log_path() is None  # off by default
    assert rules.password is None


def test_yaml_json_and_toml_say_the_same(tmp_path):
    yaml_text = "tabs: [caption, fusion]\nlocked:\n  width: {max: 512}\n  guidance_scale: 0\nlimits:\n  requests_per_minute: 5\n"
    data = {
        "tabs": ["caption", "fusion"],
        "locked": {"width": {"max": 512}, "guidance_scale": 0},
        "limits": {"requests_per_minute": 5},
    }
    toml_text = 'tabs = ["caption", "fusion"]\n[locked]\nwidth = {max = 512}\nguidance_scale = 0\n[limits]\nrequests_per_minute = 5\n'
    loaded = [
        classroom.load(write(tmp_path, yaml_text, "a.yaml")),
        classroom.load(write(tmp_path, json.dumps(data), "a.json")),
        classroom.load(write(tmp_path, toml_text, "a.toml")),
    ]
    assert loaded[0].model_dump() == loaded[1].model_dump() == loaded[2].model_dump()


BAD_FILES = [
    (
        "colour: red",
        "colour: unknown setting; allowed here: message, tabs, models, locked, limits, password, prompt_log",
    ),
    (
        "limits: {requests_per_minut: 3}",
        "limits.requests_per_minut: unknown setting; allowed here: requests_per_minute",
    ),
    ("locked: {width: {maxx: 512}}", "locked.width.maxx: unknown setting; allowed here: value, min, max, allowed"),
    (
        "models: {caption: {defalt: blip-base}}",
        "models.caption.defalt: unknown setting; allowed here: default, allowed",
    ),
    ("prompt_log: {enabled: true, path: x}", "prompt_log.path: unknown setting; allowed here: enabled, file"),
    ("limits: {images_per_hour: -1}", r"limits.images_per_hour: Input should be greater than 0 \(got -1\)"),
    ("limits: {requests_per_minute: lots}", "limits.requests_per_minute: Input should be a valid integer"),
    ("locked: {width: {min: 1024, max: 512}}", r"locked.width: min \(1024\) is larger than max \(512\)"),
    ("locked: {width: {}}", "locked.width: give exactly one of: a value, a range"),
    ("locked: {width: {value: 512, max: 512}}", "locked.width: give exactly one of"),
    ("locked: {seed: [1, 2]}", r"locked.seed: a list of values is written as \{allowed: \[...\]\}"),
    ("locked: {safety_filter: maybe}", r"locked: safety_filter is locked to one of \['on', 'off'\]"),
    ("locked: {model: blip-base}", "locked: checkpoints are chosen in the `models` section"),
    ("models: {captions: {default: blip-base}}", "models.captions: Input should be 'caption', 'vqa'"),
    (
        "models: {caption: {default: blip-huge}}",
        r"models: caption: unknown checkpoint 'blip-huge'; available for caption = \[",
    ),
    ("models: {caption: {default: blip-base, allowed: [blip-large]}}", "default 'blip-base' is not in allowed"),
    ("models: {vqa: {allowed: []}}", "models.vqa.allowed: List should have at least 1 item"),
    ("tabs: []", "tabs: List should have at least 1 item"),
    ("tabs: caption", "tabs: Input should be a valid list"),
    ("password: ''", "password: String should have at least 1 character"),
    ("- caption\n- ask", "must hold settings \\(key: value\\), not a list"),
    ("", "is empty"),
    ("locked: {width: 512\n  height: 3", "is not valid YAML at line 2"),
    ("limits: " + "[" * 50_000 + "]" * 50_000, "is nested far too deeply to be a classroom file"),
    ("message: '<div style=\"position:fixed;inset:0\">Log in again</div>'", "message: HTML '<div style="),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES, ids=[m[:40] for _, m in BAD_FILES])
def test_bad_files_are_refused_with_a_message_naming_the_key(tmp_path, text, message):
    with pytest.raises(ClassroomError, match=message):
        classroom.load(write(tmp_path, text))


def test_every_problem_is_listed_at_once(tmp_path):
    with pytest.raises(ClassroomError) as caught:
        classroom.load(write(tmp_path, "colour: red\nlimits: {requests_per_minute: 0}\nlocked: {width: {max: big}}"))
    lines = str(caught.value).splitlines()
    assert lines[0] == "classroom.yaml is not a valid classroom file:"
    assert len(lines) == 4 and all(line.startswith("  - ") for line in lines[1:])


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(ClassroomError, match="does not exist"):
        classroom.load(tmp_path / "missing.yaml")
    with pytest.raises(ClassroomError, match="must be YAML, JSON or TOML"):
        classroom.load(write(tmp_path, "tabs = []", "classroom.ini"))
    with pytest.raises(ClassroomError, match="not valid JSON at line 1"):
        classroom.load(write(tmp_path, "{tabs: 1}", "classroom.json"))
    with pytest.raises(ClassroomError, match="not valid TOML"):
        classroom.load(write(tmp_path, "tabs = [", "classroom.toml"))


def test_yaml_on_and_off_mean_the_safety_filter_setting(tmp_path):
    for text, value in (("on", "on"), ("off", "off"), ("'ON'", "on"), ("true", "on")):
        assert classroom.load(write(tmp_path, f"locked: {{safety_filter: {text}}}")).setting_locks() == {
            "safety_filter": value
        }


def test_a_relative_prompt_log_lies_in_the_data_dir_not_beside_the_settings_file(tmp_path):
    rules = classroom.load(write(tmp_path, "prompt_log: {enabled: true, file: logs/prompts.jsonl}"))
    assert rules.prompt_log_path() == settings.DATA_DIR / "classroom" / "logs" / "prompts.jsonl"
    assert classroom.load(write(tmp_path, "prompt_log: true")).prompt_log_path() == (
        settings.DATA_DIR / "classroom" / "prompts.jsonl"
    )


def test_the_password_can_come_from_the_environment(tmp_path, monkeypatch):
    rules = classroom.load(write(tmp_path, "password: in-the-file"))
    assert rules.the_password() == "in-the-file"
    monkeypatch.setattr(settings, "CLASSROOM_PASSWORD", "from-the-environment")
    assert rules.the_password() == "from-the-environment"


LOCK_CASES = [
    (Lock(value=0), 0.0, None),
    (Lock(value=0), 7.5, r"locked `x` \(= 0\); got 7.5"),
    (Lock(value=True), 1, "got 1"),  # a checkbox's True is not the number 1
    (Lock(max=4), 4, None),
    (Lock(max=4), 5, r"locked `x` \(at most 4\); got 5"),
    (Lock(min=2, max=4), 1, r"\(2 to 4\); got 1"),
    (Lock(max=4), "4", "must be a number"),
    (Lock(max=4), None, "give a value for it"),
    (Lock(allowed=["adam", "sgd"]), "sgd", None),
    (Lock(allowed=["adam"]), "sgd", r"\(one of adam\); got 'sgd'"),
]


@pytest.mark.parametrize(("lock", "value", "message"), LOCK_CASES)
def test_a_lock_accepts_what_it_allows_and_says_what_that_is(lock, value, message):
    if message is None:
        lock.check("x", value)
    else:
        with pytest.raises(ValueError, match=message):
            lock.check("x", value)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_requests_per_minute_are_counted_per_student_in_a_sliding_window():
    clock = Clock()
    limits = StudentLimits(Limits(requests_per_minute=2), clock)
    limits.check("ana")
    limits.check("ana")
    with pytest.raises(ValueError, match="2 requests in the last minute.*try again in 60 s"):
        limits.check("ana")
    limits.check("ben")  # another student is not affected
    clock.now += 30
    with pytest.raises(ValueError, match="try again in 30 s"):
        limits.check("ana")
    clock.now += 31
    limits.check("ana")


def test_images_per_hour_count_the_images_asked_for():
    clock = Clock()
    limits = StudentLimits(Limits(images_per_hour=5), clock)
    limits.check("ana", images=4)
    with pytest.raises(ValueError, match="allows 5 images per hour; you have made 4 and asked for 2 more"):
        limits.check("ana", images=2)
    limits.check("ana", images=1)
    limits.check("ana")  # requests that make no image are not counted
    clock.now += 3601
    limits.check("ana", images=5)


def test_the_prompt_log_appends_json_lines_only_its_owner_can_read(tmp_path):
    log = PromptLog(tmp_path / "logs" / "prompts.jsonl")
    log.write({"student": "ana", "prompt": "一只猫"})
    log.write({"student": "ben", "prompt": "a dog"})
    lines = (tmp_path / "logs" / "prompts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["prompt"] for line in lines] == ["一只猫", "a dog"]
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "logs" / "prompts.jsonl").stat().st_mode) == 0o600


# --- The app built from a classroom file, in this process (no model is loaded) ---------


@pytest.fixture
def build(models):
    """build_demo(profile, file); the model cache is configured back to tiny afterwards."""
    from ui import build_demo

    yield build_demo
    models.configure("tiny")


def components(demo, kind):
    return [block for block in demo.blocks.values() if type(block).__name__ == kind]


def test_the_example_narrows_the_app_under_the_cpu_profile_without_loading_a_model(build, models):
    before = len(models.loaded())
    demo = build("cpu", str(EXAMPLE))
    assert len(models.loaded()) == before
    pickers = {tuple(c[1] for c in d.choices) for d in components(demo, "Dropdown")}
    assert ("sd-turbo",) in pickers and ("blip-base",) in pickers
    sliders = {s.label.key: s for s in components(demo, "Slider") if hasattr(s.label, "key")}
    assert sliders["create.steps"].maximum == 4 and sliders["create.width"].maximum == 512
    assert sliders["create.num_images"].maximum == 2 and sliders["fusion.epochs"].maximum == 100
    # The lock puts the safety filter on for this app, without touching the settings or the environment.
    assert models.safety_filter == "on" and ui.context_of(demo).classroom.setting("safety_filter", "off") == "on"


def test_hidden_tabs_have_no_endpoint_and_fixed_values_are_greyed_out(build, tmp_path):
    demo = build("tiny", str(write(tmp_path, "tabs: [create]\nlocked:\n  guidance_scale: 0\n  num_images: {max: 1}")))
    api = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert "text_to_image" in api and not api & {"caption", "vqa", "search_by_text", "train_fusion"}
    guidance = next(s for s in components(demo, "Slider") if getattr(s.label, "key", "") == "create.guidance")
    assert guidance.value == 0 and guidance.interactive is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tabs: [caption, fusionn]", r"tabs: unknown tab 'fusionn'; available tabs = \['caption', 'ask'"),
        ("locked: {num_inference_step: {max: 4}}", "locked.num_inference_step: no tab has a parameter of this name"),
        ("locked: {width: big}", "locked.width: this control takes a number, not 'big'"),
        ("locked: {width: {min: 2000}}", "locked.width: the range at least 2000 leaves no value"),
        ("locked: {image: 3}", "locked.image: ImageInput can't be locked to one value"),
        ("models: {text_to_image: {allowed: [sd-turbo]}}", "none of \\['sd-turbo'\\] is offered under the 'tiny'"),
    ],
)
def test_a_file_that_does_not_fit_the_app_is_refused(build, tmp_path, text, message):
    with pytest.raises(ClassroomError, match=message):
        build("tiny", str(write(tmp_path, text)))


def test_a_lock_on_a_hidden_tab_is_fine(build, tmp_path):
    build("tiny", str(write(tmp_path, "tabs: [caption]\nlocked: {num_inference_steps: {max: 2}}")))


def test_a_lock_is_built_into_its_control(tmp_path):
    # Issue 34: the lock goes to the control's constructor; nothing is changed on it afterwards.
    import gradio as gr

    from classroom.policy import ClassroomPolicy

    text = "locked: {temperature: {min: 0.5, max: 0.8}, optimizer: {allowed: [sgd]}, top_p: {min: 0.9, max: 0.9}}"
    policy = ClassroomPolicy(classroom.load(write(tmp_path, text)), "tiny")
    with gr.Blocks():
        temperature = policy.control("temperature", gr.Slider, 0, 2, 1.5, step=0.05)
        optimizer = policy.control("optimizer", gr.Radio, [("Adam", "adam"), ("SGD", "sgd")], value="adam")
        top_p = policy.control("top_p", gr.Slider, 0, 1, 0.5, step=0.05)
        top_k = policy.control("top_k", gr.Slider, 1, 50, 5, step=1)  # no lock: as asked
    assert (temperature.minimum, temperature.maximum, temperature.value) == (0.5, 0.8, 0.8)
    assert optimizer.choices == [("SGD", "sgd")] and optimizer.value == "sgd"
    assert (top_p.value, top_p.interactive) == (0.9, False)  # one value left: fixed (a slider needs a range)
    assert (top_k.minimum, top_k.maximum, top_k.value) == (1, 50, 5)
    policy.check_controls()


def test_a_control_built_without_its_lock_is_reported(tmp_path):
    # A tab that builds a locked parameter's control itself (gr.Slider, not
    # ClassroomPolicy.control) would show students a rule the server doesn't keep: the
    # app refuses to start, naming it.
    import gradio as gr

    from classroom.policy import ClassroomPolicy

    policy = ClassroomPolicy(classroom.load(write(tmp_path, "locked: {temperature: {max: 0.8}, seed: 7}")), "tiny")

    def chat(temperature: float, seed: int):
        return ""

    with gr.Blocks():
        temperature = gr.Slider(0, 2, 1.0, step=0.05)
        seed = policy.control("seed", gr.Number, -1, precision=0)
        policy.declare(chat, [temperature, seed])
    with pytest.raises(ClassroomError, match="locked.temperature: chat's Slider was built without its lock") as error:
        policy.check_controls()
    assert "locked.seed" not in str(error.value)
    assert temperature.maximum == 2 and (seed.value, seed.interactive) == (7, False)


def test_a_chat_model_picked_in_caption_or_ask_is_screened_like_chat(tmp_path):
    # Issue 36 (9): Caption and Ask offer the chat models, whose text reaches a model with no
    # filter of its own; the classroom's rule for Chat's text applies to them too.
    import gradio as gr

    from classroom.policy import ClassroomPolicy

    policy = ClassroomPolicy(classroom.load(write(tmp_path, "locked: {safety_filter: on}")), "tiny")

    def caption(image=None, model=None, prompt=None):
        return "a caption"

    def vqa(image=None, question=None, model=None):
        return "an answer"

    blocked = "a naked woman"
    with pytest.raises(gr.Error, match="safety filter"):
        policy.check_call(caption, (None, "tiny-smolvlm", blocked), {}, ["prompt"])
    with pytest.raises(gr.Error, match="safety filter"):
        policy.check_call(vqa, (None, blocked), {"model": "tiny-gemma3"}, ["question"])
    policy.check_call(caption, (None, "tiny-blip", blocked), {}, ["prompt"])  # BLIP: not a chat model
