"""Messages in the page's language, through the API (gradio_client, the app in this
process on the tiny profile): a request from the Chinese page (its language cookie) or a
client asking for Chinese (Accept-Language) reads Chinese only; the English page reads
English only, naming controls by their labels; an API client in English reads the message
as raised, naming parameters as the API does. A number outside its control's range is
refused with the range named, never clamped; a caption prompt the model can't read is
not dropped silently."""

import re

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.app.test_chinese_api import warnings_of
from tests.conftest import IMAGES
from ui.i18n import EN, ZH

CAT = str(IMAGES / "cat.jpg")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# An English sentence: two English words in a row (names such as "Tiny BLIP" are allowed).
ENGLISH = re.compile(r"\b(?!Tiny\b|BLIP\b|SigLIP\b|CLIP\b|random\b)[A-Za-z]{2,}\s+(?!BLIP\b|SigLIP\b)[a-z]{2,}\b")


@pytest.fixture(scope="module")
def english_page(live):
    """A client that sends what the English page sends (in a browser that prefers Chinese)."""
    from tools.loadtest import loopback_client

    return loopback_client(live.src, headers={"Cookie": "playground-locale=en", "Accept-Language": "zh-CN"})


@pytest.fixture(scope="module")
def chinese_page(live):
    """A client that sends what the Chinese page sends: its language cookie."""
    from tools.loadtest import loopback_client

    return loopback_client(live.src, headers={"Cookie": "playground-locale=zh-CN", "Accept-Language": "en-US"})


@pytest.fixture(scope="module")
def chinese_client(live):
    """An API client that asks for Chinese with Accept-Language (no cookie)."""
    from tools.loadtest import loopback_client

    return loopback_client(live.src, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})


def refusal(client, **request) -> str:
    with pytest.raises(AppError) as refused:
        client.predict(**request)
    return str(refused.value)


def assert_chinese(text: str) -> None:
    assert CJK.search(text) and not ENGLISH.search(text), text


def assert_english(text: str) -> None:
    assert text and not CJK.search(text), text


def test_a_bad_input_is_refused_in_the_pages_language(live, english_page, chinese_page, chinese_client):
    empty = dict(image=handle_file(CAT), question="   ", api_name="/vqa")
    api = refusal(live, **empty)
    assert_english(api)
    assert "The question is empty" in api
    english = refusal(english_page, **empty)
    assert_english(english)
    assert f"“{EN['ask.question']}” is empty" in english
    for client in (chinese_page, chinese_client):
        chinese = refusal(client, **empty)
        assert_chinese(chinese)
        assert ZH["ask.question"] in chinese and "为空" in chinese


def test_a_number_out_of_range_is_refused_with_its_range(live, english_page, chinese_page):
    for width in (5000, 32):  # above and below the slider: refused, not clamped to 1024 or 64
        request = dict(prompt="a red fox", seed=1, width=width, height=64, api_name="/text_to_image")
        api = refusal(live, **request)
        assert f"`width`: must be at least 64 and at most 1024, not {width}" in api
        english = refusal(english_page, **request)
        assert_english(english)
        assert f"“{EN['create.width']}” must be at least 64 and at most 1024, not {width}" in english
        chinese = refusal(chinese_page, **request)
        assert_chinese(chinese)
        assert f"“{ZH['create.width']}”必须在 64 到 1024 之间" in chinese and str(width) in chinese
    # Inside the range but not on the model's grid: the rule and the range, in the page's words.
    chinese = refusal(chinese_page, prompt="a red fox", seed=1, width=100, height=64, api_name="/text_to_image")
    assert_chinese(chinese)
    assert "8 的倍数" in chinese and "100" in chinese


def test_a_caption_prompt_the_model_cant_spell_is_not_dropped_silently(live, english_page, chinese_page):
    request = dict(image=handle_file(CAT), prompt="一张照片", max_new_tokens=8, num_beams=1, api_name="/caption")
    job = live.submit(**request)
    job.result(timeout=120)
    api = [n for n in warnings_of(job) if "does not start with the prompt" in n]
    assert len(api) == 1 and "一张照片" in api[0] and "caption prompt" in api[0]
    job = english_page.submit(**request)
    job.result(timeout=120)
    english = [n for n in warnings_of(job) if "does not start with the prompt" in n]
    assert len(english) == 1 and "一张照片" in english[0] and EN["caption.prompt"] in english[0]
    job = chinese_page.submit(**request)
    job.result(timeout=120)
    chinese = warnings_of(job)
    assert any("不会以你输入的开头开始" in n for n in chinese)
    for notice in chinese:
        assert_chinese(notice)
