"""Preparing a machine before class: every model a profile uses (or the tasks and models
named) downloaded in one go, with one disk-space check before anything is written, one
progress count over all of them, and a summary of what is ready; afterwards
``HF_HUB_OFFLINE=1 make run`` works without a network. ``python -m runtime download``
and the Models panel (for the teacher) both run it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from runtime import download, registry
from runtime.download import DownloadError, size_text
from runtime.hub import CheckpointUnavailable, local, sources
from runtime.registry import Checkpoint


@dataclass
class Prepared:
    """One checkpoint after ``prepare``: "here" (it already was), "downloaded" or "failed"."""

    checkpoint: Checkpoint
    status: str
    origin: dict  # download.origin: where it came from
    nbytes: int = 0  # downloaded now
    error: Exception | None = None  # why it failed: a DownloadError (its code says it in the page's language)


def checkpoints(profile: str | None = None, names: list[str] | None = None, every: bool = False) -> list[Checkpoint]:
    """The real checkpoints to fetch under ``profile``: each task's default (after MODEL_<TASK>),
    or, with ``every``, everything its model picker offers; ``names`` narrows it to some tasks
    ("caption") or picks registry keys ("blip-large"). Text-to-image brings its safety checker."""
    concrete = registry.resolve_profile(profile)
    tasks, picked = list(registry.TASKS), []
    if names:
        tasks = []
        for name in names:
            if name in registry.TASKS:
                tasks.append(name)
            elif name in registry.CHECKPOINTS:
                picked.append(registry.CHECKPOINTS[name])
            else:
                raise ValueError(
                    f"{name!r} is neither a task ({', '.join(registry.TASKS)}) nor a known checkpoint "
                    f"({', '.join(k for k, c in registry.CHECKPOINTS.items() if not c.is_tiny)})."
                )
        if "text_to_image" in tasks + [c.task for c in picked] and "safety_checker" not in tasks:
            tasks.append("safety_checker")
    for task in tasks:
        if every and task != "safety_checker":
            picked += [c for c in registry.choices(task, concrete) if c.task == task]
        else:
            picked.append(registry.default_checkpoint(task, concrete))
    unique = {}
    for checkpoint in picked:
        if not checkpoint.is_tiny:
            unique.setdefault(checkpoint.repo_id, checkpoint)
    return list(unique.values())


def prepare(wanted: list[Checkpoint], progress: Callable[[int, int], None] | None = None) -> list[Prepared]:
    """Download what of ``wanted`` isn't here yet; ``progress(done, total)`` in bytes over all
    of them. Raises DownloadError("download_disk") before writing anything when they don't
    fit; any other failure is one model's, said in its row, and the others go on."""
    results: dict[str, Prepared] = {}
    plans = []
    for checkpoint in wanted:
        try:
            if local(checkpoint) is not None:
                results[checkpoint.repo_id] = Prepared(checkpoint, "here", download.origin(checkpoint))
                continue
            plans.append(download.plan(checkpoint, sources(checkpoint)[0]))
        except (CheckpointUnavailable, DownloadError) as error:
            results[checkpoint.repo_id] = Prepared(checkpoint, "failed", {}, error=error)
    download.check_disk(plans)
    total, base = sum(p.needed for p in plans), 0
    for plan in plans:

        def report(done: int, plan=plan, base=base) -> None:
            if progress is not None:
                progress(base + min(done, plan.needed), total)

        try:
            download.fetch(plan, report)
            results[plan.checkpoint.repo_id] = Prepared(
                plan.checkpoint, "downloaded", download.origin(plan.checkpoint), plan.needed
            )
        except DownloadError as error:
            results[plan.checkpoint.repo_id] = Prepared(plan.checkpoint, "failed", {}, error=error)
        base += plan.needed
    return [results[c.repo_id] for c in wanted]


def summary(results: list[Prepared], profile: str) -> str:
    """The results as plain text, one line per model, then how to start the app offline."""
    lines = []
    for r in results:
        name = f"{r.checkpoint.task}: {r.checkpoint.label} ({r.checkpoint.repo_id})"
        if r.status == "failed":
            lines.append(f"  ✗ {r.checkpoint.task}: {r.error}")
            continue
        where = r.origin.get("kind", "") + (f" ({r.origin['where']})" if r.origin.get("where") else "")
        done = f"downloaded {size_text(r.nbytes)}" if r.status == "downloaded" else "already here"
        lines.append(f"  ✓ {name}: {done}, from {where}")
    ready = sum(r.status != "failed" for r in results)
    lines.append(f"{ready} of {len(results)} models ready.")
    if ready == len(results):
        lines.append(f'Start the app without a network: HF_HUB_OFFLINE=1 make run ARGS="--profile {profile}"')
    return "\n".join(lines)
