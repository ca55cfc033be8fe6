"""The Gradio UI: one module per tab, each with a ``build()`` that lays out the tab
and wires it to the pipelines. ``build_demo`` puts them together."""

from __future__ import annotations

import logging

import gradio as gr

from pipelines import registry, safety, settings
from pipelines.loading import MODELS, pick_device
from ui import ask, caption, create, evaluate, search
from ui.i18n import I18N, _
from ui.security import guard_inputs, middleware, parse_auth

log = logging.getLogger("playground")

CSS = """
.model-status { font-size: 0.85em; opacity: 0.8; }
.banner-tiny { border-left: 4px solid #f59e0b; padding: 0.4em 0.9em; background: rgba(245, 158, 11, 0.08); }
footer { visibility: visible; }
"""
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="sky")


def build_demo(profile: str | None = None) -> gr.Blocks:
    """The whole app for ``profile`` (MODEL_PROFILE when None). Builds widgets only:
    no model is loaded until a tab is used."""
    MODELS.configure(profile)
    concrete = registry.resolve_profile(profile)
    with gr.Blocks(title="Multimodal Playground") as demo:
        gr.Markdown(_("app.intro"))
        gr.Markdown(
            f"Profile / 配置: **{concrete}** ({(profile or settings.MODEL_PROFILE)}) · "
            f"Device / 设备: **{pick_device()}**",
            elem_classes="model-status",
        )
        if concrete == "tiny":
            gr.Markdown(_("banner.tiny"), elem_classes="banner-tiny")
        with gr.Tabs():
            for tab in (caption, ask, create, search, evaluate):
                tab.build(demo)
        # Example tables take their column headers from the inputs' labels, which are
        # translation keys that the table itself doesn't translate: the inputs right
        # above the table already say what each column is.
        for block in demo.blocks.values():
            if isinstance(block, gr.Dataset):
                block.headers = []
    if not safety.is_on():
        log.warning(
            "SAFETY_FILTER=off: generated images are not checked. Use this only for research, never with children."
        )
    return guard_inputs(demo)


def launch_kwargs() -> dict:
    """Options for ``demo.launch`` shared by app.py and the tests."""
    auth = parse_auth(settings.PLAYGROUND_AUTH)
    return dict(
        theme=THEME,
        css=CSS,
        i18n=I18N,
        max_file_size=settings.MAX_FILE_SIZE,
        # Serve the bundled examples and the gallery; nothing else on disk (ui/security.py).
        allowed_paths=[str(settings.ASSETS_DIR), str(settings.DATA_DIR / "uploads")],
        app_kwargs={"middleware": middleware()},
        auth=auth or None,
        auth_message="Multimodal Playground: log in with the name and password you were given. / 请输入提供给你的用户名和密码。"
        if auth
        else None,
    )
