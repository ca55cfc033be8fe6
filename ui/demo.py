"""The whole page: ``build_demo`` makes the app's objects (``ui.context.Context``) and
builds each tab of ``ui/tabs/`` with them (each declares its events through ui/chain.py:
the page's language, the classroom's rules, errors as messages), and guards every
event's inputs and outputs; ``launch_kwargs`` is how it is served."""

from __future__ import annotations

import html
import logging
import weakref
from dataclasses import dataclass, replace

import gradio as gr
from starlette.middleware import Middleware

from classroom.policy import ClassroomPolicy
from classroom.rules import Classroom, ClassroomError
from classroom.rules import load as load_classroom
from labs.fusion import FusionLab
from pipelines.cache import MODELS
from runtime import registry, settings
from runtime.devices import cuda_available
from search.collections import Collections
from ui.actions import parameters
from ui.components import language_switch, presenter_switch
from ui.context import Context
from ui.i18n import I18N, _, t
from ui.server.events import EventGuard, guard_inputs
from ui.server.language import PAGE, LanguageScript
from ui.server.mcp import fix_state_outputs
from ui.server.queue import QueueShare
from ui.server.security import app_roots, login_kwargs, middleware, parse_auth, serves
from ui.tabs import ask, caption, chat, contrastive, create, evaluate, fusion, lessons, listen, models, search

log = logging.getLogger("playground")
# Lessons last: its Try it buttons reach the endpoints of the tabs built before it.
TABS = (caption, ask, chat, create, search, listen, fusion, contrastive, evaluate, lessons)

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="sky")


def build_demo(profile: str | None = None, classroom_file: str | None = None) -> gr.Blocks:
    """The whole app for ``profile`` (MODEL_PROFILE when None), in classroom mode when
    ``classroom_file`` (CLASSROOM_FILE when None) names a teacher's settings file. Builds
    widgets only: no model is loaded until a tab is used. A bad classroom file raises
    ClassroomError saying what to fix, and bad lesson files LessonError, listing every problem.

    The app's objects are made here and handed to the tabs (``ui.context.Context``);
    ``launch_kwargs(demo)`` reads the classroom's login and private files from it."""
    rules = _classroom_rules(settings.CLASSROOM_FILE if classroom_file is None else classroom_file)
    policy = ClassroomPolicy(rules, profile)
    MODELS.configure(profile, safety_filter=policy.setting("safety_filter", settings.SAFETY_FILTER))
    lesson_list, lesson_problems = lessons.read_lessons(rules)
    ctx = Context(profile, policy, Collections(), FusionLab(settings.DATA_DIR / "fusion"), tuple(lesson_list))
    ctx = replace(
        ctx, endpoints={_tab_id(tab): {fn.__name__: parameters(fn) for fn in _handlers(ctx, [tab])} for tab in TABS}
    )
    policy.check_against([_tab_id(tab) for tab in TABS], _handlers(ctx))
    lessons.check_lessons(ctx.lessons, lesson_problems, ctx.endpoints)  # LessonError lists every problem
    concrete = registry.resolve_profile(profile)
    # Gradio's copies of uploads and results are deleted once SESSION_TTL old (checked every SESSION_TTL / 6 s).
    delete_cache = (max(settings.SESSION_TTL // 6, 1), settings.SESSION_TTL) if settings.SESSION_TTL > 0 else None
    with gr.Blocks(title="Multimodal Playground", delete_cache=delete_cache) as demo:
        with gr.Row(elem_id="page-switches"):
            presenter_switch(demo)
            language_switch(demo)
        gr.Markdown(_("app.intro"))
        with gr.Accordion(_("app.guide_title"), open=True, elem_id="guide"):  # a first visit's map of the page
            gr.Markdown(_("app.guide"), elem_classes="guide")
        gr.Markdown(
            _profile_line(concrete, profile or settings.MODEL_PROFILE),
            elem_classes="model-status",
        )
        if concrete == "tiny":
            gr.Markdown(_("banner.tiny"), elem_classes="banner-tiny")
        _classroom_banner(policy)
        # On a phone the tab bar wraps onto a second row: every tab stays in sight, none
        # hides behind Gradio's "…" menu.
        with gr.Tabs(overflow_behavior="wrap"):
            for tab in TABS:
                if policy.shows(_tab_id(tab)):
                    tab.build(demo, ctx)
        if policy.shows("models"):  # a classroom that lists its tabs hides it
            models.build(demo, ctx)
        policy.check_controls()  # a lock that could not fit its control stops the app, saying which
    if MODELS.safety_filter != "on":
        log.warning(
            "SAFETY_FILTER=off: generated images are not checked. Use this only for research, never with children."
        )
    share = QueueShare()  # every queue made for demo: a share per client, no job for a client gone
    share.install(demo)
    BUILT[demo] = Built(ctx, share)
    return guard_inputs(demo)


@dataclass(frozen=True)
class Built:
    """What ``build_demo`` made beside the page: the app's objects and the queue's share."""

    ctx: Context
    queue_share: QueueShare


# Each page ``build_demo`` made -> what it made beside it, for ``launch_kwargs`` and tests
# (``context_of``): kept here, not as attributes set on Gradio's Blocks.
BUILT: weakref.WeakKeyDictionary[gr.Blocks, Built] = weakref.WeakKeyDictionary()


def context_of(demo: gr.Blocks) -> Context:
    """The app's objects (``ui.context.Context``) of a page ``build_demo`` made."""
    return BUILT[demo].ctx


def _profile_line(concrete: str, asked: str) -> str:
    """Which models and device, in words, in both languages (CSS shows the page's one)."""
    device = "cuda" if cuda_available() else "cpu"
    return "".join(
        f'<span class="i18n-{lang}">'
        + html.escape(
            t("app.profile_line", locale).format(
                profile=t(f"app.profile_{concrete}", locale),
                device=t(f"app.device_{device}", locale),
                chosen=t("app.profile_auto", locale) if asked.strip().lower() == "auto" else "",
            ),
            quote=False,
        )
        + "</span>"
        for lang, locale in (("en", "en"), ("zh", "zh-CN"))
    )


def _classroom_banner(policy: ClassroomPolicy) -> None:
    """What students are told: that a teacher set the app up, the teacher's message, and
    whether their text is logged."""
    if not policy.active:
        return
    gr.Markdown(_("classroom.banner"), elem_classes="banner-classroom")
    if policy.rules.message:
        gr.Markdown(policy.rules.message, elem_classes="banner-classroom")
    if policy.log is not None:
        gr.Markdown(_("classroom.prompt_log"), elem_classes="banner-classroom")


def _handlers(ctx: Context, tabs=TABS) -> list:
    """Every public handler of every tab (of ``tabs``), shown or not, as each tab lists them
    (``ENDPOINTS``): a method among them is the one of the object the tab's ``endpoints(ctx)``
    makes over the app's objects."""
    found = []
    for tab in tabs:
        api = tab.endpoints(ctx) if hasattr(tab, "endpoints") else None
        found += [getattr(api, fn.__name__) if "." in fn.__qualname__ else fn for fn in getattr(tab, "ENDPOINTS", ())]
    return found


def _tab_id(tab) -> str:
    return tab.__name__.rsplit(".", 1)[-1]


def _classroom_rules(path: str) -> Classroom | None:
    """The classroom file at ``path`` ("" for none), read, validated and refused if it or
    its prompt log lies where the app serves files from."""
    rules = load_classroom(path) if path else None
    if rules is not None:
        # The settings file holds the password and the log the students' text: neither
        # may lie where the app serves files from.
        served = [
            (what, p)
            for what, p in (("the classroom file", rules.source), ("prompt_log.file", rules.prompt_log_path()))
            if p is not None and serves(p)
        ]
        if served:
            raise ClassroomError(
                f"{rules.source.name if rules.source else 'The classroom file'} can't be used where it is:\n"
                + "\n".join(
                    f"  - {what}: {p} lies in a folder this app serves to every visitor; keep it "
                    "elsewhere (e.g. beside app.py, or in the data dir)"
                    for what, p in served
                )
            )
    return rules


def launch_kwargs(demo: gr.Blocks) -> dict:
    """Options for ``demo.launch`` (``demo`` from ``build_demo``), shared by app.py and the tests."""
    built = BUILT[demo]
    classroom = built.ctx.classroom
    if settings.MCP_SERVER:
        fix_state_outputs()
    return dict(
        theme=THEME,
        css_paths=[PAGE / "page.css"],
        # Where notices sit (ui/page/notices.css): outside the app's container, where page.css doesn't reach.
        head=f"<style>{(PAGE / 'notices.css').read_text(encoding='utf-8')}</style>",
        i18n=I18N,
        max_file_size=settings.MAX_FILE_SIZE,
        # Session state is bounded: the visitor unused longest is forgotten first (SESSION_CAPACITY).
        state_session_capacity=settings.SESSION_CAPACITY,
        mcp_server=settings.MCP_SERVER,
        enable_monitoring=settings.MONITORING,  # None (Gradio's default) would serve it to anyone
        # Serve the bundled examples, the gallery and the files handlers return (ui/server/outputs.py);
        # nothing else on disk, and never the classroom's settings or log (ui/server/security.py).
        allowed_paths=[str(root) for root in app_roots()],
        blocked_paths=[str(path) for path in classroom.private_files()],
        # The file-serving policy, body and rate limits (ui/server/security.py) come first; then
        # the page is rendered in the language chosen with the switch (see ui/server/language.py).
        app_kwargs={
            "middleware": [
                *middleware(built.queue_share.listeners),
                Middleware(
                    EventGuard
                ),  # every event's inputs checked before Gradio reads them; its results said safely
                Middleware(LanguageScript),
            ]
        },
        # PLAYGROUND_AUTH's users and, in classroom mode, the class password.
        **login_kwargs(parse_auth(settings.PLAYGROUND_AUTH), classroom.launch_kwargs()),
    )
