"""Results as files people read: ``results.json``, a Markdown report and a bar chart.

A results dict (see ``evaluation.runner``) has ``run`` (what was evaluated, how),
``results`` (rows of task, ability, metric, value, n) and ``items`` (every probe with
its prediction and score). Two results can be shown side by side (A and B) when
they come from the same probe set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from runtime.files import atomic_write_text

# The headline metric of each task, charted per ability (all on a 0-1 scale).
CHARTED = {
    "vqa": ("accuracy",),
    "text_to_image": ("round-trip accuracy",),
    "retrieval": ("R@1", "R@5", "R@10"),
    "caption": ("BLEU-4", "CIDEr", "CLIPScore"),
}
# Caption metrics have their own ranges; the chart divides them onto 0-1.
CHART_SCALE = {"CIDEr": 10.0, "CLIPScore": 100.0}
TASK_TITLES = {
    "caption": "Captioning",
    "vqa": "Visual question answering",
    "retrieval": "Image-text retrieval",
    "text_to_image": "Text-to-image",
}


def _key(row: dict) -> tuple[str, str, str, str]:
    return row["task"], row.get("language", "en"), row["ability"], row["metric"]


def comparison(a: dict, b: dict | None = None) -> list[dict]:
    """One row per (task, ability, metric) with the value of A, of B (None where B did
    not run that task) and B - A, in A's order."""
    b_rows = {_key(r): r for r in (b or {}).get("results", [])}
    rows = []
    for row in a["results"]:
        other = b_rows.get(_key(row))
        rows.append(
            {
                **row,
                "b": other["value"] if other else None,
                "b_n": other["n"] if other else None,
                "delta": other["value"] - row["value"] if other else None,
            }
        )
    return rows


def fmt(value: float | None, metric: str = "") -> str:
    if value is None:
        return "—"
    if metric in ("CLIPScore", "mean rank"):
        return f"{value:.1f}"
    return f"{value:.3f}"


def table_rows(a: dict, b: dict | None = None) -> tuple[list[str], list[list]]:
    """(headers, rows) of the results table the tab and the report show."""
    if b is None:
        headers = ["task", "language", "ability", "metric", "value", "n"]
        return headers, [
            [r["task"], r.get("language", "en"), r["ability"], r["metric"], fmt(r["value"], r["metric"]), r["n"]]
            for r in a["results"]
        ]
    headers = ["task", "language", "ability", "metric", "A", "B", "B − A", "n"]
    rows = []
    for r in comparison(a, b):
        delta = "—" if r["delta"] is None else f"{'+' if r['delta'] >= 0 else ''}{fmt(r['delta'], r['metric'])}"
        rows.append(
            [
                r["task"],
                r.get("language", "en"),
                r["ability"],
                r["metric"],
                fmt(r["value"], r["metric"]),
                fmt(r["b"], r["metric"]),
                delta,
                r["n"],
            ]
        )
    return headers, rows


def _models_line(run: dict) -> str:
    if run.get("predictions"):
        return f"predictions from `{run['predictions']}`"
    by_language = run.get("models_by_language", {})

    def models(task: str, m: dict) -> str:
        others = "".join(
            f" ({lang}: **{o['label']}**, `{o['repo_id']}`)" for lang, o in by_language.get(task, {}).items()
        )
        return f"{task}: **{m['label']}** (`{m['repo_id']}`){others}"

    return ", ".join(models(task, m) for task, m in run.get("models", {}).items())


def to_markdown(a: dict, b: dict | None = None, chart: str | None = None) -> str:
    """The report: what ran, one table per task (A and B side by side when given),
    the chart, notes, and the questions answered wrongly."""
    run = a["run"]
    lines = [
        "# Evaluation report",
        "",
        f"- probe set: v{run['probe_set']['version']} (seed {run['probe_set']['seed']}), "
        f"profile `{run.get('profile', '')}`, device `{run.get('device', '')}`, {run['created']}",
        f"- {'A: ' if b else ''}{_models_line(run)}",
    ]
    if b:
        lines.append(f"- B: {_models_line(b['run'])}")
    if run.get("judge"):
        lines.append("- judges: " + ", ".join(f"{k} **{v['label']}**" for k, v in run["judge"].items()))
    if run.get("limit"):
        lines.append(f"- at most {run['limit']} items per task")
    lines.append("")
    headers, rows = table_rows(a, b)
    for task in dict.fromkeys(r[0] for r in rows):
        lines += [
            f"## {TASK_TITLES.get(task, task)}",
            "",
            "| " + " | ".join(headers[1:]) + " |",
            "|" + "---|" * (len(headers) - 1),
        ]
        lines += ["| " + " | ".join(str(c) for c in row[1:]) + " |" for row in rows if row[0] == task]
        lines.append("")
    if chart:
        lines += [f"![Scores per ability]({chart})", ""]
    notes = a.get("notes", []) + [f"B: {n}" for n in (b or {}).get("notes", [])]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    wrong = [i for i in a.get("items", []) if i["task"] == "vqa" and i["scores"]["accuracy"] < 1.0]
    if wrong:
        lines += [
            "## Questions answered wrongly" + (" (A)" if b else ""),
            "",
            "| image | ability | question | expected | answer |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {i['image']} | {i['ability']} | {i['input']} | {' / '.join(i['reference'])} | {_cell(i['prediction'])} |"
            for i in wrong[:25]
        ]
        if len(wrong) > 25:
            lines.append(f"\n…and {len(wrong) - 25} more in results.json.")
        lines.append("")
    return "\n".join(lines)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or "(empty)"


def chart(results: list[dict], labels: list[str] | None = None, words: dict[str, str] | None = None):
    """A matplotlib figure: one panel per task, the headline metrics per ability on a
    0-1 scale, one bar colour per results dict (A and B side by side). ``words`` gives
    the panels' titles and the ticks' words in the page's language ("title.vqa",
    "ability.count", "language.zh"; English where missing). Tick labels are one line
    each, turned upright when a panel has too many to sit side by side, so none overlap."""
    import numpy as np

    from explain.heatmaps import new_figure

    words = words or {}
    labels = labels or [chr(ord("A") + i) for i in range(len(results))]
    tasks = [t for t in CHARTED if any(r["task"] == t for res in results for r in res["results"])]
    fig = new_figure(11, 3.6 * max(1, len(tasks)))  # one panel per row: room for every tick
    fig.set_layout_engine("constrained")
    if not tasks:
        return fig
    axes = fig.subplots(len(tasks), 1, squeeze=False).flatten()
    width = 0.8 / len(results)
    for ax, task in zip(axes, tasks, strict=False):
        keys = [_bar(r) for r in results[0]["results"] if r["task"] == task and r["metric"] in CHARTED[task]]
        for res in results[1:]:
            keys += [
                k
                for k in (_bar(r) for r in res["results"] if r["task"] == task and r["metric"] in CHARTED[task])
                if k not in keys
            ]
        x = np.arange(len(keys))
        for i, (res, label) in enumerate(zip(results, labels, strict=True)):
            values = {
                _bar(r): r["value"] / CHART_SCALE.get(r["metric"], 1.0) for r in res["results"] if r["task"] == task
            }
            heights = [values.get(k, np.nan) for k in keys]
            bars = ax.bar(x + (i - (len(results) - 1) / 2) * width, heights, width, label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
        names = [_tick(task, ability, metric, words) + _language(lang, words) for lang, ability, metric in keys]
        upright = len(keys) > 8
        ax.set_xticks(x, names, rotation=90 if upright else 0, fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_title(words.get(f"title.{task}", TASK_TITLES[task]), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    if len(results) > 1:  # one legend for all panels, above them, clear of the bars
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(results), fontsize=9)
    return fig


def _bar(row: dict) -> tuple[str, str, str]:
    """What a bar stands for: (language, ability, metric)."""
    return row.get("language", "en"), row["ability"], row["metric"]


def _word(key: str, words: dict[str, str], default: str) -> str:
    return words.get(key, default)


def _language(lang: str, words: dict[str, str]) -> str:
    return "" if lang == "en" else f" ({_word(f'language.{lang}', words, lang)})"


def _tick(task: str, ability: str, metric: str, words: dict[str, str] | None = None) -> str:
    words = words or {}
    if task == "retrieval":
        direction = _word(f"ability.{ability}", words, ability.replace("_to_", "→"))
        return f"{direction} {metric}"
    name = _word(f"ability.{ability.replace('/', '_')}", words, ability)
    if task == "caption":
        scale = CHART_SCALE.get(metric)
        return f"{metric} ÷{scale:g} · {name}" if scale else f"{metric} · {name}"
    return name


def write_report(
    results: dict, out_dir: Path, baseline: dict | None = None, with_chart: bool = True
) -> dict[str, Path]:
    """Write ``results.json``, ``report.md`` and (with matplotlib) ``chart.png`` into
    ``out_dir``; return their paths by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "report.md"}
    atomic_write_text(paths["json"], json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    chart_name = None
    if with_chart:
        figure = chart([results] + ([baseline] if baseline else []))
        paths["chart"] = out_dir / "chart.png"
        tmp = out_dir / ".chart.png.tmp"
        figure.savefig(tmp, dpi=110, format="png")
        os.replace(tmp, paths["chart"])
        chart_name = paths["chart"].name
    atomic_write_text(paths["markdown"], to_markdown(results, baseline, chart_name))
    return paths
