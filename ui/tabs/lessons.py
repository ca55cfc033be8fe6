"""Lessons tab: short guided walkthroughs a teacher can run. Each lesson (lessons/files.py:
the built-in ones and the classroom's own) is a few steps; each step explains one idea,
with a formula where it helps, and its **Try it** button switches to the right tab,
fills in that tab's inputs and presses its button, so the student sees the live model
do what the step describes.

Try it reaches the other tabs through their named endpoints (ui/actions.py): the
inputs by the handler's parameter names, the button by its id. The endpoint then runs
exactly as if the student had clicked it, with the classroom's rules, the queue and the
tab's own follow-ups. This tab is built after the tabs it runs (last in ui/demo.py's
TABS). A step whose tab the app doesn't have, or the teacher hid, or whose model or
setting the teacher doesn't allow, says so instead.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field

import gradio as gr

from classroom.policy import ClassroomPolicy
from classroom.rules import Classroom
from lessons import files
from lessons.files import Lesson, LessonError, Step, TryIt, shown_name
from ui import panels
from ui.actions import Action, collect
from ui.components import page_locale
from ui.context import Context
from ui.i18n import EN, ZH, _
from ui.server.events import check_input
from ui.server.language import page_language

log = logging.getLogger("playground.lessons")
PRESS_SECONDS = 20  # how long Try it waits for the other tab's button to appear


# --- Reading and checking the lessons (when the app starts) -----------------------


def read_lessons(rules: Classroom | None) -> tuple[list[Lesson], list[str]]:
    """The built-in lessons and the classroom's, with the problems of their format."""
    return files.read([*files.builtin_paths(), *(rules.lesson_paths() if rules is not None else [])])


def check_lessons(lessons: list[Lesson], problems: list[str], endpoints: dict[str, dict[str, list[str]]]) -> None:
    """Raise LessonError with every problem (``problems`` of the format, and each step's
    tab, endpoint and parameters checked against ``endpoints``: tab id -> endpoint ->
    parameter names, every tab of the app, shown or not). A step marked ``optional`` may
    name a tab the app lacks; it says so on the page instead."""
    problems = list(problems)
    for lesson in lessons:
        for number, step in enumerate(lesson.steps, 1):
            if step.try_it is not None and not step.try_it.optional:
                where = f"{shown_name(lesson.source) if lesson.source else lesson.id}: steps.{number}.try"
                problems += [f"{where}: {problem}" for problem in _misfits(step.try_it, endpoints)]
    if problems:
        raise LessonError(problems)


def _misfits(tried: TryIt, endpoints: dict[str, dict[str, list[str]]]) -> list[str]:
    if tried.tab not in endpoints:
        return [f"unknown tab {tried.tab!r}; tabs = {sorted(endpoints)}"]
    if tried.run not in endpoints[tried.tab]:
        return [f"the {tried.tab} tab has no endpoint {tried.run!r}; its endpoints = {sorted(endpoints[tried.tab])}"]
    known = endpoints[tried.tab][tried.run]
    return [
        f"{tried.run} has no parameter {name!r}; its parameters = {known}"
        for name in [*tried.inputs, *tried.files]
        if name not in known
    ]


# --- What one step can do in this app ------------------------------------------------


@dataclass
class Plan:
    """What a step's Try it does here: run ``action`` with ``values``, or nothing (the
    ``notices`` say why); notices also say what it changes (a model the teacher doesn't allow)."""

    action: Action | None = None
    values: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # HTML, in both languages


def _tab_name(tab: str, table: dict[str, str]) -> str:
    return table.get(f"{tab}.tab", tab.replace("_", " ").title())


def _both(key: str, **values) -> str:
    """``key`` in the request's language (in both outside a request: the page shows one),
    with the tab's name in it; the values are escaped."""
    spans = []
    languages = (("en", EN), ("zh", ZH))
    if (locale := page_language()) is not None:  # a request: its language only
        languages = [("zh", ZH) if locale.startswith("zh") else ("en", EN)]
    for lang, table in languages:
        filled = {
            k: _tab_name(v[4:], table) if isinstance(v, str) and v.startswith("tab:") else v for k, v in values.items()
        }
        text = html.escape(table[key].format(**filled), quote=False)
        spans.append(f'<span class="i18n-{lang}">{text}</span>')
    return "".join(spans)


def plan(
    step: Step,
    actions: dict[str, Action],
    policy: ClassroomPolicy,
    tabs: list[str],
    endpoints: dict[str, dict[str, list[str]]],
) -> Plan:
    """What ``step``'s Try it can do in this app: ``actions`` are the endpoints on the page,
    ``tabs`` every tab of the app and ``endpoints`` their parameters, shown or not."""
    tried = step.try_it
    if tried is None:
        return Plan()
    if tried.tab not in tabs:  # only an optional step gets here (check_lessons refuses the others)
        return Plan(notices=[_both("lessons.missing_tab", tab=f"tab:{tried.tab}")])
    if not policy.shows(tried.tab):
        return Plan(notices=[_both("lessons.hidden_tab", tab=f"tab:{tried.tab}")])
    if misfits := _misfits(tried, endpoints):
        log.warning("lesson step for the %s tab doesn't fit it: %s", tried.tab, "; ".join(misfits))
        return Plan(notices=[_both("lessons.misfit", tab=f"tab:{tried.tab}", problem=misfits[0])])
    action = actions.get(tried.run)
    if action is None:
        raise LessonError(
            [
                f"the {tried.tab} tab's {tried.run} has no button a lesson can press: build the Lessons "
                "tab after it (last in ui/demo.py's TABS), and start the endpoint with a button"
            ]
        )
    result = Plan(action=action)
    locks = policy.rules.argument_locks() if policy.rules is not None else {}
    problems = []
    for name, value in tried.values().items():
        component = action.inputs[name]
        if name in locks:
            try:
                locks[name].check(name, value)
            except ValueError:
                result.notices.append(_both("lessons.locked", name=name, value=json.dumps(value, ensure_ascii=False)))
                continue
        if problem := _unfit(component, name, value, name in tried.files):
            if isinstance(component, gr.Dropdown) and name.endswith("model"):  # a checkpoint the picker doesn't offer
                result.notices.append(
                    _both("lessons.model_not_offered", model=str(value), default=str(component.value))
                )
                continue
            problems.append(problem)
            continue
        result.values[name] = value
    if problems:
        raise LessonError([f"steps with {tried.tab}/{tried.run}: {p}" for p in problems])
    return result


def _takes_files(component) -> bool:
    return isinstance(component, (gr.Image, gr.File, gr.Audio, gr.Video, gr.Gallery))


def _on_page(component) -> bool:
    """A control the student sees (not a State or a hidden value): what Try it may set."""
    return not isinstance(component, gr.State) and getattr(component, "visible", True) is True


def _unfit(component, name: str, value, is_file: bool) -> str | None:
    """Why ``value`` can't go into ``component`` (the parameter ``name``), or None."""
    if not _on_page(component):
        return f"{name} is not a control on the page; a lesson can't set it"
    if _takes_files(component) != is_file:
        return (
            f"{name} takes files: give it under files"
            if not is_file
            else f"{name} takes no files: give it under inputs"
        )
    if is_file:
        multiple = getattr(component, "file_count", "single") != "single" or isinstance(component, gr.Gallery)
        if isinstance(value, list) and not multiple:
            return f"{name} takes one file, not a list"
        return None
    try:
        check_input(component, value, name)
    except gr.Error as error:
        return error.message
    return None


# --- The tab ---------------------------------------------------------------------


def _markdown(lesson: Lesson, step: Step | None = None, number: int = 0) -> str:
    """A lesson's header, or one step, in both languages (CSS shows the page's)."""
    parts = []
    for lang, locale in (("en", "en"), ("zh", "zh-CN")):
        if step is None:
            body = f"## {lesson.title[locale]}" + (f"\n\n{lesson.summary[locale]}" if lesson.summary else "")
        else:
            body = f"#### {number}. {step.title[locale]}\n\n{step.text[locale].strip()}"
            if step.formula:
                body += f"\n\n$$\n{step.formula}\n$$"
        parts.append(f'<div class="i18n-{lang}">\n\n{body}\n\n</div>')
    return "\n".join(parts)


def _titles(lessons: list[Lesson], locale: str) -> list[tuple[str, str]]:
    language = "zh-CN" if (locale or "").lower().startswith("zh") else "en"
    return [(f"{number}. {lesson.title[language]}", lesson.id) for number, lesson in enumerate(lessons, 1)]


def _press(element_id: str) -> str:
    """JavaScript that presses the button with this id once it is on the page (a tab's
    content is drawn when the tab is first shown)."""
    return f"""() => {{
        const deadline = Date.now() + {PRESS_SECONDS * 1000};
        const press = () => {{
            const button = document.getElementById({json.dumps(element_id)});
            if (button && !button.disabled) {{
                button.scrollIntoView({{block: "center", behavior: "smooth"}});
                button.click();
            }} else if (Date.now() < deadline) {{
                setTimeout(press, 100);
            }}
        }};
        setTimeout(press, 100);
    }}"""


def _fill(action: Action, values: dict):
    """The Try it handler: select the tab, open the accordions, and set every input of the
    endpoint: the step's values, the others back to where they start (read when clicked,
    after the classroom fitted the controls to its locks)."""
    inputs = [(name, c) for name, c in action.inputs.items() if _on_page(c)]

    def fill():
        updates = [gr.Tabs(selected=tab_id) for _tabs, tab_id in action.tabs]
        updates += [gr.Accordion(open=True) for _accordion in action.accordions]
        updates += [values.get(name, component.value) for name, component in inputs]
        return updates

    outputs = [tabs for tabs, _id in action.tabs] + list(action.accordions) + [c for _name, c in inputs]
    return fill, outputs


def _describe(lessons: list[Lesson], plans: dict) -> list[dict]:
    """The lessons as data, with what each step's Try it runs here (for /lessons)."""
    described = []
    for lesson in lessons:
        steps = []
        for number, step in enumerate(lesson.steps, 1):
            entry = {"title": step.title, "text": step.text, "formula": step.formula}
            p = plans[lesson.id][number - 1]
            if step.try_it is not None:
                entry["try"] = {
                    "tab": step.try_it.tab,
                    "run": step.try_it.run,
                    "available": p.action is not None,
                    "inputs": {k: v for k, v in step.try_it.values().items() if k in step.try_it.inputs},
                    "files": dict(step.try_it.files),
                }
            steps.append(entry)
        described.append({"id": lesson.id, "title": lesson.title, "summary": lesson.summary, "steps": steps})
    return described


class Lessons:
    """The Lessons tab's handlers over this app's lessons: the chooser, and /lessons."""

    def __init__(self, shown: tuple[Lesson, ...], described: list[dict]):
        self.shown, self.described = shown, described

    def choose(self, lesson_id):
        return [gr.Column(visible=lesson.id == lesson_id) for lesson in self.shown]

    def lessons(self) -> list[dict]:
        """The lessons of the Lessons tab, as data: each lesson's id, title and summary, and its steps (title, text and formula in English and Chinese, and what the step's Try it runs: the tab, the endpoint, the inputs and files it sets, and whether it is available here).

        Returns:
            The list of lessons.
        """
        return self.described


def build(demo: gr.Blocks, ctx: Context) -> None:
    shown = ctx.lessons
    actions = collect(demo)  # every tab built so far: all of them, as this one is built last
    tabs = list(ctx.endpoints)
    plans = {
        lesson.id: [plan(step, actions, ctx.classroom, tabs, ctx.endpoints) for step in lesson.steps]
        for lesson in shown
    }

    with gr.Tab(_("lessons.tab"), id="lessons"):
        gr.Markdown(_("lessons.intro"))
        locale = page_locale(demo)
        chooser = gr.Radio(_titles(shown, "en"), value=shown[0].id if shown else None, label=_("lessons.choose"))
        columns = []
        for lesson in shown:
            with gr.Column(visible=lesson is shown[0]) as column:
                gr.Markdown(_markdown(lesson), latex_delimiters=panels.LATEX)
                for number, (step, step_plan) in enumerate(zip(lesson.steps, plans[lesson.id], strict=True), 1):
                    with gr.Column(variant="panel"):
                        gr.Markdown(_markdown(lesson, step, number), latex_delimiters=panels.LATEX)
                        if step_plan.notices:
                            gr.Markdown("\n\n".join(f"ℹ️ {n}" for n in step_plan.notices), elem_classes="lesson-notice")
                        if step_plan.action is not None:
                            with gr.Row():
                                button = gr.Button(
                                    _("lessons.try_it"),
                                    size="sm",
                                    variant="primary",
                                    scale=0,
                                    min_width=140,
                                    elem_id=f"lesson-{lesson.id}-{number}",
                                )
                            fill, outputs = _fill(step_plan.action, step_plan.values)
                            button.click(fill, None, outputs, api_visibility="private", queue=False).then(
                                None, None, None, js=_press(step_plan.action.element_id)
                            )
            columns.append(column)

        api = Lessons(shown, _describe(shown, plans))
        chooser.change(api.choose, chooser, columns, api_visibility="private", queue=False)
        relabel = dict(
            fn=lambda loc, chosen: gr.Radio(choices=_titles(shown, loc), value=chosen),
            inputs=[locale, chooser],
            outputs=chooser,
            api_visibility="private",
            queue=False,
        )
        locale.change(**relabel)

        gr.api(api.lessons, api_name="lessons")
