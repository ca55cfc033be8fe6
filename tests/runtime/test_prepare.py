"""Preparing a classroom machine: `python -m runtime download` fetches a profile's models
from a local Hub stand-in (tests/standins.py) with one progress bar and a summary, after
which the models load with HF_HUB_OFFLINE=1 and no server at all."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from huggingface_hub import constants

from runtime import download, registry, settings
from runtime.download import DownloadError
from runtime.hub import hub_reachable
from runtime.prepare import checkpoints, prepare
from runtime.tiny import tiny_path
from tests.conftest import ROOT, free_port
from tests.standins import HubStandIn, ModelScopeStandIn

SERVED = {"Salesforce/blip-image-captioning-base": "tiny/blip-caption", "Salesforce/blip-vqa-base": "tiny/blip-vqa"}


@pytest.fixture
def hub():
    with HubStandIn({repo: tiny_path(tiny) for repo, tiny in SERVED.items()}) as server:
        yield server


def test_which_checkpoints_a_profile_needs():
    cpu = checkpoints("cpu")
    assert {c.task for c in cpu} == set(registry.TASKS) and not any(c.is_tiny for c in cpu)
    assert [c.key for c in checkpoints("cpu", ["caption"])] == ["blip-base"]
    assert [c.task for c in checkpoints("gpu", ["text_to_image"])] == ["text_to_image", "safety_checker"]
    assert [c.key for c in checkpoints("cpu", ["blip-large"])] == ["blip-large"]
    assert len(checkpoints("cpu", ["caption"], every=True)) > 1
    with pytest.raises(ValueError, match="neither a task .* nor a known checkpoint"):
        checkpoints("cpu", ["captions"])


def test_the_disk_check_comes_first_for_all_of_them(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(download, "hub_endpoint", lambda: hub.url)
    monkeypatch.setattr(download, "free_bytes", lambda folder: settings.DOWNLOAD_FREE_MARGIN + 1000)
    hub_reachable.cache_clear()
    try:
        with pytest.raises(DownloadError, match="BLIP base, BLIP VQA base: it needs"):
            prepare(checkpoints("cpu", ["caption", "vqa"]))
    finally:
        hub_reachable.cache_clear()
    assert not hub.downloads(), "nothing was downloaded"


def test_download_command_then_offline(hub, tmp_path):
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "hf"),
        "PLAYGROUND_DATA_DIR": str(tmp_path / "data"),
        "MODEL_SOURCE": "auto",
        "MODELSCOPE_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "download", "--profile", "cpu", "caption", "vqa"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 2 models ready" in done.stdout and "from mirror (127.0.0.1" in done.stdout
    assert 'HF_HUB_OFFLINE=1 make run ARGS="--profile cpu"' in done.stdout
    assert "Downloading" in done.stderr  # the one progress bar
    assert {path.split("/resolve/")[1].split("/", 1)[1] for _, path, _ in hub.downloads()} >= {"model.safetensors"}
    hub.stop()  # no server now, and no network allowed: the models load from the disk

    load = (
        "from pipelines.cache import ModelCache; m = ModelCache('cpu'); "
        "print([(m.get(t).checkpoint.repo_id, m.get(t).notice) for t in ('caption', 'vqa')])"
    )
    offline_env = {**env, "HF_HUB_OFFLINE": "1", "FAST_PATH": "off"}  # float32: the quickest load of tiny weights
    offline = subprocess.run(
        [sys.executable, "-c", load], cwd=ROOT, env=offline_env, capture_output=True, text=True, timeout=300
    )
    assert offline.returncode == 0, offline.stderr[-2000:]
    assert "[('Salesforce/blip-image-captioning-base', ''), ('Salesforce/blip-vqa-base', '')]" in offline.stdout


def test_download_command_from_modelscope(tmp_path):
    """MODEL_SOURCE=modelscope and MODELSCOPE_ENDPOINT, as a teacher in mainland China sets them."""
    repo = registry.MODELSCOPE_IDS["Salesforce/blip-image-captioning-base"]
    with ModelScopeStandIn({repo: tiny_path("tiny/blip-caption")}) as modelscope:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf"),
            "MODEL_SOURCE": "modelscope",
            "MODELSCOPE_ENDPOINT": modelscope.url,
            "MODELSCOPE_CACHE": str(tmp_path / "modelscope"),
            "PLAYGROUND_DATA_DIR": str(tmp_path / "data"),
        }
        done = subprocess.run(
            [sys.executable, "-m", "runtime", "download", "--profile", "cpu", "caption"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 of 1 models ready" in done.stdout and f"from modelscope (127.0.0.1:{modelscope.port})" in done.stdout
    assert modelscope.downloads("model.safetensors") and list((tmp_path / "modelscope").rglob("model.safetensors"))


def test_the_command_refuses_what_it_cannot_do(capsys, monkeypatch):
    from runtime.__main__ import main

    assert main(["download", "--profile", "cpu"]) == 1  # the suite runs with HF_HUB_OFFLINE=1
    assert "HF_HUB_OFFLINE=1 forbids every download" in capsys.readouterr().err
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(SystemExit):
        main(["download", "--profile", "cpu", "captions"])
    assert "neither a task" in capsys.readouterr().err
