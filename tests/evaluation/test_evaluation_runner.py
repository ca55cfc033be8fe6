"""The runner, the predictions file and the command line, on the tiny profile and on
a small subset of the probe set."""

import json
import math
import subprocess
import sys

import pytest
from PIL import Image

from evaluation import report, runner
from evaluation.__main__ import main
from evaluation.probes import ABILITIES, TASKS, load_probes
from pipelines.cache import ModelCache
from runtime import registry
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def probes():
    return load_probes(1)  # English only; the Chinese items of v2: tests/evaluation/test_probes_chinese.py


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _values(results, task, metric):
    return {r["ability"]: r["value"] for r in results["results"] if r["task"] == task and r["metric"] == metric}


def test_ground_truth_as_predictions_scores_one_and_runs_no_model(probes, tmp_path):
    path = _write_jsonl(tmp_path / "truth.jsonl", runner.reference_predictions(probes))
    cache = ModelCache("tiny")
    results = runner.evaluate(
        TASKS, probes=probes, predictions=runner.read_predictions(path, probes), use_judges=False, cache=cache
    )
    assert cache.loaded() == []  # nothing was run
    accuracy = _values(results, "vqa", "accuracy")
    assert set(accuracy) == {"overall", *ABILITIES} and set(accuracy.values()) == {1.0}
    for metric in ("R@1", "R@5", "R@10", "mean rank"):
        assert _values(results, "retrieval", metric) == {"image_to_text": 1.0, "text_to_image": 1.0}
    assert _values(results, "caption", "BLEU-4")["overall"] == pytest.approx(1.0, abs=1e-6)
    counts = {(r["task"], r["ability"], r["metric"]): r["n"] for r in results["results"]}
    assert counts["vqa", "overall", "accuracy"] == len(probes.vqa)
    assert counts["retrieval", "text_to_image", "R@1"] == sum(len(c["references"]) for c in probes.captions)
    assert counts["caption", "photo", "BLEU-4"] + counts["caption", "synthetic", "BLEU-4"] == len(probes.captions)
    assert results["run"]["models"] == {} and results["run"]["predictions"]
    assert any("judge" in note for note in results["notes"])


def test_wrong_predictions_score_lower_and_reports_show_both_side_by_side(probes, tmp_path):
    truth = runner.evaluate(["vqa"], probes=probes, predictions={q["id"]: q["answers"][0] for q in probes.vqa})
    always_no = runner.evaluate(["vqa"], probes=probes, predictions={q["id"]: "No." for q in probes.vqa})
    share_no = sum(q["answers"] == ["no"] for q in probes.vqa) / len(probes.vqa)
    assert _values(always_no, "vqa", "accuracy")["overall"] == pytest.approx(share_no)
    assert _values(always_no, "vqa", "accuracy")["count"] == 0.0
    rows = report.comparison(truth, always_no)
    overall = next(r for r in rows if r["ability"] == "overall")
    assert overall["delta"] == pytest.approx(share_no - 1.0)
    markdown = report.to_markdown(truth, always_no)
    assert "| language | ability | metric | A | B | B − A | n |" in markdown
    assert f"| en | overall | accuracy | 1.000 | {share_no:.3f} |" in markdown


def test_a_small_limit_still_covers_every_ability_and_source(probes):
    chosen = runner.select(probes, "vqa", len(ABILITIES))
    assert sorted(q["ability"] for q in chosen) == sorted(ABILITIES)
    assert (
        sorted(probes.source(c["image"]) for c in runner.select(probes, "caption", 4))
        == ["photo"] * 2 + ["synthetic"] * 2
    )
    assert runner.select(probes, "vqa", None) == probes.vqa


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2: not valid JSON"),
        ('{"id": "vqa/scene-000/0"}', "line 2: each line must be an object"),
        ('{"id": "vqa/scene-999/0", "prediction": "2"}', "line 2: unknown id 'vqa/scene-999/0'"),
        ('{"id": "vqa/scene-000/0", "prediction": 2}', "line 2: a vqa prediction is a string"),
        ('{"id": "retrieval/scene-000", "prediction": "scene-000"}', "line 2: a retrieval prediction is a list"),
        ('{"id": "caption/scene-000", "prediction": "a cat"}', "line 2: a second prediction"),
        (
            '{"id": "t2i/prompt-000", "prediction": "missing.png"}',
            "line 2: The image file 'missing.png' does not exist",
        ),
    ],
)
def test_a_bad_predictions_file_is_refused_naming_the_line(probes, tmp_path, line, message):
    path = tmp_path / "preds.jsonl"
    path.write_text('{"id": "caption/scene-000", "prediction": "a cat"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        runner.read_predictions(path, probes)


def test_the_apps_models_run_end_to_end_on_a_small_subset(models, probes, tmp_path):
    steps = []
    results = runner.evaluate(
        TASKS,
        probes=probes,
        limit=2,
        cache=models,
        image_dir=tmp_path / "images",
        progress=lambda done, total, text: steps.append((done, total)),
    )
    assert {r["task"] for r in results["results"]} == set(TASKS)
    assert all(set(r) == {"task", "language", "ability", "metric", "value", "n", "better"} for r in results["results"])
    assert all(math.isfinite(r["value"]) and r["n"] >= 1 for r in results["results"])
    assert _values(results, "vqa", "accuracy").keys() >= {"overall"}
    assert set(_values(results, "text_to_image", "round-trip accuracy")) >= {"overall", "count"}
    assert {r["metric"] for r in results["results"] if r["task"] == "caption"} == {"BLEU-4", "CIDEr", "CLIPScore"}
    assert results["run"]["models"]["caption"]["key"] == "tiny-blip"
    assert results["run"]["judge"] == {
        "clip": results["run"]["models"]["retrieval"],
        "vqa": results["run"]["models"]["vqa"],
    }
    # progress counts up to its total: every model call was reported
    assert steps[-1][0] == steps[-1][1] and [d for d, _ in steps] == sorted(d for d, _ in steps)
    drawn = [i for i in results["items"] if i["task"] == "text_to_image"]
    assert len(drawn) == 2 and all(Image.open(tmp_path / i["prediction"]).size == (64, 64) for i in drawn)
    json.dumps(results)  # plain values only


def test_a_vision_language_model_runs_the_caption_and_vqa_probes(models, tmp_path):
    # Side by side with BLIP: the same probes, scored by the same code; a VLM is asked in
    # the probe's language (Chinese captions and questions in probe set v2).
    probes = load_probes(2)
    results = runner.evaluate(
        ["caption", "vqa"],
        {"caption": "tiny-gemma3", "vqa": "tiny-smolvlm"},
        probes=probes,
        limit=4,
        cache=models,
        use_judges=False,
    )
    assert results["run"]["models"]["caption"]["key"] == "tiny-gemma3"
    assert results["run"]["models"]["vqa"]["key"] == "tiny-smolvlm"
    assert {(r["task"], r["language"]) for r in results["results"]} >= {("caption", "zh"), ("vqa", "zh"), ("vqa", "en")}
    predicted = [i for i in results["items"] if i["task"] in ("caption", "vqa")]
    assert predicted and all(isinstance(i["prediction"], str) for i in predicted)
    # Both kinds are the Chat tab's one loaded model, not copies.
    assert sum(item.requested.task == "chat" and item.checkpoint.key == "tiny-gemma3" for item in models.loaded()) == 1


def test_command_line_writes_results_report_and_chart(models, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "--tasks",
                "caption,vqa,retrieval,text_to_image",
                "--profile",
                "tiny",
                "--limit",
                "2",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {r["task"] for r in results["results"]} == set(TASKS)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Visual question answering" in markdown and "![Scores per ability](chart.png)" in markdown
    assert Image.open(out / "chart.png").format == "PNG"
    assert all((out / i["prediction"]).is_file() for i in results["items"] if i["task"] == "text_to_image")
    printed = capsys.readouterr().out
    assert "vqa" in printed and "results.json" in printed


def test_command_line_compares_with_a_baseline(probes, tmp_path):
    truth = _write_jsonl(tmp_path / "truth.jsonl", runner.reference_predictions(probes, ["vqa"]))
    wrong = _write_jsonl(tmp_path / "wrong.jsonl", [{"id": q["id"], "prediction": "no"} for q in probes.vqa])
    assert main(["--predictions", str(truth), "--out", str(tmp_path / "a"), "--quiet", "--no-chart"]) == 0
    args = [
        "--predictions",
        str(wrong),
        "--baseline",
        str(tmp_path / "a" / "results.json"),
        "--out",
        str(tmp_path / "b"),
    ]
    assert main([*args, "--quiet"]) == 0
    assert "| overall | accuracy |" in (tmp_path / "b" / "report.md").read_text(encoding="utf-8")
    assert "B − A" in (tmp_path / "b" / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "vqa,dance"], "Unknown task(s) ['dance']"),
        (["--tasks", "vqa", "--models", "vqa=blip-huge", "--profile", "tiny"], "blip-huge"),
        (["--tasks", "vqa", "--limit", "-3"], "limit"),
        (["--probes", "9"], "No probe set"),
    ],
)
def test_command_line_bad_input_gets_a_message(tmp_path, capsys, args, message):
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_evaluation_scores_a_predictions_file(tmp_path):
    """The real command, as a user types it: write the reference predictions, score them."""
    env_run = dict(cwd=ROOT, capture_output=True, text=True, timeout=240)
    gt = tmp_path / "gt.jsonl"
    made = subprocess.run(
        [sys.executable, "-m", "evaluation", "--tasks", "vqa,retrieval", "--reference-predictions", str(gt)], **env_run
    )
    assert made.returncode == 0, made.stderr[-2000:]
    scored = subprocess.run(
        [sys.executable, "-m", "evaluation", "--predictions", str(gt), "--out", str(tmp_path / "out"), "--no-chart"],
        **env_run,
    )
    assert scored.returncode == 0, scored.stderr[-2000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert {r["value"] for r in results["results"] if r["metric"] in ("accuracy", "R@1", "R@10", "mean rank")} == {1.0}


def test_an_unknown_checkpoint_is_refused_before_anything_runs(models, probes):
    calls = []
    with pytest.raises(ValueError, match="Unknown caption model 'blip-huge'"):
        runner.evaluate(
            ["caption", "vqa"],
            {"vqa": None, "caption": "blip-huge"},
            probes=probes,
            cache=models,
            limit=1,
            progress=lambda *a: calls.append(a),
        )
    with pytest.raises(ValueError, match="Unknown vqa model"):
        runner.evaluate(["text_to_image"], judges={"vqa": "tiny-clip"}, probes=probes, cache=models, limit=1)
    assert calls == []


def test_drawn_images_from_elsewhere_are_judged_only_when_asked(models, probes, tmp_path):
    probes.image("scene-002").save(tmp_path / "mine.png")  # any picture stands in for a generated one
    path = _write_jsonl(tmp_path / "t2i.jsonl", [{"id": "t2i/prompt-000", "prediction": "mine.png"}])
    assert main(["--predictions", str(path), "--out", str(tmp_path / "plain"), "--quiet", "--no-chart"]) == 0
    plain = json.loads((tmp_path / "plain" / "results.json").read_text(encoding="utf-8"))
    assert plain["results"] == [] and plain["run"]["judge"] == {}
    assert any("judge" in note for note in plain["notes"])
    args = ["--predictions", str(path), "--judge", "--profile", "tiny", "--out", str(tmp_path / "judged")]
    assert main([*args, "--quiet", "--no-chart"]) == 0
    judged = json.loads((tmp_path / "judged" / "results.json").read_text(encoding="utf-8"))
    metrics = {(r["ability"], r["metric"]): r["n"] for r in judged["results"]}
    questions = probes.text_to_image[0]["questions"]
    assert metrics["overall", "CLIPScore"] == 1 and metrics["overall", "round-trip accuracy"] == len(questions)
    assert set(judged["run"]["judge"]) == {"clip", "vqa"}


def test_without_a_model_picked_the_chinese_probes_go_to_a_model_that_reads_chinese(models):
    # BLIP, the tiny profile's Caption and Ask default, reads English only; the Chinese
    # probes go to a VLM of the picker that reads Chinese (the chat default on cpu and gpu).
    results = runner.evaluate(["vqa"], probes=load_probes(2), limit=4, cache=models, use_judges=False)
    run = results["run"]
    assert run["models"]["vqa"]["key"] == "tiny-blip-vqa"
    chinese = run["models_by_language"]["vqa"]["zh"]["key"]
    assert chinese != "tiny-blip-vqa" and "Han" in registry.CHECKPOINTS[chinese].scripts
    assert {(r["language"], r["ability"]) for r in results["results"]} >= {("en", "overall"), ("zh", "overall")}
    assert f"(zh: **{run['models_by_language']['vqa']['zh']['label']}**" in report.to_markdown(results)
    # A model that was picked answers every language.
    picked = runner.evaluate(["vqa"], {"vqa": "tiny-blip-vqa"}, probes=load_probes(2), limit=4, cache=models)
    assert picked["run"]["models_by_language"] == {}


@pytest.mark.parametrize(
    ("profile", "task", "chinese"),
    [("cpu", "caption", "qwen3.5-0.8b"), ("cpu", "vqa", "qwen3.5-0.8b"), ("gpu", "vqa", "qwen3-vl-4b")],
)
def test_each_language_has_its_default(profile, task, chinese):
    default = registry.default_checkpoint(task, profile)
    assert registry.language_default(task, "en", profile) == default
    assert registry.language_default(task, "zh", profile).key == chinese
    items = [{"id": "1", "language": "zh"}, {"id": "2"}, {"id": "3", "language": "zh"}]
    groups = runner.by_model(task, None, items, profile)
    assert [(key, [i["id"] for i in group]) for key, group in groups] == [(default.key, ["2"]), (chinese, ["1", "3"])]
    assert runner.by_model(task, "blip-base", items, profile) == [("blip-base", items)]  # picked: for all
    # Search's default reads Chinese itself.
    assert registry.language_default("retrieval", "zh", profile) == registry.default_checkpoint("retrieval", profile)


def test_no_task_or_an_unknown_one_is_refused_in_the_pages_language():
    from evaluation.runner import check_tasks
    from ui.messages import translate

    for tasks, code, chinese in (
        (["  "], "tasks_none", "请至少选择一个任务"),
        ("vqa,dance", "tasks_unknown", "未知的任务 ['dance']"),
    ):
        with pytest.raises(ValueError) as refused:
            check_tasks(tasks)
        assert refused.value.code == code and translate(refused.value, "zh-CN").startswith(chinese)
