"""Run the app's models over the probe set, or read another model's predictions, and
score them.

Models come from the app's one model cache (``pipelines.cache.MODELS``) and registry,
so the same checkpoints, profiles and tiny stand-ins apply as in the tabs. Every run
goes in two steps: *predict* (a caption, an answer, a ranking or an image per probe
item) and *score* (the same code for the app's models and for predictions read from
a file, so both are measured on the same footing).

Two models judge what cannot be checked against text: CLIPScore uses a CLIP model
(the profile's retrieval checkpoint unless told otherwise) and the text-to-image round
trip asks a VQA model (the profile's VQA checkpoint) about each generated image.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from evaluation import metrics
from evaluation.probes import ABILITIES, TASKS, ProbeSet, language, load_probes
from runtime.inputs import check_number, collect_notices, load_image
from runtime.messages import InputError, Notice

Progress = Callable[[int, int, str], None]  # (done, total, what is happening)
T2I_SEED = 0  # prompt i is drawn with seed T2I_SEED + i, so a rerun draws the same images
HIGHER_IS_BETTER = {"mean rank": False}


def check_tasks(tasks) -> list[str]:
    """Tasks as a list or a comma-separated string -> known tasks in the usual order."""
    if isinstance(tasks, str):
        tasks = tasks.split(",")
    tasks = [str(t).strip() for t in (tasks or []) if str(t).strip()]
    if not tasks:
        raise InputError("tasks_none", tasks=str(list(TASKS)))
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise InputError("tasks_unknown", unknown=str(unknown), tasks=str(list(TASKS)))
    return [t for t in TASKS if t in tasks]


def check_limit(limit) -> int | None:
    if limit is None or limit == 0:
        return None
    return check_number("limit", limit, 1, 100_000)


def select(probes: ProbeSet, task: str, limit: int | None = None) -> list[dict]:
    """The items of ``task`` to run: all of them, or ``limit`` taken in turn from each
    ability (VQA) or image source (captions, retrieval), so that a quick run still
    covers everything. Retrieval counts images: each comes with all its captions."""
    items = list(probes.items(task))
    if limit is None or limit >= len(items):
        return items
    if task == "vqa":
        key = lambda item: (language(item), item["ability"])  # noqa: E731
    elif task == "text_to_image":
        key = lambda item: ""  # noqa: E731
    else:
        key = lambda item: (language(item), probes.source(item["image"]))  # noqa: E731
    found: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        found[key(item)].append(item)
    # Languages in turn within each ability (or source): a quick run covers both.
    subs = list(dict.fromkeys(k[1] for k in found if isinstance(k, tuple)))
    ranked = sorted(found, key=lambda k: (subs.index(k[1]), k[0] != "en") if isinstance(k, tuple) else (0, False))
    groups = {k: found[k] for k in ranked}
    chosen: set[str] = set()
    while len(chosen) < limit:
        for group in groups.values():
            if group and len(chosen) < limit:
                chosen.add(group.pop(0)["id"])
    return [item for item in items if item["id"] in chosen]


# --- Predicting with the app's models -------------------------------------------------


def predict_captions(pipe, probes: ProbeSet, items: list[dict], step: Callable[[str], None]) -> dict[str, str]:
    predictions = {}
    for item in items:
        # The Caption tab's default settings; a vision-language model is asked in the
        # caption's language (BLIP writes English whatever the reference's language).
        options = {"language": language(item)} if hasattr(pipe, "chat") else {}
        predictions[item["id"]] = pipe(probes.image(item["image"]), **options)
        step(f"caption · {item['image']}")
    return predictions


def predict_vqa(pipe, probes: ProbeSet, items: list[dict], step: Callable[[str], None]) -> dict[str, str]:
    predictions = {}
    for item in items:
        predictions[item["id"]] = pipe(probes.image(item["image"]), item["question"])
        step(f"vqa · {item['image']} · {item['question']}")
    return predictions


def retrieval_pool(probes: ProbeSet, items: list[dict], lang: str | None = None) -> tuple[list[str], list[dict]]:
    """The images of ``items`` and all their captions (those in ``lang`` only, when
    given): what retrieval ranks."""
    images = list(dict.fromkeys(item["image"] for item in items))
    _, texts = probes.retrieval
    keep = set(images)
    return images, [t for t in texts if t["image"] in keep and lang in (None, t["language"])]


def predict_retrieval(pipe, probes: ProbeSet, items: list[dict], step: Callable[[str], None]) -> dict[str, list[str]]:
    """For each image a ranking of the pool's texts, for each text a ranking of its images."""
    images, texts = retrieval_pool(probes, items)
    image_embeddings = pipe.embed_images([probes.image(i) for i in images])  # (I, D), unit vectors
    step(f"retrieval · {len(images)} images embedded")
    text_embeddings = pipe.embed_texts([t["text"] for t in texts])  # (T, D)
    similarity = image_embeddings @ text_embeddings.T  # (I, T) cosine similarities
    predictions = {}
    for i, image in enumerate(images):
        predictions[f"retrieval/{image}"] = [texts[j]["id"] for j in np.argsort(-similarity[i], kind="stable")]
    for j, text in enumerate(texts):
        predictions[text["id"]] = [images[i] for i in np.argsort(-similarity[:, j], kind="stable")]
    step(f"retrieval · {len(texts)} captions embedded")
    return predictions


def predict_text_to_image(pipe, probes: ProbeSet, items: list[dict], step: Callable[[str], None]) -> dict:
    seeds = {item["id"]: T2I_SEED + n for n, item in enumerate(probes.text_to_image)}
    predictions = {}
    for item in items:
        predictions[item["id"]] = pipe(item["prompt"], seed=seeds[item["id"]])[0]  # the checkpoint's defaults
        step(f"text_to_image · {item['prompt']}")
    return predictions


PREDICT = {
    "caption": predict_captions,
    "vqa": predict_vqa,
    "retrieval": predict_retrieval,
    "text_to_image": predict_text_to_image,
}


# The tasks whose Chinese items go to a model that reads Chinese when none was picked.
PER_LANGUAGE = ("caption", "vqa")


def by_model(
    task: str, key: str | None, items: list[dict], profile: str | None = None
) -> list[tuple[str | None, list]]:
    """``items`` grouped by the checkpoint that predicts them, the task's default first: all
    by ``key`` when one was picked; else, for Caption and VQA, each by the profile's default
    for its language (``registry.language_default``: where the task's default, BLIP, reads
    English only, the Chinese probes go to the chat default, a Qwen VLM on the cpu and gpu
    profiles, asked in Chinese)."""
    from runtime import registry

    if key or task not in PER_LANGUAGE:
        return [(key, items)]
    default = registry.default_checkpoint(task, profile).key
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(registry.language_default(task, language(item), profile).key, []).append(item)
    return sorted(groups.items(), key=lambda group: group[0] != default) or [(None, items)]


def _steps(task: str, items: list[dict]) -> int:
    return 2 if task == "retrieval" else len(items)


# --- Reading predictions from a file -----------------------------------------------------


def task_of(item_id: str) -> str:
    prefix = str(item_id).split("/", 1)[0]
    return {"t2i": "text_to_image"}.get(prefix, prefix)


def read_predictions(path: str | Path, probes: ProbeSet) -> dict[str, Any]:
    """Predictions from a JSON-lines file of ``{"id": ..., "prediction": ...}``: a
    caption or an answer (str), a ranking of ids (list, retrieval) or an image file
    (str, text_to_image; relative to the file). Refuses unknown ids, duplicates and
    predictions of the wrong type, naming the line."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"The predictions file {path.name!r} does not exist.")
    known = {task: set(probes.ids(task)) for task in TASKS}
    predictions: dict[str, Any] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error.msg}).") from None
        if not isinstance(record, dict) or "id" not in record or "prediction" not in record:
            raise ValueError(f'{where}: each line must be an object {{"id": ..., "prediction": ...}}.')
        item_id, prediction = str(record["id"]), record["prediction"]
        task = task_of(item_id)
        if task not in known or item_id not in known[task]:
            raise ValueError(
                f"{where}: unknown id {item_id!r}; ids look like 'caption/scene-000', "
                "'vqa/scene-000/0', 'retrieval/scene-000', 'retrieval/scene-000/0', 't2i/prompt-000'."
            )
        if item_id in predictions:
            raise ValueError(f"{where}: a second prediction for {item_id!r}.")
        if task == "retrieval":
            if not isinstance(prediction, list) or not all(isinstance(x, str) for x in prediction):
                raise ValueError(f"{where}: a retrieval prediction is a list of ids, best first.")
        elif not isinstance(prediction, str):
            raise ValueError(f"{where}: a {task} prediction is a string, not {type(prediction).__name__}.")
        if task == "text_to_image":
            image = (path.parent / prediction).resolve()
            try:
                load_image(image)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            prediction = str(image)
        predictions[item_id] = prediction
    if not predictions:
        raise ValueError(f"The predictions file {path.name!r} has no predictions.")
    return predictions


def reference_predictions(probes: ProbeSet, tasks=TASKS) -> list[dict]:
    """The ground truth written as predictions: the first reference caption, the first
    accepted answer, rankings with the right answers first. It scores 1.0 on VQA
    accuracy and on every recall; it shows the file format."""
    records = []
    if "caption" in tasks:
        records += [{"id": item["id"], "prediction": item["references"][0]} for item in probes.captions]
    if "vqa" in tasks:
        records += [{"id": item["id"], "prediction": item["answers"][0]} for item in probes.vqa]
    if "retrieval" in tasks:
        images, texts = probes.retrieval
        for image in images:
            ranked = sorted(texts, key=lambda t: t["image"] != image)
            records.append({"id": f"retrieval/{image}", "prediction": [t["id"] for t in ranked]})
        for text in texts:
            records.append({"id": text["id"], "prediction": sorted(images, key=lambda i: i != text["image"])})
    return records


# --- Scoring ---------------------------------------------------------------------------------


@dataclass
class Judges:
    """Models that score what text matching can't: CLIP for CLIPScore, VQA for the round trip."""

    clip: Any = None  # a pipelines.cache.Loaded retrieval entry
    vqa: Any = None  # a pipelines.cache.Loaded VQA entry


def _row(task: str, ability: str, metric: str, value: float, n: int, lang: str = "en") -> dict:
    better = "higher" if HIGHER_IS_BETTER.get(metric, True) else "lower"
    return {
        "task": task,
        "language": lang,
        "ability": ability,
        "metric": metric,
        "value": float(value),
        "n": int(n),
        "better": better,
    }


def score_by_language(score, probes, items, predictions, judges) -> tuple[list[dict], list[dict]]:
    """``score`` run on the items of each language apart: every row and item says its
    language, so a model is reported in English and in Chinese separately."""
    rows, scored = [], []
    for lang in dict.fromkeys(language(item) for item in items):
        group = [item for item in items if language(item) == lang]
        lang_rows, lang_items = score(probes, group, predictions, judges)
        rows += [{**row, "language": lang} for row in lang_rows]
        scored += [{**item, "language": lang} for item in lang_items]
    return rows, scored


def _groups(items: list[dict], key: str, order=()) -> list[tuple[str, list[dict]]]:
    """("overall", all items) then one group per value of ``key``, in ``order`` first."""
    found = list(dict.fromkeys(item[key] for item in items))
    ordered = [k for k in order if k in found] + [k for k in found if k not in order]
    return [("overall", items)] + [(k, [i for i in items if i[key] == k]) for k in ordered]


def score_captions(probes, items, predictions, judges: Judges) -> tuple[list[dict], list[dict]]:
    scored = [
        {
            "task": "caption",
            "id": i["id"],
            "image": i["image"],
            "ability": probes.source(i["image"]),
            "input": "",
            "reference": i["references"],
            "prediction": str(predictions[i["id"]]),
            "scores": {},
        }
        for i in items
        if i["id"] in predictions
    ]
    if judges.clip is not None:
        clip = metrics.clip_scores(
            judges.clip.pipeline, [probes.image(i["image"]) for i in scored], [i["prediction"] for i in scored]
        )
        for item, value in zip(scored, clip, strict=True):
            item["scores"]["CLIPScore"] = value
    rows = []
    for ability, group in _groups(scored, "ability", ("synthetic", "photo")):
        if not group:
            continue
        references = {i["id"]: i["reference"] for i in group}
        guesses = {i["id"]: i["prediction"] for i in group}
        bleu, bleu_items = metrics.bleu4(references, guesses)
        cider, cider_items = metrics.cider(references, guesses)
        rows += [
            _row("caption", ability, "BLEU-4", bleu, len(group)),
            _row("caption", ability, "CIDEr", cider, len(group)),
        ]
        if ability == "overall":
            for item in group:
                item["scores"].update({"BLEU-4": bleu_items[item["id"]], "CIDEr": cider_items[item["id"]]})
        if judges.clip is not None:
            rows.append(
                _row("caption", ability, "CLIPScore", np.mean([i["scores"]["CLIPScore"] for i in group]), len(group))
            )
    return rows, scored


def score_vqa(probes, items, predictions, judges: Judges) -> tuple[list[dict], list[dict]]:
    scored = []
    for item in items:
        if item["id"] in predictions:
            answer = str(predictions[item["id"]])
            scored.append(
                {
                    "task": "vqa",
                    "id": item["id"],
                    "image": item["image"],
                    "ability": item["ability"],
                    "input": item["question"],
                    "reference": item["answers"],
                    "prediction": answer,
                    "scores": {"accuracy": metrics.vqa_accuracy(answer, item["answers"], language(item))},
                }
            )
    rows = [
        _row("vqa", ability, "accuracy", np.mean([i["scores"]["accuracy"] for i in group]), len(group))
        for ability, group in _groups(scored, "ability", ABILITIES)
        if group
    ]
    return rows, scored


def score_retrieval(probes, items, predictions, judges: Judges) -> tuple[list[dict], list[dict]]:
    # An image's ranking counts only the texts in the items' language (score_by_language).
    images, texts = retrieval_pool(probes, items, language(items[0]) if items else None)
    rows, scored = [], []
    directions = [
        (
            "image_to_text",
            [f"retrieval/{i}" for i in images],
            [t["id"] for t in texts],
            lambda q, c: q.removeprefix("retrieval/") == owner[c],
        ),
        ("text_to_image", [t["id"] for t in texts], images, lambda q, c: owner[q] == c),
    ]
    owner = {t["id"]: t["image"] for t in texts}
    text_of = {t["id"]: t["text"] for t in texts}
    for direction, queries, candidates, is_right in directions:
        queries = [q for q in queries if q in predictions]
        if not queries:
            continue
        column = {c: n for n, c in enumerate(candidates)}
        # A ranking becomes scores: the first gets 0, the next -1, ...; unranked candidates tie last.
        similarity = np.full((len(queries), len(candidates)), -float(len(candidates) + 1))
        relevant = np.zeros_like(similarity, dtype=bool)
        for row, query in enumerate(queries):
            ranked = [c for c in predictions[query] if c in column]
            for position, candidate in enumerate(ranked):
                similarity[row, column[candidate]] = -position
            relevant[row] = [is_right(query, c) for c in candidates]
        result = metrics.retrieval_scores(similarity, relevant)
        for k in ("R@1", "R@5", "R@10"):
            rows.append(_row("retrieval", direction, k, result[k], len(queries)))
        rows.append(_row("retrieval", direction, "mean rank", result["mean rank"], len(queries)))
        for row, query in enumerate(queries):
            top = [candidates[j] for j in np.argsort(-similarity[row], kind="stable")[:5]]
            scored.append(
                {
                    "task": "retrieval",
                    "id": query,
                    "image": owner.get(query, query.removeprefix("retrieval/")),
                    "ability": direction,
                    "input": text_of.get(query, query.removeprefix("retrieval/")),
                    "reference": [c for c in candidates if is_right(query, c)],
                    "prediction": top,
                    "scores": {"rank": result["ranks"][row]},
                }
            )
    return rows, scored


def score_text_to_image(probes, items, predictions, judges: Judges, step=None) -> tuple[list[dict], list[dict]]:
    items = [i for i in items if i["id"] in predictions]
    images = {i["id"]: load_image(predictions[i["id"]]) for i in items}
    scored = []
    for item in items:
        entry = {
            "task": "text_to_image",
            "id": item["id"],
            "image": "",
            "ability": "overall",
            "input": item["prompt"],
            "reference": [],
            "prediction": predictions[item["id"]],
            "scores": {},
            "round_trip": [],
        }
        if judges.clip is not None:
            entry["scores"]["CLIPScore"] = metrics.clip_scores(
                judges.clip.pipeline, [images[item["id"]]], [item["prompt"]]
            )[0]
        if judges.vqa is not None:
            for qa in item["questions"]:
                answer = judges.vqa.pipeline(images[item["id"]], qa["question"])
                entry["round_trip"].append(
                    {**qa, "answer": answer, "accuracy": metrics.vqa_accuracy(answer, qa["answers"])}
                )
                if step:
                    step(f"round trip · {qa['question']}")
            entry["scores"]["round-trip accuracy"] = float(np.mean([q["accuracy"] for q in entry["round_trip"]]))
        scored.append(entry)
    rows = []
    if judges.clip is not None and scored:
        rows.append(
            _row(
                "text_to_image",
                "overall",
                "CLIPScore",
                np.mean([i["scores"]["CLIPScore"] for i in scored]),
                len(scored),
            )
        )
    answers = [q for i in scored for q in i["round_trip"]]
    for ability, group in _groups(answers, "ability", ABILITIES) if answers else []:
        if group:
            rows.append(
                _row(
                    "text_to_image", ability, "round-trip accuracy", np.mean([q["accuracy"] for q in group]), len(group)
                )
            )
    return rows, scored


SCORE = {
    "caption": score_captions,
    "vqa": score_vqa,
    "retrieval": score_retrieval,
    "text_to_image": score_text_to_image,
}


# --- Running ---------------------------------------------------------------------------------


def describe_checkpoint(entry) -> dict:
    c = entry.checkpoint
    return {"key": c.key, "label": c.label, "repo_id": c.repo_id, "revision": c.revision}


def _versions() -> dict[str, str]:
    found = {}
    for name in ("torch", "transformers", "diffusers", "pycocoevalcap", "torchmetrics", "nltk", "pillow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def _needs_judges(tasks: list[str]) -> tuple[bool, bool]:
    return ("caption" in tasks or "text_to_image" in tasks), "text_to_image" in tasks


def evaluate(
    tasks=TASKS,
    models: dict[str, str | None] | None = None,
    *,
    probes: ProbeSet | None = None,
    limit: int | None = None,
    judges: dict[str, str | None] | None = None,
    predictions: dict[str, Any] | None = None,
    predictions_name: str = "predictions",
    use_judges: bool = True,
    image_dir: Path | None = None,
    cache=None,
    progress: Progress | None = None,
) -> dict:
    """Evaluate ``tasks`` and return the results dict (see ``evaluation.report``).

    With ``predictions`` (id -> prediction, e.g. from ``read_predictions``) nothing is
    predicted: those are scored. Otherwise the checkpoints in ``models`` (task -> key,
    the profile's default where missing) predict. ``judges`` picks the CLIP
    (``{"clip": key}``) and VQA (``{"vqa": key}``) judges; ``use_judges=False`` skips
    the metrics that need them (CLIPScore, round trip). Generated images are saved in
    ``image_dir`` when given."""
    from pipelines.cache import MODELS
    from runtime.devices import pick_device

    tasks = check_tasks(tasks)
    limit = check_limit(limit)
    cache = cache or MODELS
    probes = probes or load_probes()
    models = {task: (key or None) for task, key in (models or {}).items()}
    judges = judges or {}
    unknown = sorted(set(models) - set(TASKS)) + sorted(set(judges) - {"clip", "vqa"})
    if unknown:
        raise ValueError(f"Unknown model slot(s) {unknown}; tasks are {list(TASKS)}, judges are ['clip', 'vqa'].")
    from runtime import registry

    for task, key in [*models.items(), *(("retrieval" if j == "clip" else "vqa", k) for j, k in judges.items())]:
        if key:  # an unknown checkpoint is refused now, not after minutes of other tasks
            registry.get_checkpoint(task, key, getattr(cache, "profile", None))
    selection = {task: select(probes, task, limit) for task in tasks}
    predicted = predictions is None
    if not predicted:
        tasks = [t for t in tasks if any(task_of(i) == t for i in predictions)]
        if not tasks:
            raise ValueError("The predictions are for none of the chosen tasks.")
    need_clip, need_vqa = _needs_judges(tasks) if use_judges else (False, False)
    # Progress counts model calls: one per item predicted (two for all of retrieval)
    # and one per round-trip question.
    total = sum(_steps(t, selection[t]) for t in tasks) if predicted else 0
    if need_vqa:
        total += sum(len(item["questions"]) for item in selection["text_to_image"])
    done = 0

    def report(text: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(min(done, total), total, text)

    def load(task: str, key: str | None):
        return cache.get(
            task, key, on_load=lambda c: progress(done, total, f"Loading {c.label}…") if progress else None
        )

    run: dict[str, Any] = {
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "profile": getattr(cache, "profile", None) or "",
        "device": pick_device(),
        "probe_set": {"version": probes.version, "seed": probes.seed},
        "tasks": tasks,
        "limit": limit,
        "models": {},
        "models_by_language": {},  # task -> language -> checkpoint, where not "models"' one
        "judge": {},
        "predictions": None if predicted else predictions_name,
        "seconds": {},
        "versions": _versions(),
    }
    notes: list[str] = []

    # 1. Predict, unless predictions were given
    if predicted:
        predictions = {}
        for task in tasks:
            start = time.perf_counter()
            for key, items in by_model(task, models.get(task), selection[task], run["profile"] or None):
                entry = load(task, key)
                if task not in run["models"]:
                    run["models"][task] = describe_checkpoint(entry)
                else:  # the default for another language (by_model)
                    languages = dict.fromkeys(language(item) for item in items)
                    run["models_by_language"].setdefault(task, {}).update(
                        {lang: describe_checkpoint(entry) for lang in languages}
                    )
                if entry.notice:
                    notes.append(entry.notice)
                with collect_notices() as said:  # about the probe set, not about anything the user wrote
                    predictions.update(PREDICT[task](entry.pipeline, probes, items, report))
                notes += probe_notes(task, said)
            run["seconds"][task] = round(time.perf_counter() - start, 2)

    # 2. Load the judges the chosen tasks need
    chosen = Judges(
        clip=load("retrieval", judges.get("clip")) if need_clip else None,
        vqa=load("vqa", judges.get("vqa")) if need_vqa else None,
    )
    for name, entry in (("clip", chosen.clip), ("vqa", chosen.vqa)):
        if entry is not None:
            run["judge"][name] = describe_checkpoint(entry)
    if not use_judges and any(t in tasks for t in ("caption", "text_to_image")):
        notes.append(Notice("eval_no_judges"))

    # 3. Score
    rows, items = [], []
    for task in tasks:
        start = time.perf_counter()
        if task == "text_to_image":
            task_rows, task_items = score_text_to_image(probes, selection[task], predictions, chosen, report)
            _keep_images(task_items, image_dir)
        else:
            task_rows, task_items = score_by_language(SCORE[task], probes, selection[task], predictions, chosen)
        rows += task_rows
        items += task_items
        run["seconds"][task] = round(run["seconds"].get(task, 0) + time.perf_counter() - start, 2)
        if task != "retrieval" and len(task_items) < len(selection[task]):
            missing = len(selection[task]) - len(task_items)
            notes.append(
                Notice(
                    "eval_missing",
                    task=task,
                    missing=missing,
                    count=len(selection[task]),
                )
            )
    if "retrieval" in tasks and len(selection["retrieval"]) <= 10:
        pool = len(selection["retrieval"])
        notes.append(
            Notice(
                "eval_small_pool",
                task="retrieval",
                count=pool,
            )
        )
    return {"run": run, "results": rows, "items": items, "notes": notes}


def probe_notes(task: str, said: list[str]) -> list[str]:
    """What a model said while reading the probe items, as notes on the run: the probes are
    the bundled set's, so "the question is written in Chinese" or "the text is 79 tokens
    long, shorten it" would send the user to fields they never touched. A script the model
    can't read and texts cut to its length become one note each per task; other notices
    are kept as said."""
    notes: list[str] = []
    for notice in said:
        code, params = getattr(notice, "code", ""), getattr(notice, "params", {})
        if code in ("script_unreadable", "script_unreadable_nobody"):
            notes.append(
                Notice(
                    "eval_unreadable",
                    task=task,
                    reads=params["reads"],
                    missing=params["missing"],
                )
            )
        elif code == "text_truncated":
            notes.append(
                Notice(
                    "eval_truncated",
                    task=task,
                    limit=params["limit"],
                )
            )
        else:
            notes.append(notice)
    return list(dict.fromkeys(notes))


def _keep_images(items: list[dict], image_dir: Path | None) -> None:
    """Generated images go to ``image_dir`` as PNG (the item then names its file, relative
    to the report); without a folder the item says the image was not kept."""
    from PIL import Image

    for item in items:
        if isinstance(item["prediction"], Image.Image):
            if image_dir is None:
                item["prediction"] = "(image not saved)"
                continue
            image_dir = Path(image_dir)
            image_dir.mkdir(parents=True, exist_ok=True)
            name = item["id"].replace("/", "-") + ".png"
            item["prediction"].save(image_dir / name)
            item["prediction"] = f"{image_dir.name}/{name}"
