"""The Lessons tab in the app (tiny profile, in this process): Try it finds every other
tab's endpoints, buttons, inputs and the accordions around them; every built-in step's
Try it reaches a result, with the inputs the page would send; a teacher's lesson with
mistakes is refused when the app starts with the list of problems; a step whose tab is
hidden, whose model isn't allowed or whose setting is locked says so."""

import pytest
from gradio_client import Client, handle_file

import ui
from lessons.files import LessonError
from tests.conftest import free_port
from ui import build_demo, launch_kwargs
from ui.actions import collect
from ui.tabs import lessons as tab


@pytest.fixture(scope="module")
def app(models):
    demo = build_demo("tiny")
    demo.queue(max_size=16, default_concurrency_limit=1, api_open=False)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo))
    try:
        yield demo, Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def plans(demo) -> list[tuple[str, int, "tab.Plan"]]:
    ctx = ui.context_of(demo)
    actions = collect(demo)
    return [
        (lesson.id, number, tab.plan(step, actions, ctx.classroom, list(ctx.endpoints), ctx.endpoints))
        for lesson in ctx.lessons
        for number, step in enumerate(lesson.steps, 1)
        if step.try_it
    ]


def markdown_on_page(demo) -> str:
    import gradio as gr

    return "\n".join(str(b.value) for b in demo.blocks.values() if isinstance(b, gr.Markdown))


def payload(plan) -> dict:
    """What the page sends when Try it presses the button: the step's values and every
    other input as it starts, files uploaded."""
    sent = {}
    for name, component in plan.action.inputs.items():
        if not tab._on_page(component):
            continue
        value = plan.values.get(name, component.value)
        if tab._takes_files(component) and value is not None:
            value = [handle_file(v) for v in value] if isinstance(value, list) else handle_file(value)
        sent[name] = value
    return sent


def test_try_it_reaches_every_tabs_endpoints_by_name(app):
    demo, _client = app
    actions = collect(demo)
    explain = actions["explain_caption"]
    assert explain.tab == "caption" and explain.element_id == "run-explain_caption"
    assert [tabs_id for _tabs, tabs_id in explain.tabs] == ["caption"] and len(explain.accordions) == 1
    assert list(explain.inputs)[:3] == ["image", "model", "prompt"]
    assert actions["train_fusion"].tab == "fusion" and not actions["train_fusion"].accordions
    assert {"similarity_matrix", "train_contrastive", "evaluate", "vqa", "text_to_image", "speak"} <= set(actions)
    assert "index_zip" not in actions  # started by an upload, not by a button


def test_the_built_in_steps_fit_this_app(app):
    demo, _client = app
    for lesson_id, number, plan in plans(demo):
        assert plan.action is not None and not plan.notices, (lesson_id, number, plan.notices)
    page = markdown_on_page(demo)
    assert "which this app doesn't have" not in page


def test_every_built_in_try_it_reaches_a_result(app):
    demo, client = app
    ran = 0
    for lesson_id, number, plan in plans(demo):
        if plan.action is None:
            continue
        result = client.predict(**payload(plan), api_name=f"/{plan.action.endpoint}")
        assert result is not None and result != [] and result != "", (lesson_id, number)
        ran += 1
        if plan.action.endpoint in ("train_fusion", "compare_fusion"):
            runs = result if isinstance(result, list) else [result]
            assert all(r["done"] and r["missing"]["all"] == r["metrics"]["test_accuracy"] for r in runs)
            if "audio" in plan.values.get("modalities", []):
                assert all(set(r["missing"]) >= {"image", "text", "audio"} for r in runs)
                assert all(r["config"]["audio_model"] == "tiny-whisper" for r in runs)
        if plan.action.endpoint == "compare_fusion":
            assert [r["strategy"] for r in result] == ["early", "late", "hybrid", "weighted"]
            assert set(result[-1]["weights"]) == {"image", "text", "audio"}
        if plan.action.endpoint == "train_contrastive":
            assert result["done"] and result["metrics"]["diagonal_share"] > result["start"]["diagonal_share"]
    assert ran == 24


def test_a_teachers_lesson_with_mistakes_is_refused_with_every_problem(tmp_path, models):
    (tmp_path / "bad.yaml").write_text(
        """
id: bad
title: Bad
steps:
  - {title: a, text: b, try: {tab: serch, run: search_by_text}}
  - {title: a, text: b, try: {tab: search, run: search_by_txt}}
  - {title: a, text: b, try: {tab: search, run: search_by_text, inputs: {qurey: cats}}}
  - {title: a, text: b, try: {tab: video, run: chat, optional: true}}
""",
        encoding="utf-8",
    )
    (tmp_path / "broken.yaml").write_text("id: broken\ntitle: {en: B}\nsteps: 3\n", encoding="utf-8")
    (tmp_path / "classroom.yaml").write_text("lessons: [bad.yaml, broken.yaml]\n", encoding="utf-8")
    with pytest.raises(LessonError) as caught:
        build_demo("tiny", str(tmp_path / "classroom.yaml"))
    problems = caught.value.problems
    assert problems[0] == "broken.yaml: steps: Input should be a valid list (got 3)"
    assert problems[1].startswith("bad.yaml: steps.1.try: unknown tab 'serch'; tabs = ['ask', 'caption'")
    assert problems[2].startswith(
        "bad.yaml: steps.2.try: the search tab has no endpoint 'search_by_txt'; its endpoints = ["
    )
    assert problems[3].startswith(
        "bad.yaml: steps.3.try: search_by_text has no parameter 'qurey'; its parameters = ['query', 'top_k', 'model']"
    )
    assert len(problems) == 4  # the optional step for a tab this app lacks is no mistake


def test_a_step_says_when_its_tab_is_hidden_its_model_not_allowed_or_its_setting_locked(tmp_path, models):
    (tmp_path / "mine.yaml").write_text(
        """
id: mine
title: Mine
steps:
  - {title: a, text: b, try: {tab: search, run: search_by_text, inputs: {query: cats, model: clip-b32}}}
  - {title: a, text: b, try: {tab: fusion, run: train_fusion, inputs: {strategy: hybrid, epochs: 100}}}
  - {title: a, text: b, try: {tab: caption, run: caption, files: {image: cat.jpg}}}
""",
        encoding="utf-8",
    )
    (tmp_path / "classroom.yaml").write_text(
        "tabs: [lessons, search, fusion]\nlessons: [mine.yaml]\nlocked: {epochs: {max: 20}}\n", encoding="utf-8"
    )
    demo = build_demo("tiny", str(tmp_path / "classroom.yaml"))
    mine = {number: plan for lesson_id, number, plan in plans(demo) if lesson_id == "mine"}
    assert mine[1].action is not None and "model clip-b32, which isn't offered here" in mine[1].notices[0]
    assert "model" not in mine[1].values and mine[1].values["query"] == "cats"
    assert mine[2].values == {"strategy": "hybrid"} and "locked epochs" in mine[2].notices[0]
    assert mine[3].action is None and "hidden the Caption tab" in mine[3].notices[0]
    attention = {number: plan for lesson_id, number, plan in plans(demo) if lesson_id == "attention"}
    assert all(p.action is None and "hidden" in p.notices[0] for p in attention.values())
    page = markdown_on_page(demo)
    assert "Your teacher has hidden the Caption tab" in page and "老师隐藏了图片描述标签页" in page
