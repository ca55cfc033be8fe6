"""The message catalogue: every code a pipeline raises or notices has an English and a
Chinese text with the same placeholders, the page's language picks one, and a parameter
is named by its control's label."""

import ast
import re
import string

from runtime.inputs import check_number, check_text
from runtime.messages import InputError
from tests.conftest import ROOT
from ui.i18n import EN, ZH
from ui.messages import NAMES, PREFIX, translate
from ui.server.language import locale_of


def fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


# What makes a coded message: runtime.messages and its subclasses, and the errors beside them
# that carry a code (downloads, model servers, an unavailable checkpoint).
CODED = {"InputError", "InputTypeError", "ImageRefused", "ImageSizeError", "NeedsLocalModel", "Stopped", "Notice"}
CODED_ELSEWHERE = {"DownloadError", "CheckpointUnavailable", "BackendError"}
FOLDERS = ("runtime", "pipelines", "search", "classroom", "labs", "ui", "explain", "evaluation")


def called(node: ast.Call) -> str | None:
    """The name a call calls: ``InputError`` for ``InputError(...)`` and ``messages.InputError(...)``."""
    return getattr(node.func, "id", getattr(node.func, "attr", None))


def coded_calls() -> list[tuple[str, ast.Call]]:
    """Every call in the app that makes a coded message, with where it is ("ui/speech.py:111")."""
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and called(node) in CODED | CODED_ELSEWHERE:
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def codes(node: ast.expr) -> list[str]:
    """The codes a call's first argument can be: a string, either of two ("a" if x else "b"),
    or an f-string ("onnx_exported_{part}") as a pattern; none for a code passed along."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return codes(node.body) + codes(node.orelse)
    if isinstance(node, ast.JoinedStr):
        pattern = "".join(re.escape(part.value) if isinstance(part, ast.Constant) else "[a-z]+" for part in node.values)
        return [
            key[len(PREFIX) :] for key in EN if key.startswith(PREFIX) and re.fullmatch(pattern, key[len(PREFIX) :])
        ]
    return []


def is_text(node: ast.expr) -> bool:
    """Whether ``node`` is written text: a string, an f-string, or text joined with ``+``."""
    if isinstance(node, ast.BinOp):
        return is_text(node.left) or is_text(node.right)
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def codes_in_source() -> set[str]:
    """The codes given to InputError, its subclasses and Notice anywhere in the app."""
    return {code for _, node in coded_calls() if node.args for code in codes(node.args[0])}


def test_every_code_has_both_languages_with_the_same_placeholders():
    catalogue = {key for key in EN if key.startswith(PREFIX)}
    assert catalogue == {key for key in ZH if key.startswith(PREFIX)}
    for key in catalogue:
        assert fields(EN[key]) == fields(ZH[key]), key
        assert EN[key] != ZH[key], key
        # English only, but for the example of Chinese punctuation that a list of labels takes.
        assert not re.search(r"[\u4e00-\u9fff]", EN[key].replace("'猫，狗'", "")), key
    used = codes_in_source()
    assert len(used) > 30 and not {PREFIX + code for code in used} - catalogue


def test_each_coded_message_is_written_once_in_the_catalogue_not_in_the_code():
    """A coded message's text lives in runtime/locales/<locale>/messages.json only: a call
    gives its code and params, never an English sentence of its own (which would drift from
    the catalogue's, as ``chat_context`` once did), and gives every param its text needs."""
    calls = coded_calls()
    assert len(calls) > 100
    for where, node in calls:
        assert not any(is_text(arg) for arg in node.args[1:]), f"{where}: English text beside the code"
        if called(node) in CODED:
            assert len(node.args) == 1, f"{where}: the code, then params by name"
        if any(keyword.arg is None for keyword in node.keywords):
            continue  # **params: passed along from another coded message
        given = {keyword.arg for keyword in node.keywords}
        if called(node) == "BackendError":
            given |= {"what", "server", "setting", "retried"}  # BackendError adds the server's own
        for code in codes(node.args[0]):
            assert PREFIX + code in EN, f"{where}: {code} is not in the catalogue"
            assert fields(EN[PREFIX + code]) <= given, f"{where}: {code} needs {fields(EN[PREFIX + code]) - given}"


def written(node: ast.AST) -> str | re.Pattern | None:
    """A string the code writes: a constant, or as a pattern an f-string ("onnx_exported_{part}")
    with its fields as any name, or the start of a name joined with ``+`` ("source_" + where)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.removeprefix(PREFIX)
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(p.value) if isinstance(p, ast.Constant) else "[a-z_]+" for p in node.values]
        pattern = "".join(parts).removeprefix(re.escape(PREFIX))
    elif isinstance(node, ast.BinOp) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
        pattern = re.escape(node.left.value.removeprefix(PREFIX)) + "[a-z_]+"
    else:
        return None
    return re.compile(pattern) if pattern.replace("[a-z_]+", "") else None  # "{code}" names no entry


def test_every_entry_of_the_catalogue_is_said_somewhere():
    """A message the app never says is a fact kept in two places for nothing (``title_output``
    was one): each code is written in the app, whole or as the pattern it is made from."""
    found = set()
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found |= {written(node) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))}
    patterns = [p for p in found if isinstance(p, re.Pattern)]
    catalogue = [key.removeprefix(PREFIX) for key in EN if key.startswith(PREFIX)]
    unsaid = [code for code in catalogue if code not in found and not any(p.fullmatch(code) for p in patterns)]
    assert unsaid == []


def test_the_english_of_a_coded_message_is_the_catalogues():
    from runtime.messages import Notice, catalogue

    assert catalogue("en")["chat_context"] == EN[PREFIX + "chat_context"]  # one file, read by both layers
    notice = Notice("text_truncated", name="search text", count=90, limit=77)
    assert notice == EN[PREFIX + "text_truncated"].format(name="search text", count=90, limit=77)
    assert notice.startswith("The search text is 90 tokens long, but the model reads at most 77")


def test_every_name_is_a_label_on_the_page():
    assert all(key in EN and key in ZH for key in NAMES.values())


def test_a_message_is_said_in_the_pages_language_naming_the_control():
    try:
        check_number("width", 5000, 64, 1024)
    except InputError as error:
        assert str(error) == "`width` must be between 64 and 1024, not 5000."  # the API's English
        assert translate(error, "en") == f"“{EN['create.width']}” must be between 64 and 1024, not 5000."
        assert translate(error, "zh-CN") == f"“{ZH['create.width']}”必须在 64 到 1024 之间，而不是 5000。"
        # A handler's own control names it: Chat's length slider, not Caption's.
        labels = {"width": "chat.max_new_tokens"}
        assert translate(error, "zh-CN", labels).startswith(f"“{ZH['chat.max_new_tokens']}”")
    try:
        check_text("  ", "caption prompt")
    except InputError as error:
        assert translate(error, "zh-CN") == f"“{ZH['caption.prompt']}”为空：请输入文字。"
    assert translate(ValueError("no code"), "zh-CN") == "no code"  # as raised


class FakeRequest:
    def __init__(self, cookie=None, accept=None):
        self.cookies = {"playground-locale": cookie} if cookie else {}
        self.headers = {"accept-language": accept} if accept else {}


def test_the_language_of_a_request():
    assert locale_of(None) == "en" and locale_of(FakeRequest()) == "en"
    assert locale_of(FakeRequest(cookie="zh-CN", accept="en-US")) == "zh-CN"  # the page's cookie wins
    assert locale_of(FakeRequest(cookie="en", accept="zh-CN")) == "en"
    assert locale_of(FakeRequest(accept="zh-TW,zh;q=0.9")) == "zh-CN"
    assert locale_of(FakeRequest(accept="fr-FR, en;q=0.8, zh;q=0.5")) == "en"
    assert locale_of(FakeRequest(accept="fr-FR, zh;q=0.8, en;q=0.5")) == "zh-CN"
    assert locale_of(FakeRequest(cookie="xx", accept="de")) == "en"


def test_a_detected_language_is_named_once_in_the_pages_language():
    from ui.server.language import PAGE_LOCALE
    from ui.tabs.listen import show_result

    result = {"language": "mt", "chunks": [{"timestamp": (0.0, 1.0), "text": "Bonġu"}]}
    assert show_result(result)[1] == "Language: **Maltese** · 1 segment(s)"
    token = PAGE_LOCALE.set("zh-CN")
    try:
        assert show_result(result)[1] == "语言：**马耳他语** · 1 段"
    finally:
        PAGE_LOCALE.reset(token)


def test_a_classroom_rule_and_the_rate_limit_speak_the_pages_language():
    import asyncio
    import json

    import pytest

    from classroom.rules import Lock
    from ui.server.limits import RateLimiter
    from ui.server.security import _too_many

    with pytest.raises(InputError) as refused:
        Lock(min=1, max=2).check("num_images", 4)
    assert "locked `num_images` (1 to 2); got 4" in str(refused.value)
    chinese = translate(refused.value, "zh-CN")
    assert chinese == f"在本课堂中，老师锁定了“{ZH['create.num_images']}”（1 到 2）；收到的是 4。"

    sent = []

    async def send(message):
        sent.append(message)

    page = {"type": "http", "headers": [(b"cookie", b"playground-locale=zh-CN")]}
    asyncio.run(_too_many(send, "limit_requests", RateLimiter(20, 60), 12.2, page))
    assert sent[0]["status"] == 429
    assert json.loads(sent[1]["body"])["detail"] == "来自你的地址的请求过多：每分钟最多 20 次。请 13 秒后再试。"
    sent.clear()
    asyncio.run(_too_many(send, "limit_requests", RateLimiter(20, 60), 12.2, {"type": "http", "headers": []}))
    assert json.loads(sent[1]["body"])["detail"].startswith(
        "Too many requests from your address: at most 20 every minute"
    )


def test_rules_periods_and_scripts_are_said_by_one_function_from_the_catalogue():
    """One function renders each in either language, from runtime/locales (no Chinese copy in the code)."""
    from classroom.rules import Lock
    from runtime.scripts import describe
    from ui.server.security import period

    locks = [Lock(value=0), Lock(allowed=[1, 2, 3]), Lock(min=0.5, max=2), Lock(min=0), Lock(max=8)]
    assert [lock.describe() for lock in locks] == ["= 0", "one of 1, 2, 3", "0.5 to 2", "at least 0", "at most 8"]
    assert [lock.describe("zh-CN") for lock in locks] == ["= 0", "取值之一：1、2、3", "0.5 到 2", "至少 0", "至多 8"]
    periods = [60, 120, 3600, 7200, 86400, 172800, 90]
    assert [period(p) for p in periods] == ["minute", "2 minutes", "hour", "2 hours", "day", "2 days", "90 seconds"]
    assert [period(p, "zh-CN") for p in periods] == ["分钟", "2 分钟", "小时", "2 小时", "天", "2 天", "90 秒"]
    assert describe(["Han"]) == {"en": "Chinese characters", "zh-CN": "汉字"}
    assert describe(["Latin", "Hiragana", "Katakana", "Other"]) == {
        "en": "the Latin alphabet, Japanese kana and a script it was not trained on",
        "zh-CN": "拉丁字母、日文假名、它没有学过的文字",
    }


def test_table_headers_and_chart_axes_follow_the_request():
    import pandas as pd

    from ui import panels
    from ui.server.language import PAGE_LOCALE

    frame = pd.DataFrame([[f"0{i} cat", 0.8] for i in range(3)], columns=[panels.STEP_LABEL, panels.PROB])
    record = {"strategies": [{"name": "greedy", "text": "a cat", "sequence_probability": 0.5, "steps": []}]}
    token = PAGE_LOCALE.set("zh-CN")
    try:
        chart = panels.probability_bars(frame)
        assert (chart.x_title, chart.y_title) == ("步", "概率")
        assert panels.token_columns() == ["#", "词元", "概率", "前五"]
        assert "贪心" in panels._summary(record) and "文本" in panels._summary(record)
    finally:
        PAGE_LOCALE.reset(token)
    token = PAGE_LOCALE.set("en")
    try:
        summary = panels._summary(record)
        assert not re.search(r"[\u4e00-\u9fff]", summary) and EN["explain.greedy"] in summary
        assert panels.probability_bars(frame).x_title == "step"
    finally:
        PAGE_LOCALE.reset(token)


def test_coded_messages_survive_a_copy_and_say_why_a_file_was_skipped():
    import copy
    import pickle

    from runtime.inputs import ImageSizeError
    from runtime.messages import Notice

    error = ImageSizeError("image_aspect", name="image", width=2100, height=10, ratio=210, limit=20)
    assert str(error) == "The image is 2100x10, an aspect ratio of 210:1; at most 20:1 is accepted. Please crop it."
    for again in (pickle.loads(pickle.dumps(error)), copy.deepcopy(error)):
        assert type(again) is ImageSizeError and again.params == error.params and str(again) == str(error)
    skipped = Notice("skip_not_image")
    assert skipped == "not an image" and translate(skipped, "zh-CN") == "不是图片"


def test_models_are_named_in_the_page_language_in_every_message():
    """A notice names a checkpoint by its display name in the page's language: no English
    description ("Chinese voice", "random") in a Chinese sentence, no "中文" in an English one;
    every display name is a registry checkpoint's, and an offline failure survives a copy."""
    import pickle

    from runtime import registry
    from runtime.hub import CheckpointUnavailable
    from runtime.messages import Notice, model_names

    names = {key.split(".", 1)[1] for key in EN if key.startswith("checkpoints.")}
    assert names <= set(registry.CHECKPOINTS), names - set(registry.CHECKPOINTS)
    mms, kokoro = registry.CHECKPOINTS["mms-tts-eng"], registry.CHECKPOINTS["kokoro-zh"]
    switched = Notice(
        "voice_switched",
        model=model_names(mms),
        reader=model_names(kokoro),
        reads={"en": "the Latin alphabet", "zh-CN": "拉丁字母"},
    )
    chinese, english = translate(switched, "zh-CN"), translate(switched, "en")
    assert "Kokoro 82M 中文语音" in chinese and not re.search(r"English|voice|Chinese", chinese)
    assert "Kokoro 82M, Chinese voice" in english and not re.search(r"[\u4e00-\u9fff]", english)
    offline = CheckpointUnavailable(
        "checkpoint_offline", model=model_names(mms), repo=mms.repo_id, mirror={"en": "", "zh-CN": ""}
    )
    again = pickle.loads(pickle.dumps(offline))
    assert again.code == "checkpoint_offline" and translate(again, "zh-CN").startswith("MMS-TTS 英语（VITS）（facebook")


def test_the_input_guard_says_the_catalogues_sentences():
    """The guard's refusals (ui/server/security.py) come from the same catalogue: the API reads
    the English as before, the page its own language, naming the control."""
    import gradio as gr

    from ui.server.events import check_input
    from ui.server.language import FROM_PAGE, PAGE_LOCALE

    def refused(component, value, name):
        try:
            check_input(component, value, name)
        except gr.Error as error:
            return error.message
        raise AssertionError("not refused")

    width = gr.Slider(minimum=64, maximum=1024, label="create.width")
    assert refused(width, 5000, "width") == "`width`: must be at least 64 and at most 1024, not 5000."
    assert refused(gr.Number(), "abc", "seed") == "`seed`: must be a number, not 'abc' (str)."
    assert refused(gr.Textbox(), 42, "prompt") == "`prompt`: must be text, not 42 (int)."
    tokens = (PAGE_LOCALE.set("zh-CN"), FROM_PAGE.set(True))
    try:
        assert refused(width, 5000, "width").startswith("“") and "必须在 64 到 1024 之间" in refused(
            width, 5000, "width"
        )
    finally:
        PAGE_LOCALE.reset(tokens[0])
        FROM_PAGE.reset(tokens[1])


def test_a_conversation_sent_back_wrong_is_refused_in_the_pages_language():
    import pytest

    from ui.tabs.chat import turns_from_history

    for history, code, chinese in (
        ("hi", "chat_history_list", "`history`必须是消息列表，而不是 str。"),
        (
            [{"role": "system"}],
            "chat_history_role",
            "`history`的第 1 条消息必须是 role 为 'user' 或 'assistant' 的 dict。",
        ),
        ([{"role": "user", "content": [{"component": "audio"}]}], "chat_history_content", "文字和图片以外的内容"),
    ):
        with pytest.raises((ValueError, TypeError)) as refused:
            turns_from_history(history)
        assert refused.value.code == code and str(refused.value).startswith("`history`")
        assert chinese in translate(refused.value, "zh-CN")
