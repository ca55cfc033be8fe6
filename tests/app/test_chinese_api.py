"""Chinese through the API (gradio_client, the app in this process on the tiny profile):
each endpoint takes Chinese text and answers in its usual format; the "can't read this
script" notice reaches API clients as a warning; nothing written for people or files
turns Chinese into mojibake (JSON records, snippets, the prompt log, evaluation results)."""

import json
from pathlib import Path

import soundfile

from tests.conftest import IMAGES, ROOT

CAT = str(IMAGES / "cat.jpg")


def warnings_of(job) -> list[str]:
    """The warnings (gr.Warning, from the pipelines' notices) a finished job received."""
    updates = job.communicator.updates
    found = []
    while not updates.empty():
        update = updates.get_nowait()
        if getattr(update, "log", None) and update.log[1] == "warning":
            found.append(update.log[0])
    return found


def test_a_chinese_search_answers_as_usual_and_warns_an_english_only_model(live):
    from gradio_client import handle_file

    english = live.predict(query="a cat", top_k=3, api_name="/search_by_text")
    job = live.submit(query="一只猫", top_k=3, api_name="/search_by_text")
    chinese = job.result(timeout=120)
    assert len(chinese) == len(english) == 3 and all(set(hit) == set(english[0]) for hit in chinese)
    notices = warnings_of(job)  # in English: the API's language unless the client asks for another
    assert len(notices) == 1 and "can't read it" in notices[0] and "Tiny SigLIP 2 (random)" in notices[0]
    from tools.loadtest import loopback_client

    chinese_client = loopback_client(live.src, headers={"Accept-Language": "zh-CN"})
    job = chinese_client.submit(query="一只猫", top_k=3, api_name="/search_by_text")
    assert len(job.result(timeout=120)) == 3
    notices = warnings_of(job)
    assert (
        len(notices) == 1 and "读不懂汉字" in notices[0] and "微型 SigLIP 2（随机）" in notices[0]
    )  # its Chinese name

    job = live.submit(query="一只猫", top_k=3, model="tiny-siglip2", api_name="/search_by_text")
    assert len(job.result(timeout=120)) == 3 and warnings_of(job) == []
    both = live.predict(query="在晚上", image=handle_file(CAT), top_k=2, model="tiny-chinese-clip", api_name="/search")
    assert len(both[0]) == 2 and {hit["name"] for hit in both[1]} <= {p.name for p in IMAGES.iterdir()}


def test_a_chinese_question_to_qwen_streams_an_answer_without_a_notice(live):
    # The cpu default's family (its tiny twin here): a Chinese question about an image is
    # answered in Chat, Caption and Ask with no "can't read" warning; SmolVLM gets one that
    # names the Qwen models.
    from gradio_client import handle_file

    job = live.submit(
        message="这是什么动物？", images=[handle_file(CAT)], model="tiny-qwen3.5", max_new_tokens=4, api_name="/chat"
    )
    answer, _history, details = job.result(timeout=120)
    assert isinstance(answer, str) and details["family"] == "qwen3_5" and details["image_tokens"] > 0
    assert warnings_of(job) == []
    job = live.submit(image=handle_file(CAT), question="这是什么动物？", model="tiny-qwen3.5", api_name="/vqa")
    assert isinstance(job.result(timeout=120), str) and warnings_of(job) == []
    job = live.submit(image=handle_file(CAT), model="tiny-qwen3-vl", max_new_tokens=4, num_beams=1, api_name="/caption")
    assert isinstance(job.result(timeout=120), str) and warnings_of(job) == []
    job = live.submit(image=handle_file(CAT), question="这是什么动物？", model="tiny-smolvlm", api_name="/vqa")
    job.result(timeout=120)
    assert any("Tiny Qwen3.5 (random)" in n for n in warnings_of(job))


def test_chinese_labels_in_chinese_punctuation(live):
    from gradio_client import handle_file

    result = live.predict(image=handle_file(CAT), labels="猫，狗、鸟；马", model="tiny-siglip2", api_name="/classify")
    assert {c["label"] for c in result["confidences"]} == {"猫", "狗", "鸟", "马"}
    counts, examples, details = live.predict(
        labels="动物，食物，太空", examples=1, model="tiny-chinese-clip", api_name="/classify_collection"
    )
    assert [row["label"] for row in details["labels"]] and {row["label"] for row in details["labels"]} <= {
        "动物",
        "食物",
        "太空",
    }
    assert sum(row[1] for row in counts["data"]) == details["total"]


def test_speak_reads_chinese_in_the_chinese_voice(live):
    job = live.submit(text="图片里有3枚火箭。", api_name="/speak")
    path = job.result(timeout=300)
    audio, rate = soundfile.read(path)
    assert rate == 24_000 and len(audio) > 0  # Kokoro's rate: the Chinese voice read it
    assert any("Tiny Kokoro (random)" in n for n in warnings_of(job))
    _, english_rate = soundfile.read(live.predict(text="three rockets", api_name="/speak"))
    assert english_rate == 16_000  # MMS-TTS's


def test_a_chinese_prompt_makes_an_image_with_z_image(live):
    job = live.submit(prompt="一只红色的狐狸", seed=3, model="tiny-z-image", api_name="/text_to_image")
    (made,) = job.result(timeout=300)
    assert made["caption"].startswith("seed 3") and warnings_of(job) == []
    job = live.submit(prompt="一只红色的狐狸", seed=3, api_name="/text_to_image")  # the default, SD: a notice
    assert len(job.result(timeout=300)) == 1 and any("Tiny Z-Image (random)" in n for n in warnings_of(job))


def test_the_chinese_clip_is_transcribed_with_language_detection(live):
    from gradio_client import handle_file

    text = live.predict(
        audio=handle_file(str(ROOT / "assets" / "audio" / "zh-what-animal.wav")),
        language="auto",
        api_name="/transcribe",
    )
    assert isinstance(text, str)


def test_records_and_snippets_keep_chinese_as_written(models, tmp_path):
    from explain import snippets

    loaded = models.get("retrieval", "tiny-siglip2")
    output = loaded.pipeline.classify(CAT, "猫，狗")
    record = snippets.classify_record(loaded, CAT, list(output), output)
    assert record["parameters"]["texts"] == ["一张猫的照片。", "一张狗的照片。"]
    assert record["parameters"]["text_options"]["max_length"] == 64 and record["parameters"]["lower_case"]
    code = snippets.snippet(record)
    assert "一张猫的照片。" in code and "\\u" not in code and "TEXT_OPTIONS = " in code
    compile(code, "snippet.py", "exec")
    path = snippets.write_record(record, tmp_path)
    raw = Path(path).read_text(encoding="utf-8")
    assert "一张猫的照片" in raw and "\\u" not in raw and json.loads(raw)["output"].keys() == output.keys()


def test_the_prompt_log_keeps_chinese(tmp_path):
    from classroom.records import PromptLog

    log = PromptLog(tmp_path / "prompts.jsonl")
    log.write({"student": "小明", "endpoint": "text_to_image", "prompt": "一只红色的狐狸"})
    raw = (tmp_path / "prompts.jsonl").read_bytes()
    assert "一只红色的狐狸".encode() in raw and b"\\u" not in raw


def test_evaluation_results_are_reported_per_language(tmp_path):
    from evaluation import report, runner
    from evaluation.probes import load_probes

    probes = load_probes()
    truth = {r["id"]: r["prediction"] for r in runner.reference_predictions(probes, ["vqa", "retrieval"])}
    results = runner.evaluate(["vqa", "retrieval"], probes=probes, predictions=truth, limit=4, use_judges=False)
    assert {r["language"] for r in results["results"]} == {"en", "zh"}
    assert all(r["value"] == 1.0 for r in results["results"] if r["metric"] in ("accuracy", "R@1"))
    raw = report.write_report(results, tmp_path, with_chart=False)["json"].read_text(encoding="utf-8")
    assert "\\u" not in raw and any("\u4e00" <= c <= "\u9fff" for c in raw)
    assert "| zh | overall | accuracy |" in report.to_markdown(results)


def test_an_input_gradio_cannot_read_is_refused_in_the_clients_language(live):
    # A /chat history whose message is neither text nor a file fails Gradio's own check;
    # the refusal was English whatever the client's language.
    import pytest
    from gradio_client.exceptions import AppError

    from tools.loadtest import loopback_client

    bad = [{"role": "user", "content": {"unexpected": 1}}]
    chinese = loopback_client(live.src, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(AppError, match="有一项输入无法读取"):
        chinese.predict(message="你好", history=bad, api_name="/chat")
    with pytest.raises(AppError, match="An input could not be read"):
        live.predict(message="hello", history=bad, api_name="/chat")


def test_a_file_that_is_no_image_is_refused_in_the_clients_language(live):
    # Gradio reads an uploaded image outside any request, where its refusal was English
    # whatever the client's language; the event guard says it first, in the client's.
    import pytest
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from tools.loadtest import loopback_client

    chinese = loopback_client(live.src, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(AppError, match="不是可以读取的图片"):
        chinese.predict(image=handle_file(str(ROOT / "README.md")), api_name="/caption")
    with pytest.raises(AppError, match="is not an image that can be read"):
        live.predict(image=handle_file(str(ROOT / "README.md")), api_name="/caption")


def test_a_refusal_comes_in_chinese_to_a_chinese_client_and_in_english_otherwise(live):
    # One refused by the event guard (a model the picker doesn't offer), one by the pipeline
    # (a conversation that starts with the assistant): both were English-only sentences.
    import pytest
    from gradio_client.exceptions import AppError

    from tools.loadtest import loopback_client

    chinese = loopback_client(live.src, headers={"Accept-Language": "zh-CN"})
    history = [{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}]
    asked = dict(message="hi", history=history, model="tiny-qwen3.5", max_new_tokens=2, api_name="/chat")
    for client, picked, started in (
        (live, "`model`: must be one of [", "Message 1 must come from the user (user and assistant take turns"),
        (chinese, "之一，而不是 'tiny-blip' (str)。", "第 1 条消息必须来自用户（用户和助手轮流发言，用户先说）"),
    ):
        with pytest.raises(AppError) as refused:
            client.predict(message="hi", model="tiny-blip", api_name="/chat")
        assert picked in str(refused.value), str(refused.value)
        with pytest.raises(AppError) as refused:
            client.predict(**asked)
        assert started in str(refused.value), str(refused.value)
