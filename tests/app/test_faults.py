"""Faults: a model that runs out of memory (host or GPU) or crashes in the middle of a
request, or fails to load, gives the user a clear message; the memory the failed call
held is released; other tabs and the next requests keep working. And a kill in the
middle of a write leaves the previous file or the new one, never half of one.

The app runs in this process (the ``live`` fixture), so the test can reach into its
models and break them, and is called through gradio_client like any client."""

import subprocess
import sys
import time
import weakref

import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.conftest import IMAGES, ROOT

CAT = str(IMAGES / "cat.jpg")


def cuda_out_of_memory():
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 15.77 GiB total capacity)")


def host_out_of_memory():
    torch.empty(2**50, dtype=torch.uint8)  # a petabyte: the CPU allocator's real error


def python_out_of_memory():
    raise MemoryError


def crash():
    raise RuntimeError("CUBLAS_STATUS_EXECUTION_FAILED when calling cublasSgemm")


FAULTS = {
    "cuda-oom": (cuda_out_of_memory, "ran out of memory"),
    "host-oom": (host_out_of_memory, "ran out of memory"),
    "memory-error": (python_out_of_memory, "ran out of memory"),
    "crash": (crash, "The model failed: RuntimeError: CUBLAS"),
}


class Fault:
    """Breaks ``module``'s forward after ``after`` successful calls: mid-request. The
    failing call first fills 64 MB, held by its frame like a real activation, so the
    test can see whether that memory is released afterwards."""

    active: list["Fault"] = []

    def __init__(self, module, fail, after: int):
        self.fail, self.after, self.calls, self.ballast = fail, after, 0, None
        self.handle = module.register_forward_hook(self.hook)
        Fault.active.append(self)

    def hook(self, module, args, output):
        self.calls += 1
        if self.calls > self.after:
            activation = torch.ones(16 * 2**20)  # 64 MB of float32
            self.ballast = weakref.ref(activation)
            self.fail()

    def remove(self):
        self.handle.remove()
        Fault.active.remove(self)


@pytest.fixture
def frees(monkeypatch):
    """Records, each time the app frees memory after a failure, whether the failed call's
    tensors were already gone: only then can torch.cuda.empty_cache return them."""
    import ui.chain

    seen = []
    free = ui.chain._free_memory  # noqa: SLF001

    def recording():
        seen.append([fault.ballast() is None for fault in Fault.active if fault.ballast is not None])
        free()

    monkeypatch.setattr(ui.chain, "_free_memory", recording)
    return seen


@pytest.mark.parametrize("fault", list(FAULTS))
def test_text_to_image_fault_mid_generation(live, models, frees, fault):
    fail, message = FAULTS[fault]
    unet = models.get("text_to_image").pipeline.pipe.unet
    broken = Fault(unet, fail, after=1)  # the first denoising step works, the second fails
    try:
        with pytest.raises(AppError, match=message):
            live.predict(prompt="a red fox", seed=1, num_inference_steps=3, api_name="/text_to_image")
        assert broken.calls == 2
        assert frees == [[True]]  # freed, and only after the failed call's memory was let go
        assert broken.ballast() is None
        # The other tabs work while this model is broken.
        assert isinstance(live.predict(image=handle_file(CAT), max_new_tokens=5, api_name="/caption"), str)
    finally:
        broken.remove()
    images = live.predict(prompt="a red fox", seed=1, num_inference_steps=3, api_name="/text_to_image")
    assert len(images) == 1


@pytest.mark.parametrize("fault", ["host-oom", "crash"])
def test_caption_fault_mid_decoding(live, models, frees, fault):
    fail, message = FAULTS[fault]
    decoder = models.get("caption").pipeline.model.text_decoder
    broken = Fault(decoder, fail, after=2)  # two tokens written, then the third fails
    try:
        with pytest.raises(AppError, match=message):
            live.predict(image=handle_file(CAT), max_new_tokens=10, num_beams=1, api_name="/caption")
        assert frees == [[True]] and broken.ballast() is None
        assert live.predict(query="a cat", top_k=1, api_name="/search_by_text")
    finally:
        broken.remove()
    assert isinstance(live.predict(image=handle_file(CAT), max_new_tokens=10, num_beams=1, api_name="/caption"), str)


def test_a_model_that_fails_to_load(live, models, monkeypatch):
    from pipelines.vqa import VQAPipeline

    models._items.pop(("vqa", "tiny-vilt"), None)  # noqa: SLF001 (make the next use load it)
    real = VQAPipeline.from_pretrained.__func__

    def damaged(cls, model_id, **kwargs):
        if "vilt" in model_id:
            raise OSError(f"Unable to load weights from {model_id}/model.safetensors: the file is damaged")
        return real(cls, model_id, **kwargs)

    monkeypatch.setattr(VQAPipeline, "from_pretrained", classmethod(damaged))
    with pytest.raises(AppError, match=r"Tiny ViLT VQA \(random\).*could not be loaded.*damaged"):
        live.predict(image=handle_file(CAT), question="What is it?", model="tiny-vilt", api_name="/vqa")
    # The other VQA model and the other tabs work.
    assert live.predict(image=handle_file(CAT), question="What is it?", model="tiny-blip-vqa", api_name="/vqa")
    assert live.predict(image=handle_file(CAT), labels="cat, dog", api_name="/classify")
    # Once the files are fine again, the model loads: a failure is not remembered.
    monkeypatch.undo()
    assert live.predict(image=handle_file(CAT), question="What is it?", model="tiny-vilt", api_name="/vqa")


def test_the_safety_checker_failing_to_load_refuses_images(live, models, monkeypatch):
    from pipelines.safety import SafetyChecker

    models._items.pop(("safety_checker", "tiny-safety-checker"), None)  # noqa: SLF001

    def broken(cls, *args, **kwargs):
        raise OSError("safety checker weights missing")

    monkeypatch.setattr(SafetyChecker, "from_pretrained", classmethod(broken))
    with pytest.raises(AppError, match="safety checker weights missing"):
        live.predict(prompt="a red fox", seed=1, api_name="/text_to_image")  # no unchecked image gets out
    monkeypatch.undo()
    assert live.predict(prompt="a red fox", seed=1, api_name="/text_to_image")


def test_a_kill_in_the_middle_of_writing_leaves_a_whole_file(tmp_path):
    """A writer killed at random moments: the file is always one complete version."""
    target = tmp_path / "embeddings.npz"
    writer = (
        "import itertools, sys; from pathlib import Path; from runtime.files import atomic_write_bytes\n"
        "for i in itertools.count(): atomic_write_bytes(Path(sys.argv[1]), bytes([i % 251]) * 3_000_000)\n"
    )
    for attempt in range(4):
        process = subprocess.Popen([sys.executable, "-c", writer, str(target)], cwd=ROOT)
        deadline = time.time() + 60
        while not target.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2 + 0.15 * attempt)
        process.kill()
        process.wait()
        data = target.read_bytes()
        assert len(data) == 3_000_000 and data.count(data[:1]) == len(data)
