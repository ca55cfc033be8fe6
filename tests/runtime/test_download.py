"""A user's first use of a model: downloaded over HTTP from local stand-ins of the Hub and
ModelScope (tests/standins.py) through huggingface_hub's and modelscope's own code, with
a disk check first, progress, resuming, one clear message per failure, and the fallback
to a tiny twin when nothing can be reached."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import constants
from huggingface_hub.utils import _http as hub_http

from pipelines.cache import ModelCache
from runtime import download, registry, settings
from runtime.download import DownloadError
from runtime.hub import CheckpointUnavailable, hub_reachable, is_cached, locate
from runtime.tiny import tiny_path
from tests.conftest import free_port
from tests.standins import HubStandIn, ModelScopeStandIn
from ui.messages import translate
from ui.server.language import PAGE_LOCALE

REPO = "Salesforce/blip-image-captioning-base"  # the cpu profile's caption model, served tiny
MS_REPO = registry.MODELSCOPE_IDS[REPO]
WEIGHTS = "model.safetensors"


def blip() -> registry.Checkpoint:
    return registry.named("caption", REPO)


@pytest.fixture
def online(tmp_path, monkeypatch):
    """A fresh Hugging Face cache and ModelScope cache, downloads allowed, ModelScope's address a closed port."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(settings, "MODELSCOPE_CACHE", str(tmp_path / "modelscope"))
    monkeypatch.setattr(settings, "MODELSCOPE_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(settings, "MODEL_SOURCE", "auto")
    monkeypatch.setattr(settings, "HUB_CHECK_TIMEOUT", 2.0)
    hub_reachable.cache_clear()
    download.modelscope_reachable.cache_clear()
    yield tmp_path
    hub_reachable.cache_clear()
    download.modelscope_reachable.cache_clear()


@pytest.fixture
def hub(online, monkeypatch):
    with HubStandIn({REPO: tiny_path("tiny/blip-caption")}) as server:
        monkeypatch.setattr(download, "hub_endpoint", lambda: server.url)
        yield server


def hub_down(monkeypatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(download, "hub_endpoint", lambda: dead)
    hub_reachable.cache_clear()


def test_first_use_downloads_with_progress_then_loads_from_disk(hub, cat):
    seen = []
    with download.download_progress(lambda done, total: seen.append((done, total))):
        loaded = ModelCache("tiny").get("caption", blip())
    assert loaded.checkpoint.repo_id == REPO and not loaded.notice
    assert isinstance(loaded.pipeline(cat), str)
    assert hub.downloads(WEIGHTS), "the weights came over HTTP from the stand-in"
    total = seen[-1][1]
    assert total == sum(p.stat().st_size for p in tiny_path("tiny/blip-caption").iterdir())
    assert seen[-1] == (total, total) and all(done <= t for done, t in seen)
    assert download.origin(blip()) == {"kind": "mirror", "where": f"127.0.0.1:{hub.port}"}
    # A second process (a new cache) finds it on disk: no file is asked for again, even offline.
    before = len(hub.downloads())
    folder, local_only = locate(blip())
    assert local_only and Path(folder, WEIGHTS).is_file() and len(hub.downloads()) == before


def test_only_the_weights_a_pipeline_reads_are_chosen():
    names = [
        "config.json",
        "model.safetensors",
        "pytorch_model.bin",
        "tf_model.h5",
        "flax_model.msgpack",
        "onnx/model.onnx",
        ".gitattributes",
        "model_index.json",
        "sd_turbo.safetensors",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "voices/zf_xiaobei.pt",
        "kokoro-v1_0.pth",
    ]
    assert download.choose(names) == [
        "config.json",
        "model_index.json",
        "unet/diffusion_pytorch_model.safetensors",
        "voices/zf_xiaobei.pt",
    ]
    # On a GPU the fp16 variant instead, as diffusers picks it (variant="fp16"; the full weights where there is none).
    sd = [
        "model_index.json",
        "unet/w.safetensors",
        "unet/w.fp16.safetensors",
        "vae/w.safetensors",
        "unet/w.non_ema.bin",
    ]
    assert download.choose(sd) == ["model_index.json", "unet/w.safetensors", "vae/w.safetensors"]
    assert download.choose(sd, half=True) == ["model_index.json", "unet/w.fp16.safetensors", "vae/w.safetensors"]
    kokoro = ["config.json", "kokoro-v1_0.pth", "voices/zf_xiaobei.pt", "samples/a.wav"]
    assert download.choose(kokoro) == ["config.json", "kokoro-v1_0.pth", "voices/zf_xiaobei.pt"]


def test_not_enough_disk_is_refused_before_a_byte_is_written(hub, monkeypatch):
    monkeypatch.setattr(download, "free_bytes", lambda folder: 300 * 2**20)  # below the 500 MB margin
    with pytest.raises(DownloadError) as caught:
        ModelCache("tiny").get("caption", blip())
    error = caught.value
    assert error.code == "download_disk" and error.params["free"] == "300.0 MB"
    needed = download.size_text(sum(p.stat().st_size for p in tiny_path("tiny/blip-caption").iterdir()))
    assert f"needs {needed}" in str(error) and "500.0 MB to spare" in str(error)
    assert not hub.downloads(), "nothing was downloaded"
    token = PAGE_LOCALE.set("zh-CN")
    try:
        assert "磁盘空间不足" in translate(error) and "300.0 MB" in translate(error)
    finally:
        PAGE_LOCALE.reset(token)


def test_a_cut_connection_resumes_where_it_stopped(hub, monkeypatch):
    # huggingface_hub writes what it receives in chunks of DOWNLOAD_CHUNK_SIZE (10 MB): small ones
    # here, so that the tiny weights cut halfway have some on disk, as a real model's would.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 8192)
    hub.faults[REPO] = ("cut", WEIGHTS)  # the connection drops halfway through the weights
    loaded = ModelCache("tiny").get("caption", blip())
    assert not loaded.checkpoint.is_tiny
    first, again = hub.downloads(WEIGHTS)
    size = (tiny_path("tiny/blip-caption") / WEIGHTS).stat().st_size
    start = int(again[2].removeprefix("bytes=").rstrip("-"))
    assert first[2] == "" and size // 2 - 8192 <= start <= size // 2, "the rest, not the whole file again"


def test_a_download_that_fails_midway_is_never_loaded_and_the_next_try_finishes_it(hub, monkeypatch):
    hub.faults[REPO] = ("cut", WEIGHTS, "then 503")  # half the weights, then the server fails
    with pytest.raises(DownloadError) as caught:
        ModelCache("tiny").get("caption", blip())
    assert caught.value.code == "download_server"
    assert is_cached(blip()), "the config is in the Hub cache..."
    assert download.interrupted(blip()) and download.downloaded(blip()) is None  # ...but the model is not whole
    cache = Path(constants.HF_HUB_CACHE)
    assert not list(cache.rglob(WEIGHTS)) and not list(cache.rglob("*.incomplete")), "no half-written weights kept"

    # Offline meanwhile: `auto` falls back to the tiny twin rather than the half-written snapshot; `tiny` refuses.
    hub_down(monkeypatch)
    assert ModelCache("auto").get("caption", blip()).checkpoint.is_tiny
    with pytest.raises(CheckpointUnavailable):
        ModelCache("tiny").get("caption", blip())

    # Back online: the next try fetches what is missing, not the files it already has.
    hub.clear_faults()
    monkeypatch.setattr(download, "hub_endpoint", lambda: hub.url)
    hub_reachable.cache_clear()
    assert not ModelCache("tiny").get("caption", blip()).checkpoint.is_tiny
    assert len(hub.downloads("/config.json")) == 1 and len(hub.downloads(WEIGHTS)) == 3
    assert download.downloaded(blip()) is not None and not download.interrupted(blip())


@pytest.mark.parametrize(
    ("fault", "code", "chinese"),
    [
        ("404", "download_not_found", "找不到"),
        ("401", "download_gated", "受限或私有"),
        ("gated", "download_gated", "受限或私有"),
        ("500", "download_server", "服务器暂时有问题"),
    ],
)
def test_each_server_answer_gets_one_clear_message(hub, fault, code, chinese, monkeypatch):
    # huggingface_hub retries a 5xx five times, 23 s of waiting in all (utils/_http.py): not here.
    monkeypatch.setattr(hub_http, "time", SimpleNamespace(sleep=lambda seconds: None))
    hub.faults[REPO] = fault
    with pytest.raises(DownloadError) as caught:
        ModelCache("tiny").get("caption", blip())
    error = caught.value
    assert error.code == code and REPO in str(error) and "Traceback" not in str(error)
    token = PAGE_LOCALE.set("zh-CN")
    try:
        said = translate(error)
    finally:
        PAGE_LOCALE.reset(token)
    assert chinese in said and REPO in said and "Hugging Face Hub" in said


def test_with_the_hub_down_auto_falls_back_and_explicit_profiles_refuse(online, monkeypatch):
    hub_down(monkeypatch)
    loaded = ModelCache("auto").get("caption", blip())
    assert loaded.checkpoint.is_tiny and "tiny random model stands in" in loaded.notice
    # The status line says it in the page's language (the Chinese page showed it in English).
    said = translate(loaded.notice, "zh-CN")
    assert "微型模型代替" in said and REPO in said and "stands in" not in said
    with pytest.raises(CheckpointUnavailable, match="can't be reached.*--profile tiny"):
        ModelCache("cpu").get("caption", blip())


def test_modelscope_when_the_hub_cannot_be_reached(online, monkeypatch, cat):
    hub_down(monkeypatch)
    with ModelScopeStandIn({MS_REPO: tiny_path("tiny/blip-caption")}) as modelscope:
        monkeypatch.setattr(settings, "MODELSCOPE_ENDPOINT", modelscope.url)
        download.modelscope_reachable.cache_clear()
        seen = []
        with download.download_progress(lambda done, total: seen.append((done, total))):
            loaded = ModelCache("auto").get("caption", blip())
        assert not loaded.checkpoint.is_tiny and not loaded.notice
        assert modelscope.downloads(WEIGHTS) and seen[-1][0] == seen[-1][1] > 0
        assert download.origin(blip()) == {"kind": "modelscope", "where": f"127.0.0.1:{modelscope.port}"}
        assert Path(locate(blip())[0]).is_relative_to(Path(settings.MODELSCOPE_CACHE))

        # MODEL_SOURCE=huggingface never asks ModelScope: offline, it falls back as before.
        monkeypatch.setattr(settings, "MODEL_SOURCE", "huggingface")
        other = registry.named("caption", "Salesforce/blip-image-captioning-large")
        assert ModelCache("auto").get("caption", other).checkpoint.is_tiny


@pytest.fixture
def modelscope_without_waits(monkeypatch):
    """modelscope waits 4, 8, 16 s between retries of a failing file (modelscope_hub/_download.py): not here."""
    from modelscope_hub import _download

    monkeypatch.setattr(_download, "DOWNLOAD_RETRY_MAX_DELAY_SECONDS", 0)


def test_a_modelscope_download_cut_in_the_middle_resumes_on_the_next_try(online, monkeypatch, modelscope_without_waits):
    monkeypatch.setattr(settings, "MODEL_SOURCE", "modelscope")
    with ModelScopeStandIn({MS_REPO: tiny_path("tiny/blip-caption")}) as modelscope:
        monkeypatch.setattr(settings, "MODELSCOPE_ENDPOINT", modelscope.url)
        modelscope.faults[MS_REPO] = ("cut", WEIGHTS, "then 503")  # half the weights, then the server fails
        with pytest.raises(DownloadError) as caught:
            ModelCache("tiny").get("caption", blip())
        assert caught.value.code == "download_server"
        assert download.interrupted(blip()) and download.downloaded(blip()) is None  # never loaded half-written
        (partial,) = Path(settings.MODELSCOPE_CACHE).rglob("*.incomplete")
        kept = partial.stat().st_size
        assert kept > 0, "modelscope keeps the bytes it received"

        modelscope.clear_faults()
        assert not ModelCache("tiny").get("caption", blip()).checkpoint.is_tiny
        assert modelscope.downloads(WEIGHTS)[-1][2] == f"bytes={kept}-", "the next try asks only for the rest"


def test_modelscope_errors_are_said_as_the_hubs(online, monkeypatch, modelscope_without_waits):
    monkeypatch.setattr(settings, "MODEL_SOURCE", "modelscope")
    with ModelScopeStandIn({MS_REPO: tiny_path("tiny/blip-caption")}) as modelscope:
        monkeypatch.setattr(settings, "MODELSCOPE_ENDPOINT", modelscope.url)
        for fault, code in (("404", "download_not_found"), ("gated", "download_gated"), ("500", "download_server")):
            modelscope.faults[MS_REPO] = fault
            with pytest.raises(DownloadError) as caught:
                ModelCache("tiny").get("caption", blip())
            assert caught.value.code == code and MS_REPO in str(caught.value)


def test_source_setting_is_checked(online, monkeypatch):
    monkeypatch.setattr(settings, "MODEL_SOURCE", "mirror")
    with pytest.raises(ValueError, match="MODEL_SOURCE must be one of auto, huggingface, modelscope"):
        download.sources(blip(), hub_up=True)
