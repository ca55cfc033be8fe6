"""The Models panel's side of downloads: where each model came from, the table of what a
download made ready in the page's language, and the download button for the teacher only
in classroom mode (checked on the server, not only hidden)."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from pipelines.cache import ModelCache
from runtime import registry, settings
from runtime.download import DownloadError
from runtime.prepare import Prepared
from ui.server.language import PAGE_LOCALE
from ui.tabs import models as panel


def request(host: str) -> SimpleNamespace:
    return SimpleNamespace(client=SimpleNamespace(host=host))


def in_language(locale: str, fn, *args):
    token = PAGE_LOCALE.set(locale)
    try:
        return fn(*args)
    finally:
        PAGE_LOCALE.reset(token)


def test_who_may_download(monkeypatch):
    monkeypatch.setattr(settings, "MODELS_PANEL", "full")
    assert panel.may_prepare(request("10.0.0.7"), classroom=False)
    assert panel.may_prepare(request("127.0.0.1"), classroom=True)  # the teacher, at the machine the app runs on
    assert not panel.may_prepare(request("10.0.0.7"), classroom=True)  # a student's computer
    assert not panel.may_prepare(None, classroom=True)
    monkeypatch.setattr(settings, "MODELS_PANEL", "view")  # a public Space: nobody
    assert not panel.may_prepare(request("127.0.0.1"), classroom=False)


def test_what_is_ready_is_said_in_the_pages_language():
    blip, tiny = registry.CHECKPOINTS["blip-base"], registry.CHECKPOINTS["tiny-blip"]
    missing = DownloadError(
        "download_not_found",
        model="BLIP base",
        where={"en": "the Hugging Face Hub", "zh-CN": " Hugging Face Hub "},
    )
    results = [
        Prepared(tiny, "here", {"kind": "tiny", "where": ""}),
        Prepared(blip, "downloaded", {"kind": "mirror", "where": "hf-mirror.com"}, nbytes=990 * 2**20),
        Prepared(registry.CHECKPOINTS["blip-large"], "failed", {}, error=missing),
    ]
    english = in_language("en", panel.prepare_table, results)
    assert (
        "already here" in english and "downloaded 990.0 MB" in english and "failed: BLIP base was not found" in english
    )
    assert "2 of 3 models ready" in english
    chinese = in_language("zh-CN", panel.prepare_table, results)
    assert "已在本机" in chinese and "已下载 990.0 MB" in chinese and "找不到 BLIP base" in chinese
    assert "2 / 3 个模型已就绪" in chinese and "already" not in chinese
    assert in_language("en", panel.source, tiny) == "built here (random)"
    assert in_language("zh-CN", panel.source, blip) == "Hugging Face 缓存"  # not downloaded by the app: the cache


def test_in_classroom_mode_a_students_click_is_refused_on_the_server(tmp_path, models, monkeypatch):
    from ui import build_demo

    (tmp_path / "classroom.yaml").write_text(
        "locked: {epochs: {max: 20}}\n", encoding="utf-8"
    )  # every tab, the panel too
    demo = build_demo("tiny", str(tmp_path / "classroom.yaml"))
    # As Gradio calls them: the request first (for the page's language, ui/chain.py), then the handler's own.
    handler = next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "prepare_models")
    with pytest.raises(gr.Error, match="only the computer the app runs on"):
        in_language("en", handler, request("10.0.0.7"), request("10.0.0.7"))
    show = next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "show_prepare")
    assert show(request("127.0.0.1"), request("127.0.0.1")).visible is False, "the tiny profile downloads nothing"
    monkeypatch.setattr(panel, "MODELS", ModelCache("cpu"))
    assert (
        show(request("10.0.0.7"), request("10.0.0.7")).visible is False
        and show(request("127.0.0.1"), request("127.0.0.1")).visible is True
    )
    # The teacher's click, offline here (HF_HUB_OFFLINE=1): each model's row says why it isn't ready.
    table = in_language("en", handler, request("127.0.0.1"), request("127.0.0.1"))
    assert "BLIP base" in table and "failed: " in table and "can't be reached" in table and "0 of " in table
