"""Downloading a checkpoint before it loads: the files its pipeline reads, from the
Hugging Face Hub (or the mirror that huggingface_hub's ``HF_ENDPOINT`` names) or from
ModelScope (``MODEL_SOURCE``), with a disk-space check before anything is written,
progress while it runs, and one clear message for each way it can fail.

The bytes move through the libraries' own code (huggingface_hub's ``snapshot_download``,
modelscope's), which write each file beside its place, rename it when it is whole, and
resume a cut connection with a ``Range`` request (huggingface_hub within the same try, as
it discards a half-written file after a failed one; modelscope on the next try too). On
top of that, a manifest
(``DATA_DIR/downloads/<source>-<cache>/<owner>--<name>@<revision>.json``) is written "started"
before the first byte and "complete" after the last: only a complete one counts, so a
snapshot cut in the middle (its config there, its weights not) is never loaded, and the
manifest says where each model came from (the Models panel shows it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
import json
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from runtime import registry, settings
from runtime.devices import cuda_available
from runtime.files import atomic_write_text
from runtime.messages import english, said
from runtime.registry import Checkpoint

SOURCES = ("auto", "huggingface", "modelscope")
HUB = "https://huggingface.co"
# What no pipeline here reads: other frameworks' weights, exports, media and git files.
SKIPPED = (
    ".h5",
    ".msgpack",
    ".onnx",
    ".onnx_data",
    ".tflite",
    ".ot",
    ".gguf",
    ".mlmodel",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".webp",
    ".mp4",
    ".wav",
    ".mp3",
    ".gitattributes",
)
SKIPPED_FOLDERS = ("onnx/", "openvino/", "coreml/", "flax/", ".git/")
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
# A weights file's precision variant ("unet/diffusion_pytorch_model.fp16.safetensors").
_VARIANT = re.compile(r"\.(fp16|bf16|fp32|non_ema|ema)(?=\.(safetensors|bin)$)")
_FP16 = re.compile(r"(.*)(\.(?:safetensors|bin))$")  # a weights file's name, to spell its fp16 variant
# Called with (bytes done, bytes in all) while a download inside ``download_progress`` runs.
_progress: ContextVar[Callable[[int, int], None] | None] = ContextVar("download_progress", default=None)


class DownloadError(RuntimeError):
    """A download that can't be done: the repository missing, gated or private, the server
    failing or out of reach, or too little disk space. ``str()`` is the English message;
    ``code`` and ``params`` let the UI say it in the page's language (runtime/locales/*/messages.json)."""

    def __init__(self, code: str, **params):
        super().__init__(english(code, params))
        self.code = code
        self.params = params


@dataclasses.dataclass
class Plan:
    """What downloading ``checkpoint`` from ``source`` takes: the files chosen (path, bytes)
    and the bytes not on the disk yet."""

    checkpoint: Checkpoint
    source: str  # "huggingface" or "modelscope"
    repo_id: str  # the id on that source
    files: list[tuple[str, int]]
    needed: int

    @property
    def total(self) -> int:
        return sum(size for _, size in self.files)


def size_text(nbytes: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"


@contextlib.contextmanager
def download_progress(callback: Callable[[int, int], None]) -> Iterator[None]:
    """Call ``callback(done, total)`` (bytes) while a download inside the block runs, in
    the caller's own thread (a Gradio progress bar works only there)."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


# --- Which files, from where ------------------------------------------------------------


def choose(names: list[str], half: bool = False) -> list[str]:
    """The files a pipeline reads, from a repository's listing: in each folder, safetensors
    weights rather than .bin/.pt copies of them; the full-precision file rather than its
    variants, except the fp16 one where a GPU (``half``) loads it (pipelines/text_to_image.py
    asks diffusers for ``variant="fp16"`` there); no single-file checkpoint beside a
    diffusers pipeline's folders; nothing of another framework (TensorFlow, Flax, ONNX, Core ML)."""
    names = [n for n in names if not n.endswith(SKIPPED) and not n.startswith(SKIPPED_FOLDERS)]
    diffusers = "model_index.json" in names

    def folder(name: str) -> str:
        return name.rsplit("/", 1)[0] if "/" in name else ""

    safetensors = {folder(n) for n in names if n.endswith(".safetensors")}
    chosen = []
    for name in names:
        if name.endswith(WEIGHTS):
            if diffusers and folder(name) == "":
                continue
            if not name.endswith(".safetensors") and folder(name) in safetensors:
                continue
            variant = _VARIANT.search(name)
            if variant and _VARIANT.sub("", name) in names and not (half and variant.group(1) == "fp16"):
                continue
            if half and not variant and _FP16.sub(r"\1.fp16\2", name) in names:
                continue  # its fp16 variant is taken instead
        chosen.append(name)
    return chosen


def modelscope_id(checkpoint: Checkpoint) -> str:
    """The checkpoint's id on ModelScope, or "" when it has none there (registry.modelscope_id)."""
    return registry.modelscope_id(checkpoint)


def hub_endpoint() -> str:
    """The Hub's address as huggingface_hub reads it (``HF_ENDPOINT``: a mirror), at call time."""
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def modelscope_endpoint() -> str | None:
    return settings.MODELSCOPE_ENDPOINT.rstrip("/") or None


def _answers(url: str) -> bool:
    """One quick request: the library clients themselves retry for minutes offline."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=settings.HUB_CHECK_TIMEOUT)
    except urllib.error.HTTPError:
        return True  # the server answered
    except (OSError, ValueError):
        return False
    return True


@functools.cache
def modelscope_reachable() -> bool:
    from modelscope_hub.constants import DEFAULT_ENDPOINT

    return _answers(modelscope_endpoint() or DEFAULT_ENDPOINT)


def sources(checkpoint: Checkpoint, hub_up: bool) -> list[str]:
    """Where ``checkpoint`` may be downloaded from under MODEL_SOURCE: the Hub, or, under
    ``auto`` when the Hub can't be reached (``hub_up``), ModelScope; none with HF_HUB_OFFLINE=1."""
    from huggingface_hub import constants

    choice = settings.MODEL_SOURCE
    if choice not in SOURCES:
        raise ValueError(f"MODEL_SOURCE must be one of {', '.join(SOURCES)}, not {choice!r}.")
    if constants.HF_HUB_OFFLINE:  # the app's one switch for "no network": ModelScope isn't asked either
        return []
    if choice != "modelscope" and hub_up:
        return ["huggingface"]
    if choice == "huggingface" or not modelscope_id(checkpoint):
        return []
    if importlib.util.find_spec("modelscope") is None:  # an optional dependency: said, never a crash
        if choice == "modelscope":
            raise ValueError("MODEL_SOURCE=modelscope needs the modelscope package: pip install modelscope==1.40.2")
        return []
    return ["modelscope"] if modelscope_reachable() else []


# --- Manifests: what was downloaded, whole or not ----------------------------------------


def _manifest_path(source: str, repo_id: str, revision: str) -> Path:
    """One per source, cache folder (HF_HOME may change) and repository."""
    cache = hashlib.sha1(str(cache_folder(source).resolve()).encode()).hexdigest()[:10]
    return settings.DATA_DIR / "downloads" / f"{source}-{cache}" / f"{repo_id.replace('/', '--')}@{revision}.json"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _manifests(checkpoint: Checkpoint) -> list[dict]:
    found = []
    for source in ("huggingface", "modelscope"):
        repo_id = checkpoint.repo_id if source == "huggingface" else modelscope_id(checkpoint)
        if repo_id and (manifest := _read(_manifest_path(source, repo_id, checkpoint.revision))) is not None:
            found.append(manifest)
    return found


def downloaded(checkpoint: Checkpoint) -> dict | None:
    """The manifest of a complete download of ``checkpoint`` whose files are all still
    there, or None."""
    for manifest in _manifests(checkpoint):
        folder = Path(manifest.get("folder", ""))
        if manifest.get("complete") and all((folder / name).is_file() for name in manifest.get("files", [])):
            return manifest
    return None


def interrupted(checkpoint: Checkpoint) -> bool:
    """Whether a download of ``checkpoint`` started and never finished: its snapshot may
    hold some files (a config) without the rest, so it must not be loaded."""
    return any(not m.get("complete") for m in _manifests(checkpoint)) and downloaded(checkpoint) is None


def origin(checkpoint: Checkpoint) -> dict:
    """Where a loaded checkpoint came from, for the Models panel: {"kind": tiny | folder |
    huggingface | mirror | modelscope | cache, "where": the host, or ""}."""
    if checkpoint.is_tiny:
        return {"kind": "tiny", "where": ""}
    if Path(checkpoint.repo_id).is_dir():
        return {"kind": "folder", "where": ""}
    manifest = downloaded(checkpoint)
    if manifest is None:
        return {"kind": "cache", "where": ""}
    host = re.sub(r"^https?://", "", manifest.get("endpoint", "")).split("/")[0]
    if manifest["source"] == "huggingface" and manifest.get("endpoint", HUB).rstrip("/") != HUB:
        return {"kind": "mirror", "where": host}
    return {"kind": manifest["source"], "where": host}


def _write_manifest(plan: Plan, endpoint: str, folder: str, complete: bool) -> None:
    manifest = {
        "repo_id": plan.repo_id,
        "revision": plan.checkpoint.revision,
        "source": plan.source,
        "endpoint": endpoint,
        "folder": folder,
        "files": [name for name, _ in plan.files],
        "bytes": plan.total,
        "complete": complete,
        "time": time.time(),
    }
    path = _manifest_path(plan.source, plan.repo_id, plan.checkpoint.revision)
    atomic_write_text(path, json.dumps(manifest, indent=1))


# --- Planning, the disk check and the download itself ------------------------------------


def plan(checkpoint: Checkpoint, source: str) -> Plan:
    """List the repository on ``source``, choose its files and count the bytes still to
    fetch. One listing request (and, on the Hub, one HEAD per file); raises DownloadError."""
    with _errors(checkpoint, source):
        if source == "huggingface":
            from huggingface_hub import HfApi, snapshot_download
            from huggingface_hub.hf_api import RepoFile

            entries = HfApi(endpoint=hub_endpoint()).list_repo_tree(
                checkpoint.repo_id, revision=checkpoint.revision, recursive=True
            )
            sizes = {e.path: e.size for e in entries if isinstance(e, RepoFile)}
            chosen = choose(list(sizes), half=cuda_available())
            dry = snapshot_download(
                checkpoint.repo_id,
                revision=checkpoint.revision,
                allow_patterns=chosen,
                endpoint=hub_endpoint(),
                dry_run=True,
            )
            needed = sum(f.file_size or 0 for f in dry if f.will_download)
            return Plan(checkpoint, source, checkpoint.repo_id, [(n, sizes[n]) for n in chosen], needed)
        from modelscope.hub.api import HubApi

        repo_id = modelscope_id(checkpoint)
        listing = HubApi(endpoint=modelscope_endpoint()).get_model_files(repo_id, recursive=True)
        sizes = {f["Path"]: int(f.get("Size") or 0) for f in listing if f.get("Type", "blob") != "tree"}
        chosen = choose(list(sizes), half=cuda_available())
        return Plan(checkpoint, source, repo_id, [(n, sizes[n]) for n in chosen], sum(sizes[n] for n in chosen))


def cache_folder(source: str) -> Path:
    """Where ``source``'s downloads are written (the disk whose free space counts)."""
    if source == "huggingface":
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    return Path(settings.MODELSCOPE_CACHE or Path.home() / ".cache" / "modelscope")


def free_bytes(folder: Path) -> int:
    folder = folder.resolve()
    while not folder.exists():  # the cache may not exist yet: its disk is the nearest folder's that does
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_disk(plans: list[Plan]) -> None:
    """Refuse, before a byte is written, downloads that would not fit on their disk
    (with DOWNLOAD_FREE_MARGIN left over), saying how much they need and how much is free."""
    by_disk: dict[Path, list[Plan]] = {}
    for p in plans:
        by_disk.setdefault(cache_folder(p.source), []).append(p)
    for folder, group in by_disk.items():
        needed, free = sum(p.needed for p in group), free_bytes(folder)
        if needed and needed + settings.DOWNLOAD_FREE_MARGIN > free:
            models = ", ".join(p.checkpoint.label for p in group)
            raise DownloadError(
                "download_disk",
                models=models,
                needed=size_text(needed),
                margin=size_text(settings.DOWNLOAD_FREE_MARGIN),
                free=size_text(free),
            )


def fetch(plan: Plan, report: Callable[[int], None] | None = None) -> Path:
    """Download ``plan``'s files; return the folder that holds them. ``report(bytes done)``
    and ``download_progress``'s callback are called from this thread while it runs."""
    progress = _progress.get()
    done = _Counter()
    endpoint = hub_endpoint() if plan.source == "huggingface" else (modelscope_endpoint() or "")
    _write_manifest(plan, endpoint, "", complete=False)
    names = [name for name, _ in plan.files]
    result: dict = {}

    def run() -> None:
        try:
            with _errors(plan.checkpoint, plan.source):
                result["folder"] = _download(plan, names, done)
        except BaseException as error:  # handed to the caller's thread
            result["error"] = error

    def tell() -> None:
        if report is not None:
            report(done.value)
        if progress is not None:
            progress(min(done.value, plan.needed), plan.needed)

    worker = threading.Thread(target=run, name=f"download {plan.repo_id}", daemon=True)
    worker.start()
    tell()
    while worker.is_alive():
        worker.join(0.25)
        tell()
    if "error" in result:
        raise result["error"]
    _write_manifest(plan, endpoint, str(result["folder"]), complete=True)
    return Path(result["folder"])


class _Counter:
    """Bytes received, summed over the library's worker threads."""

    def __init__(self):
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


def _download(plan: Plan, names: list[str], done: _Counter) -> str:
    if plan.source == "huggingface":
        from huggingface_hub import snapshot_download
        from huggingface_hub.utils import tqdm as hub_tqdm

        class Bytes(hub_tqdm):
            """The byte bar huggingface_hub updates as each chunk arrives ("Downloading
            bytes"; its twin for reconstructed bytes counts the same chunks again)."""

            def __init__(self, *args, **kwargs):
                self.counts = kwargs.get("unit") == "B" and str(kwargs.get("desc", "")).startswith("Downloading")
                super().__init__(*args, **kwargs)  # a disabled bar (no terminal) keeps none of its arguments

            def update(self, n=1):
                if self.counts:
                    done.add(int(n or 0))
                return super().update(n)

        return snapshot_download(
            plan.repo_id,
            revision=plan.checkpoint.revision,
            allow_patterns=names,
            endpoint=hub_endpoint(),
            tqdm_class=Bytes,
        )
    from modelscope.hub.callback import ProgressCallback
    from modelscope.hub.snapshot_download import snapshot_download

    class Received(ProgressCallback):
        def update(self, size: int) -> None:
            done.add(size)

    return snapshot_download(
        plan.repo_id,
        allow_patterns=names,
        endpoint=modelscope_endpoint(),
        cache_dir=settings.MODELSCOPE_CACHE or None,
        progress_callbacks=[Received],
    )


# --- One message per failure ------------------------------------------------------------


@contextlib.contextmanager
def _errors(checkpoint: Checkpoint, source: str) -> Iterator[None]:
    """The libraries' errors as one DownloadError each: not found (404), gated or private
    (401/403), the server failing (5xx), out of reach."""
    where = said(f"hub_{source}")  # "huggingface" or "modelscope"
    shown = f"{checkpoint.label} ({checkpoint.repo_id if source == 'huggingface' else modelscope_id(checkpoint)})"
    try:
        yield
    except DownloadError:
        raise
    except Exception as error:
        status, kind = _status(error), type(error).__name__
        if kind == "GatedRepoError" or status in (401, 403):
            raise DownloadError(
                "download_gated",
                model=shown,
                where=where,
                status=status or 403,
            ) from None
        if kind in ("RepositoryNotFoundError", "RevisionNotFoundError", "NotExistError") or status == 404:
            raise DownloadError(
                "download_not_found",
                model=shown,
                where=where,
            ) from None
        if status is not None and status >= 500:
            raise DownloadError(
                "download_server",
                model=shown,
                where=where,
                status=status,
            ) from None
        if _is_connection(error):
            raise DownloadError(
                "download_unreachable",
                model=shown,
                where=where,
                kind=kind,
            ) from None
        raise


def _status(error: BaseException) -> int | None:
    """The HTTP status behind a library's error, following its causes."""
    while error is not None:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        for failed in getattr(error, "failed_files", {}).values():  # modelscope: one error per file
            if (status := _status(failed)) is not None:
                return status
        match = re.search(r"HTTP (\d{3})|(\d{3}) (?:Client|Server) Error|\[([1-5]\d\d)\]", str(error))
        if match:
            return int(next(g for g in match.groups() if g))
        error = error.__cause__ or error.__context__
    return None


def _is_connection(error: BaseException) -> bool:
    names = (
        "ConnectError",
        "ConnectionError",
        "TimeoutException",
        "Timeout",
        "RemoteProtocolError",
        "ReadError",
        "LocalEntryNotFoundError",
        "ProtocolError",
        "ChunkedEncodingError",
        "FileDownloadError",
    )
    while error is not None:
        if type(error).__name__ in names or isinstance(error, (ConnectionError, TimeoutError)):
            return True
        error = error.__cause__ or error.__context__
    return False
