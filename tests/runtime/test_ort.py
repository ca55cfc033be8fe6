"""ONNX Runtime on the CPU (runtime/ort.py, CPU_RUNTIME) on the tiny CLIP: the same
embeddings as PyTorch, exported once and read back, and PyTorch whenever it goes wrong."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from pipelines.cache import ModelCache, load_options
from pipelines.retrieval import RetrievalPipeline
from runtime import ort, settings
from runtime.inputs import collect_notices
from runtime.tiny import tiny_path

TEXTS = ["a cat", "a photo of a dog on a sofa", "a rocket"]  # different lengths: the length axis varies


@pytest.fixture(scope="module")
def sources():
    """The tiny models (built once for the whole suite)."""
    return {name: str(tiny_path(f"tiny/{name}")) for name in ("clip", "siglip2")}


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    """An export directory of this module's own, so its exports start from nothing."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("onnx")
        patch.setattr(ort, "cache_dir", lambda: path)
        yield path


@pytest.fixture(scope="module")
def pipes(sources, onnx_dir):
    """(PyTorch, ONNX Runtime) pipelines of the same tiny CLIP; the second exports both towers."""
    source = sources["clip"]
    return RetrievalPipeline.from_pretrained(source), RetrievalPipeline.from_pretrained(
        source, cpu_runtime="onnxruntime"
    )


def test_onnx_runtime_gives_pytorchs_embeddings(pipes, cat):
    reference, fast = pipes
    assert fast.runtime == "onnxruntime" and set(fast._onnx) == {"image", "text"}
    images = [cat, cat.rotate(90), cat.rotate(45)]
    for batch_size in (1, 3):  # the batch axis varies too
        assert np.allclose(fast.embed_images(images, batch_size), reference.embed_images(images), atol=1e-5)
    assert np.allclose(fast.embed_texts(TEXTS), reference.embed_texts(TEXTS), atol=1e-5)
    ours, theirs = fast.classify(cat, "cat, dog, rocket"), reference.classify(cat, "cat, dog, rocket")
    assert list(ours) == list(theirs) and np.allclose(list(ours.values()), list(theirs.values()), atol=1e-5)


def test_the_export_is_written_once_and_reused(pipes, sources, onnx_dir, monkeypatch):
    files = sorted(p.name for p in onnx_dir.iterdir())
    assert len(files) == 2 and all(name.endswith(".onnx") for name in files)  # no temporary file left over

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(ort, "export", no_export)
    with ort.export_progress(no_export):  # nothing to say: the file is read back
        again = RetrievalPipeline.from_pretrained(sources["clip"], cpu_runtime="onnxruntime")
    assert again.runtime == "onnxruntime"
    assert sorted(p.name for p in onnx_dir.iterdir()) == files


def test_a_corrupt_file_or_a_failed_export_falls_back_to_pytorch(pipes, sources, onnx_dir, tmp_path, monkeypatch, cat):
    source = sources["clip"]
    shutil.copytree(onnx_dir, tmp_path / "onnx")
    monkeypatch.setattr(ort, "cache_dir", lambda: tmp_path / "onnx")
    image_file = next((tmp_path / "onnx").glob("clip-image-*.onnx"))
    image_file.write_bytes(b"not an ONNX graph")

    def unsupported(*args, **kwargs):
        raise RuntimeError("Unsupported operator aten::made_up")

    monkeypatch.setattr(ort, "export", unsupported)
    exports = []
    with collect_notices() as notices, ort.export_progress(lambda: exports.append("export")):
        pipe = RetrievalPipeline.from_pretrained(source, cpu_runtime="onnxruntime")
    assert exports == ["export"]  # the progress bar was told before the export started
    assert pipe.runtime == "torch-fallback" and "aten::made_up" in pipe.runtime_note
    assert any("runs on PyTorch" in notice and "aten::made_up" in notice for notice in notices)
    assert "onnx_fallback_image" in [getattr(notice, "code", "") for notice in notices]  # said in the page's language
    assert not image_file.exists()  # the corrupt file is not read again
    monkeypatch.setattr(ort, "export", lambda *args: pytest.fail("a failed export is tried again at every load"))
    again = RetrievalPipeline.from_pretrained(source, cpu_runtime="onnxruntime")
    assert again.runtime == "torch-fallback" and again.runtime_note == pipe.runtime_note  # remembered, with why
    assert np.allclose(pipe.embed_images([cat]), pipes[0].embed_images([cat]), atol=1e-6)  # the request still works


def test_cpu_runtime_torch_never_touches_onnxruntime(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("ONNX Runtime used")

    monkeypatch.setattr(ort, "accelerate", forbidden)
    monkeypatch.setattr(ort, "OnnxModule", forbidden)
    monkeypatch.setattr(settings, "CPU_RUNTIME", "torch")
    assert load_options(RetrievalPipeline, "cpu", fast=True)["cpu_runtime"] == "torch"
    loaded = ModelCache("tiny").get("retrieval")
    assert loaded.runtime == "" and loaded.pipeline._onnx == {}


AVX2 = frozenset({"avx2", "fma"})
AVX512 = frozenset({"avx2", "avx512f"})


@pytest.mark.parametrize(
    ("setting", "device", "fast", "dtype", "flags", "runtime"),
    [
        ("auto", "cpu", True, torch.float32, AVX2, "onnxruntime"),  # AVX2 only: ONNX Runtime is faster
        ("auto", "cpu", True, torch.float32, AVX512, "torch"),  # AVX-512: no faster, so no export
        ("auto", "cpu", True, torch.bfloat16, AVX512 | {"avx512_bf16"}, "torch"),  # PyTorch in bfloat16 is faster
        ("auto", "cpu", False, torch.float32, AVX2, "torch"),  # tiny models, FAST_PATH=off: PyTorch's exact outputs
        ("auto", "cuda", True, torch.float16, AVX2, "torch"),
        ("onnxruntime", "cpu", False, torch.bfloat16, AVX512, "onnxruntime"),
        ("onnxruntime", "cuda", True, torch.float16, AVX2, "torch"),
        ("torch", "cpu", True, torch.float32, AVX2, "torch"),
    ],
)
def test_what_runs_the_encoders(setting, device, fast, dtype, flags, runtime):
    assert ort.choose(setting, device, fast, dtype, flags) == runtime


def test_the_models_panel_says_what_a_model_runs_on(pipes, monkeypatch):
    import ui.tabs.models as panel

    monkeypatch.setattr(settings, "CPU_RUNTIME", "onnxruntime")
    cache = ModelCache("tiny")
    loaded = cache.get("retrieval")  # the module's export, read back
    assert loaded.runtime == "onnxruntime" and loaded.precision == "float32"
    monkeypatch.setattr(panel, "MODELS", cache)
    assert "encoders on ONNX Runtime" in panel.loaded_table()


def test_a_wrong_cpu_runtime_is_refused_with_the_choices():
    env = {"CPU_RUNTIME": "fastest", "PATH": ""}
    result = subprocess.run([sys.executable, "-c", "import runtime.settings"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "CPU_RUNTIME must be auto, torch or onnxruntime, not 'fastest'" in result.stderr


def test_siglip_runs_on_onnx_runtime_too(sources, onnx_dir, cat):
    """SigLIP 2 B/16, the cpu profile's default, loads as a fixed-resolution SigLIP model."""
    source = sources["siglip2"]
    reference = RetrievalPipeline.from_pretrained(source)
    fast = RetrievalPipeline.from_pretrained(source, cpu_runtime="onnxruntime")
    assert fast.model_type == "siglip" and fast.runtime == "onnxruntime"
    assert np.allclose(
        fast.embed_images([cat, cat.rotate(90)]), reference.embed_images([cat, cat.rotate(90)]), atol=1e-5
    )
    assert np.allclose(fast.embed_texts(TEXTS), reference.embed_texts(TEXTS), atol=1e-5)
