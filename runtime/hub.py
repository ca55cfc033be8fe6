"""Finding a checkpoint: a tiny model built here, a local directory, a finished download,
the Hugging Face cache, or a download now (runtime/download.py) from the Hub when it can
be reached (one quick request decides, since the Hub client itself retries for minutes
offline), else from ModelScope where MODEL_SOURCE allows it; and how much memory it
will take."""

from __future__ import annotations

import functools
import re
import urllib.error
import urllib.request
from pathlib import Path

from runtime import download, settings
from runtime.messages import english, model_names, said
from runtime.registry import Checkpoint


class CheckpointUnavailable(RuntimeError):
    """A checkpoint is not in the local cache and can't be downloaded: ``str()`` is the
    English message; ``code`` and ``params`` let the UI say it in the page's language
    (as ``runtime.messages.InputError`` does)."""

    def __init__(self, code: str, **params):
        super().__init__(english(code, params))
        self.code = code
        self.params = params

    def __reduce__(self):
        return _unavailable, (type(self), self.code, self.params)


def _unavailable(cls, code: str, params: dict) -> CheckpointUnavailable:
    return cls(code, **params)


@functools.cache
def hub_reachable() -> bool:
    """One quick request to the Hub; the Hub client itself retries for minutes."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        urllib.request.urlopen(
            urllib.request.Request(download.hub_endpoint(), method="HEAD"), timeout=settings.HUB_CHECK_TIMEOUT
        )
    except urllib.error.HTTPError:
        return True  # the server answered
    except (OSError, ValueError):
        return False
    return True


def is_cached(checkpoint: Checkpoint) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model_index.json", "config.json"):  # diffusers, transformers
        found = try_to_load_from_cache(checkpoint.repo_id, filename, revision=checkpoint.revision)
        if isinstance(found, str):
            return True
    return False


def local(checkpoint: Checkpoint) -> str | None:
    """Where ``checkpoint`` already is on this machine (a local directory, a finished
    download, the Hugging Face cache: its Hub id), or None. Builds tiny models on first use."""
    if checkpoint.is_tiny:
        from runtime.tiny import tiny_path

        return str(tiny_path(checkpoint.repo_id))
    if Path(checkpoint.repo_id).is_dir():
        return checkpoint.repo_id
    if (done := download.downloaded(checkpoint)) is not None:
        return done["folder"]
    # Cached some other way (`hf download`, an earlier version of the app): the cache is
    # trusted unless a download of ours was cut there, leaving a config without weights.
    if not download.interrupted(checkpoint) and is_cached(checkpoint):
        return checkpoint.repo_id
    return None


def sources(checkpoint: Checkpoint) -> list[str]:
    """Where ``checkpoint`` can be downloaded from now (``download.sources``), or a
    CheckpointUnavailable that says what to do."""
    found = download.sources(checkpoint, hub_up=hub_reachable())
    if not found:
        modelscope = download.modelscope_id(checkpoint) and settings.MODEL_SOURCE != "huggingface"
        raise CheckpointUnavailable(
            "checkpoint_offline",
            model=model_names(checkpoint),
            repo=checkpoint.repo_id,
            mirror=said("offline_or_modelscope") if modelscope else "",
        )
    return found


def locate(checkpoint: Checkpoint) -> tuple[str, bool]:
    """Where ``from_pretrained`` should load ``checkpoint`` from, and whether it may
    only use local files (always, now: a checkpoint that isn't here yet is downloaded
    first, after a disk-space check, with progress through ``download.download_progress``;
    ``download.DownloadError`` when that fails)."""
    if (found := local(checkpoint)) is not None:
        return found, True
    plan = download.plan(checkpoint, sources(checkpoint)[0])
    download.check_disk([plan])
    return str(download.fetch(plan)), True


def estimate_bytes(checkpoint: Checkpoint, source: str, dtype) -> int:
    """About how much memory ``checkpoint`` takes once loaded in ``dtype``: its weight files
    (a local directory or the Hub cache; the full-precision file where a folder has a
    float16 variant too), else the registry's download size, scaled from float32."""
    import torch

    folder = Path(source) if Path(source).is_dir() else _snapshot(checkpoint)
    total = 0
    if folder is not None:
        files = [f for f in folder.rglob("*") if f.suffix in (".safetensors", ".bin") and f.is_file()]
        if any(f.suffix == ".safetensors" for f in files):
            files = [f for f in files if f.suffix == ".safetensors"]
        largest: dict[tuple, int] = {}
        for f in files:
            key = (f.parent, re.sub(r"\.(fp16|bf16|fp32)(?=\.)", "", f.name))
            largest[key] = max(largest.get(key, 0), f.stat().st_size)
        total = sum(largest.values())
    if not total:
        number, _, unit = checkpoint.size.partition(" ")
        scale = {"KB": 2**10, "MB": 2**20, "GB": 2**30}.get(unit, 0)
        total = int(float(number or 0) * scale)
    return total * torch.finfo(dtype).bits // 32


def _snapshot(checkpoint: Checkpoint) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model_index.json", "config.json"):
        found = try_to_load_from_cache(checkpoint.repo_id, filename, revision=checkpoint.revision)
        if isinstance(found, str):
            return Path(found).parent
    return None
