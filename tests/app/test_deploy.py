"""The shipped deployment files, checked without a container engine: the Dockerfile's
user, paths, port, healthcheck and PyTorch source (tools/check_dockerfile.py), and the
Spaces front matter against the pinned Gradio and the current Spaces options."""

import re

import yaml

from tests.conftest import ROOT
from tools.check_dockerfile import check

# Spaces' hardware flavors (huggingface/hub-docs, docs/hub/spaces-config-reference.md, 2026-08).
FLAVORS = {
    "cpu-basic",
    "cpu-upgrade",
    "t4-small",
    "t4-medium",
    "l4x1",
    "l4x4",
    "l40sx1",
    "l40sx4",
    "l40sx8",
    "a10g-small",
    "a10g-large",
    "a10g-largex2",
    "a10g-largex4",
    "a100-large",
    "a100x4",
    "a100x8",
}


def test_the_dockerfile_is_as_spaces_and_a_cpu_host_need_it():
    text = (ROOT / "Dockerfile").read_text()
    assert check(text) == []
    assert "no HEALTHCHECK" in check(re.sub(r"HEALTHCHECK[^\n]*\\\n[^\n]*\n", "", text))
    assert any("unprivileged" in p for p in check(text.replace("USER user", "USER root")))
    assert any("CUDA build" in p for p in check(text.replace('--index-url "$TORCH_INDEX" ', "")))
    assert any(
        "requirements/app.txt" in p for p in check(text.replace("COPY --chown=user requirements/ requirements/\n", ""))
    )


def test_the_spaces_front_matter_matches_the_pins():
    front = yaml.safe_load((ROOT / "README.md").read_text().split("---")[1])
    pins = dict(re.findall(r"^([\w-]+)==(\S+)", (ROOT / "requirements" / "app.txt").read_text(), re.MULTILINE))
    assert front["sdk"] == "gradio" and front["sdk_version"] == pins["gradio"]
    assert front["app_file"] == "app.py" and front["suggested_hardware"] in FLAVORS
    docker_python = re.search(r"FROM python:(\d+\.\d+)", (ROOT / "Dockerfile").read_text()).group(1)
    assert str(front["python_version"]) == docker_python  # the Python the image and CI run
    assert set(front["models"]) >= {"Salesforce/blip-image-captioning-base", "stabilityai/sd-turbo"}


def test_the_compose_example_mounts_the_caches():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.cpu.yaml").read_text())
    service = compose["services"]["playground"]
    mounts = {volume.split(":", 1)[1] for volume in service["volumes"]}
    assert {"/home/user/.cache/huggingface", "/home/user/.cache/multimodal-playground"} <= mounts
    assert service["build"]["args"]["TORCH_INDEX"].endswith("/cpu") and "7860:7860" in service["ports"]


def test_the_school_deployment_shares_what_replicas_must_share():
    """deploy/compose.school.yaml: two replicas with the same settings, every one of them a
    setting the app reads, one data volume, sticky behind the load balancer."""
    import re

    compose = yaml.safe_load((ROOT / "deploy" / "compose.school.yaml").read_text())
    apps = [compose["services"][name] for name in ("app-1", "app-2")]
    assert apps[0] == apps[1]
    env = apps[0]["environment"]
    settings_source = (ROOT / "runtime" / "settings.py").read_text()
    from runtime import registry
    from runtime.settings import REMOTE_TASKS

    per_task = {f"BACKEND_{task.upper()}{end}" for task in REMOTE_TASKS for end in ("", "_MODEL")}
    per_task |= {registry.env_var(task) for task in registry.TASKS}  # MODEL_<TASK>
    for name in env:
        assert name in per_task or f'"{name}"' in settings_source, name
    # The chat server serves the picked chat model, one that reads Chinese and needs no licence.
    chat = registry.named("chat", env["MODEL_CHAT"])
    assert env["BACKEND_CHAT_MODEL"] == chat.repo_id and chat.repo_id in compose["services"]["vlm"]["command"]
    assert "Han" in chat.scripts and not chat.gated
    assert {"BACKEND_CHAT", "SHARED_STATE", "QDRANT_URL"} <= set(env) and env["SEARCH_BACKEND"] == "qdrant"
    assert env["BACKEND_CHAT"].startswith("http://vlm:") and env["SHARED_STATE"].startswith("redis://redis:")
    assert any(v.endswith(":/home/user/.cache/multimodal-playground") for v in apps[0]["volumes"])
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert set(re.findall(r"server (app-\d):7860", nginx)) == {"app-1", "app-2"}
    assert "hash $replica consistent" in nginx and "proxy_buffering off" in nginx
