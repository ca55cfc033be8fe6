"""The Evaluate tab as its users meet it: the real app on the tiny profile, driven
through its /evaluate endpoint with gradio_client."""

import json
from pathlib import Path

import pytest
from gradio_client.exceptions import AppError

from evaluation.probes import load_probes


def test_evaluate_is_a_public_endpoint_with_tasks_first(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    params = api["/evaluate"]["parameters"]
    assert [p["parameter_name"] for p in params][:2] == ["tasks", "limit"]
    assert all(p["parameter_has_default"] for p in params)


def test_evaluate_two_checkpoints_side_by_side_with_downloads(client):
    summary, table, chart, files, items, gallery = client.predict(
        tasks=["vqa", "retrieval", "text_to_image"], limit=2, compare_vqa_model="tiny-vilt", api_name="/evaluate"
    )
    assert "Tiny BLIP VQA" in summary and "B: Ask (VQA): **Tiny ViLT VQA" in summary  # tasks by name, not key
    assert table["headers"] == ["task", "language", "ability", "metric", "A", "B", "B − A", "n"]
    rows = {(r[0], r[2], r[3]): r for r in table["data"] if r[1] == "en"}
    assert rows["vqa", "overall", "accuracy"][5] != "—"  # B ran VQA
    assert rows["retrieval", "image_to_text", "R@1"][5] == "—"  # and nothing else
    assert ("text_to_image", "count", "round-trip accuracy") in rows
    assert chart["type"] == "matplotlib" and chart["plot"].startswith("data:image/png;base64,")

    by_name = {Path(f).name: Path(f) for f in files}
    assert set(by_name) == {"results.json", "report.md", "chart.png"}
    results = json.loads(by_name["results.json"].read_text(encoding="utf-8"))
    assert {(r["task"], r["metric"]) for r in results["results"]} >= {("vqa", "accuracy"), ("retrieval", "R@10")}
    assert all({"task", "ability", "metric", "value", "n"} <= set(r) for r in results["results"])
    assert "B − A" in by_name["report.md"].read_text(encoding="utf-8")

    questions = [row for row in items["data"] if row[0] == "vqa"]
    probes = {q["id"]: q for q in load_probes().vqa}
    assert len(questions) == 2 and all(row[3] == probes[row[1]]["question"] for row in questions)
    assert len(gallery) == 2 and all(entry["caption"].startswith(("a ", "two ", "three ")) for entry in gallery)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (dict(tasks=[]), "at least one task"),
        (dict(tasks=["vqa"], limit=0), "`limit`: must be at least 1"),  # the input guard (ui/server/security.py)
        (dict(tasks=["vqa"], limit=2.5), "`limit`: must be a whole number"),  # refused, not rounded
        (dict(tasks=["vqa"], vqa_model="blip-huge"), "blip-huge"),
        (dict(tasks=["vqa"], compare_retrieval_model="tiny-blip"), "tiny-blip"),
    ],
)
def test_bad_evaluation_requests_get_a_message(client, request_, message):
    with pytest.raises(AppError, match=message):
        client.predict(**request_, api_name="/evaluate")
    assert client.predict(tasks=["vqa"], limit=1, api_name="/evaluate")[1]["data"]  # still serving


def test_the_chinese_probes_are_answered_by_a_model_that_reads_chinese(client):
    # Model A left at "the default, per language": BLIP answers the English questions, a
    # VLM of the picker that reads Chinese the Chinese ones, and the summary says which.
    summary = client.predict(tasks=["vqa"], limit=2, api_name="/evaluate")[0]
    assert "Ask (VQA): **Tiny BLIP VQA" in summary and "(Chinese: **Tiny Gemma 3" in summary


def test_model_a_offers_the_default_per_language_where_the_default_reads_english_only():
    from runtime import registry
    from ui.tabs.evaluate import per_language

    assert per_language("vqa", registry.choices("vqa", "cpu"), "cpu")  # BLIP, then Qwen3.5 for Chinese
    assert not per_language("retrieval", registry.choices("retrieval", "cpu"), "cpu")  # SigLIP 2 reads both
    assert not per_language("vqa", [registry.CHECKPOINTS["blip-vqa-base"]], "cpu")  # a classroom's BLIP alone
