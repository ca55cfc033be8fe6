"""Fast path, memory budget, batching and the Models panel (issue #7), on tiny models.
Speed itself is measured by `python -m benchmarks`, never here."""

import contextlib
import gc
import os
import threading
import time
import weakref

import gradio as gr
import pytest
import torch
from PIL import Image

from pipelines.cache import Loaded, ModelCache, load_options
from pipelines.captioning import CaptionPipeline
from pipelines.retrieval import RetrievalPipeline
from runtime import devices, hub, memory, precision, registry, settings
from runtime.batching import Batcher
from runtime.devices import pick_dtype
from tests.conftest import IMAGES

# --- Fast-path selection ------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "fast", "expected"),
    [
        ({"avx2", "avx512f", "avx512_bf16"}, True, torch.bfloat16),  # AMD Zen 4, Intel Cooper Lake
        ({"avx2", "avx512f", "amx_tile", "amx_bf16"}, True, torch.bfloat16),  # Intel Sapphire Rapids
        ({"avx2", "fma"}, True, torch.float32),  # no native bfloat16: emulated, slower than float32
        ({"avx2", "avx512f"}, True, torch.float32),
        ({"avx512_bf16", "amx_bf16"}, False, torch.float32),  # the switch is off
    ],
)
def test_cpu_dtype_follows_the_cpu_and_the_switch(flags, fast, expected):
    assert pick_dtype("cpu", fast=fast, flags=frozenset(flags)) == expected


@pytest.mark.parametrize(
    ("cuda_bf16", "fast", "expected"),
    [(True, True, torch.bfloat16), (False, True, torch.float16), (True, False, torch.float16)],
)
def test_gpu_dtype_is_bf16_where_supported_else_fp16(cuda_bf16, fast, expected):
    assert pick_dtype("cuda", fast=fast, cuda_bf16=cuda_bf16) == expected


def test_fast_path_options_on_a_bf16_cpu_and_with_the_switches_off(monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert load_options(CaptionPipeline, "cpu", fast=True) == {"dtype": torch.bfloat16, "quantize": True}
    assert load_options(CaptionPipeline, "cpu", fast=False) == {"dtype": torch.float32, "quantize": False}
    # no decoder; PyTorch in bfloat16 runs CLIP faster than ONNX Runtime in float32 (runtime/ort.py)
    assert load_options(RetrievalPipeline, "cpu", fast=True) == {"dtype": torch.bfloat16, "cpu_runtime": "torch"}
    monkeypatch.setattr(settings, "INT8_DECODER", "off")
    assert load_options(CaptionPipeline, "cpu", fast=True)["quantize"] is False
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2"}))
    assert load_options(CaptionPipeline, "cpu", fast=True)["dtype"] == torch.float32


@pytest.mark.parametrize(("value", "on"), [("auto", True), ("off", False), ("0", False), ("false", False)])
def test_fast_path_environment_switch(monkeypatch, value, on):
    monkeypatch.setattr(settings, "FAST_PATH", value)
    assert devices.fast_path_default() is on
    assert ModelCache("tiny").fast_path is on


def test_tiny_models_stay_float32_and_the_switch_reloads_models(monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    cache = ModelCache("tiny")
    loaded = cache.get("caption")
    assert loaded.precision == "float32" and loaded.pipeline.model.dtype == torch.float32
    cache.set_fast_path(False)
    assert not cache.fast_path and cache.loaded() == []  # reloads in the new precision on next use


def test_bf16_and_int8_pipelines_work_and_stay_close_to_float32(models, cat):
    """The fast path's code (bfloat16 vision encoder, int8 text decoder), on the tiny BLIP."""
    source = str(hub.locate(models.get("caption").checkpoint)[0])
    plain = CaptionPipeline.from_pretrained(source, local_files_only=True)
    fast = CaptionPipeline.from_pretrained(source, dtype=torch.bfloat16, quantize=True, local_files_only=True)
    assert fast.model.vision_model.dtype == torch.bfloat16
    assert memory._quantized_linears(fast.model.text_decoder)  # int8 Linear layers
    assert isinstance(fast(cat, num_beams=1), str) and fast([cat, cat]) == [fast(cat)] * 2
    sizes = memory.tensor_bytes(fast)
    assert 0 < sizes["cpu"] < memory.tensor_bytes(plain)["cpu"]


def test_fused_vit_attention_gives_the_eager_result_and_stays_off_where_it_is_slower(models, cat):
    """BLIP's ViT attention through scaled_dot_product_attention in float32 (faster there,
    measured); in bfloat16 on the CPU the eager ops stay (the fused kernel was slower)."""
    import copy

    source = str(hub.locate(models.get("caption").checkpoint)[0])
    pipe = CaptionPipeline.from_pretrained(source, local_files_only=True)
    fused = pipe.model.vision_model.encoder.layers[0].self_attn
    assert "forward" in vars(fused)  # this instance's forward is the fused one
    eager = type(fused)(pipe.model.config.vision_config).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights of a size that shows a mistake (the tiny model's are near zero)
        for parameter in fused.parameters():
            parameter.normal_(0, 1, generator=generator)
    eager.load_state_dict(fused.state_dict())
    hidden = torch.randn(2, 17, eager.embed_dim, generator=torch.Generator().manual_seed(1))  # (B, 1 + patches, D)
    with torch.inference_mode():
        torch.testing.assert_close(fused(hidden)[0], eager(hidden)[0])
        assert isinstance(pipe(cat, num_beams=1), str)

    half = copy.deepcopy(pipe.model.vision_model).to(torch.bfloat16)
    for layer in half.encoder.layers:
        del layer.self_attn.forward
    precision.fused_vit_attention(half)
    assert not any("forward" in vars(layer.self_attn) for layer in half.encoder.layers)


def test_threads_use_the_cpus_this_process_may_use():
    assert 1 <= devices.usable_cpus() <= os.cpu_count()
    assert devices.configure_torch() == torch.get_num_threads() >= 1
    if not settings.NUM_THREADS:  # the tests run the tiny profile: one thread (a second only costs its wake-ups)
        assert devices.configure_torch() == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8GB", 8 * 2**30), ("512 MB", 512 * 2**20), ("1.5GiB", 1.5 * 2**30), ("0", 0), ("1000", 1000)],
)
def test_memory_budget_sizes(monkeypatch, text, expected):
    monkeypatch.setenv("BUDGET_UNDER_TEST", text)
    assert settings._size("BUDGET_UNDER_TEST", "0") == expected


def test_a_bad_memory_budget_says_how_to_write_one(monkeypatch):
    monkeypatch.setenv("BUDGET_UNDER_TEST", "lots")
    with pytest.raises(ValueError, match="8GB"):
        settings._size("BUDGET_UNDER_TEST", "0")


# --- Memory budget ------------------------------------------------------------------


def _sizes() -> dict[str, int]:
    cache = ModelCache("tiny", budget=0)  # 0: no limit
    return {task: cache.get(task).nbytes() for task in ("caption", "vqa", "retrieval")}


def test_the_memory_budget_evicts_the_least_recently_used_model_and_it_reloads(cat):
    sizes = _sizes()
    # Any two models fit, all three don't.
    cache = ModelCache("tiny", budget=sum(sizes.values()) - min(sizes.values()) // 2)
    first = cache.get("caption").pipeline(cat, num_beams=1)
    model = weakref.ref(cache.get("caption").pipeline.model)
    cache.get("vqa")
    cache.get("caption")  # a use: now vqa is the least recently used
    cache.get("retrieval")
    assert [item.requested.task for item in cache.loaded()] == ["caption", "retrieval"]
    assert sum(item.nbytes() for item in cache.loaded()) <= cache.budget("cpu")

    cache.get("vqa")  # caption is the least recently used now
    assert cache.peek("caption") is None and cache.is_loaded("vqa") and cache.is_loaded("retrieval")
    gc.collect()
    assert model() is None  # nothing keeps the evicted model's memory alive

    again = cache.get("caption")  # reloads on next use, and works as before
    assert again.pipeline(cat, num_beams=1) == first
    assert cache.peek("retrieval") is None  # ...evicting the least recently used in turn


def test_unload_frees_a_model_and_a_model_bigger_than_the_budget_still_loads():
    cache = ModelCache("tiny", budget=1)  # nothing fits: each load evicts everything else
    cache.get("caption")
    cache.get("retrieval")
    assert [item.requested.task for item in cache.loaded()] == ["retrieval"]
    assert cache.unload("retrieval", "tiny-clip") is True
    assert cache.loaded() == [] and cache.unload("retrieval", "tiny-clip") is False


def test_a_model_is_measured_when_it_loads_not_at_each_use(monkeypatch):
    """Counting a model's tensors walks all of them: a use of a loaded model that loads
    nothing more (a caption) leaves the sizes counted at its load."""
    counted = []
    monkeypatch.setattr("pipelines.cache.tensor_bytes", lambda p: counted.append(p) or memory.tensor_bytes(p))
    cache = ModelCache("tiny", budget=2**40)  # a budget: each load checks it
    for _ in range(3):
        cache.get("caption")
    assert len(counted) == 1 and cache.get("caption").nbytes() > 0


def test_a_pipeline_that_loads_parts_on_use_is_measured_again():
    """Text-to-image loads TAESD at the first decoder="taesd": the cache's next use counts it."""
    from runtime.tiny import tiny_path

    cache = ModelCache("tiny", budget=2**40)
    before = cache.get("text_to_image", "tiny-sd").nbytes()
    cache.get("text_to_image", "tiny-sd").pipeline.load_taesd(str(tiny_path("tiny/taesd")), local_files_only=True)
    assert cache.get("text_to_image", "tiny-sd").nbytes() > before


def test_what_on_load_returns_holds_while_the_model_loads_and_only_then():
    """``on_load`` may return a context (the UI's download and export progress): the load
    runs inside it, and a use of the loaded model enters nothing."""
    held = []

    @contextlib.contextmanager
    def loading(checkpoint):
        held.append(f"enter {checkpoint.key}")
        yield
        held.append("exit")

    cache = ModelCache("tiny")
    original = cache._load
    cache._load = lambda task, checkpoint: held.append("load") or original(task, checkpoint)
    cache.get("caption", on_load=loading)
    cache.get("caption", on_load=loading)
    assert held == ["enter tiny-blip", "load", "exit"]


def test_peek_never_loads():
    cache = ModelCache("tiny")
    assert cache.peek("caption") is None and cache.loaded() == []


def test_the_memory_estimate_is_close_to_what_a_model_takes():
    cache = ModelCache("tiny", budget=0)
    loaded = cache.get("vqa")
    estimate = hub.estimate_bytes(loaded.checkpoint, hub.locate(loaded.checkpoint)[0], torch.float32)
    assert 0.5 < estimate / loaded.nbytes() < 2


# --- Batching -------------------------------------------------------------------------


def _photos(n: int) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in sorted(IMAGES.glob("*.jpg"))[:n]]


def test_pipelines_give_a_batch_the_answers_its_items_get_alone(models):
    images = _photos(4)
    caption = models.get("caption").pipeline
    short = dict(max_new_tokens=8)
    for options in (dict(num_beams=1), dict(num_beams=3), dict(prompt="a photo of")):
        assert caption(images, **options, **short) == [caption(image, **options, **short) for image in images]
    sampled = caption(images[:2], do_sample=True, seed=7, **short)
    assert sampled == [caption(image, do_sample=True, seed=7, **short) for image in images[:2]]

    questions = ["what is it?", "how many coins are on the table?", "what is it?", "is it red?"]
    for key in ("tiny-blip-vqa", "tiny-vilt"):
        vqa = models.get("vqa", key).pipeline
        assert vqa(images, questions) == [vqa(i, q) for i, q in zip(images, questions, strict=True)]
    with pytest.raises(ValueError, match="one question per image"):
        models.get("vqa").pipeline(images, questions[:2])


def test_the_batcher_merges_waiting_requests_and_keeps_each_answer_and_error_apart():
    batcher = Batcher(max_batch_size=3)
    calls = []

    def square(items):
        calls.append(list(items))
        if "bad" in items:
            raise ValueError("bad item")
        time.sleep(0.5 if 1 in items else 0.01)  # the others arrive while 1 runs
        return [x * x for x in items]

    results, errors = {}, {}

    def request(item, key="k"):
        try:
            results[item] = batcher(square, key, item)
        except ValueError as error:
            errors[item] = str(error)

    first = threading.Thread(target=request, args=(1,))
    first.start()
    time.sleep(0.01)  # 1 is running: the next ones wait together
    others = [threading.Thread(target=request, args=(x,)) for x in (2, 3, "bad", 4)]
    others.append(threading.Thread(target=request, args=(5, "other key")))
    for t in others:
        t.start()
        time.sleep(0.005)
    for t in [first, *others]:
        t.join()
    assert results == {1: 1, 2: 4, 3: 9, 4: 16, 5: 25}
    assert errors == {"bad": "bad item"}  # the failed batch was retried one by one
    assert max(len(c) for c in calls) == 3  # batches, never above the limit
    assert [5] in calls  # another key never shares a batch


def test_concurrent_caption_requests_run_as_one_batch_with_the_answers_of_single_requests(models, monkeypatch):
    from runtime.batching import DEVICE_LOCK
    from ui.tabs import caption as caption_tab

    monkeypatch.setattr(settings, "MAX_BATCH_SIZE", 8)
    paths = [str(p) for p in sorted(IMAGES.glob("*.jpg"))[:5]]
    alone = [caption_tab.caption(path)[0] for path in paths]
    answers = {}
    with DEVICE_LOCK:  # the model is busy: the requests gather
        threads = [threading.Thread(target=lambda p=p: answers.update({p: caption_tab.caption(p)[0]})) for p in paths]
        for t in threads:
            t.start()
        time.sleep(1)
    for t in threads:
        t.join()
    assert [answers[p] for p in paths] == alone
    assert max(models.get("caption").batcher.batch_sizes[-5:]) > 1


# --- Through the running app ----------------------------------------------------------


def test_concurrent_api_requests_get_the_answers_of_single_requests(client):
    from gradio_client import handle_file

    images = [handle_file(str(p)) for p in sorted(IMAGES.glob("*.jpg"))[:6]]
    alone = [client.predict(image=image, api_name="/caption") for image in images]
    jobs = [client.submit(image=image, api_name="/caption") for image in images]
    assert [job.result(timeout=120) for job in jobs] == alone

    questions = ["what is it?", "how many?", "what color is the sky on the left?"] * 2
    alone = [client.predict(image=i, question=q, api_name="/vqa") for i, q in zip(images, questions, strict=True)]
    jobs = [client.submit(image=i, question=q, api_name="/vqa") for i, q in zip(images, questions, strict=True)]
    assert [job.result(timeout=120) for job in jobs] == alone

    alone = [client.predict(query=q, top_k=3, api_name="/search_by_text") for q in ("a cat", "coffee", "a rocket")]
    jobs = [client.submit(query=q, top_k=3, api_name="/search_by_text") for q in ("a cat", "coffee", "a rocket")]
    captions = [[hit["caption"] for hit in job.result(timeout=120)] for job in jobs]
    assert captions == [[hit["caption"] for hit in hits] for hits in alone]


def test_a_bad_request_among_concurrent_ones_fails_alone(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    (tmp_path / "notes.png").write_text("not an image")
    good = [client.submit(image=handle_file(str(p)), api_name="/caption") for p in sorted(IMAGES.glob("*.jpg"))[:4]]
    bad = client.submit(image=handle_file(str(tmp_path / "notes.png")), api_name="/caption")
    assert all(isinstance(job.result(timeout=120), str) for job in good)
    with pytest.raises(AppError, match="not an image"):
        bad.result(timeout=120)


# --- Models panel ---------------------------------------------------------------------


def test_models_panel_lists_unloads_and_switches_the_fast_path(monkeypatch):
    from ui.tabs import models as panel

    cache = ModelCache("tiny")
    monkeypatch.setattr(panel, "MODELS", cache)
    summary, table, picker = panel.refresh()
    assert "No model is loaded" in table and "memory budget" in summary
    cache.get("caption")
    cache.get("retrieval")
    summary, table, picker = panel.refresh()
    assert "Tiny BLIP" in table and "Tiny CLIP" in table and " KB" in table and "float32" in table
    assert [value for _, value in picker.choices] == ["caption|tiny-blip", "retrieval|tiny-clip"]

    _, table, picker = panel.unload("caption|tiny-blip")
    assert "Tiny BLIP" not in table and cache.peek("caption") is None
    cache.get("vqa")
    assert "No model is loaded" in panel.unload_all()[1]
    cache.get("vqa")
    panel.set_fast_path(False)
    assert cache.loaded() == []
    cache.configure("cpu")  # real checkpoints: the precision follows the switch (tiny ones stay float32)
    assert "float32" in panel.machine_summary() and "fast path off" in panel.machine_summary()


def test_a_view_only_models_panel_offers_no_way_to_unload(monkeypatch):
    # MODELS_PANEL=view (a public Space): the list, but no control that acts for everyone.
    from ui import build_demo
    from ui.tabs import models as panel

    def functions(demo):
        return {getattr(fn.fn, "__name__", "") for fn in demo.fns.values()}

    def labels(demo):  # the string keys of the buttons (Gradio keeps them as i18n metadata)
        return {str(b.value) for b in demo.blocks.values() if isinstance(b, gr.Button)}

    unload_label = str(panel._("models.unload"))
    monkeypatch.setattr(settings, "MODELS_PANEL", "full")
    demo = build_demo("tiny")
    assert {"unload", "unload_all", "set_fast_path"} <= functions(demo) and unload_label in labels(demo)
    monkeypatch.setattr(settings, "MODELS_PANEL", "view")
    demo = build_demo("tiny")
    assert "refresh" in functions(demo) and not {"unload", "unload_all", "set_fast_path"} & functions(demo)
    assert unload_label not in labels(demo)
    monkeypatch.setattr(settings, "MODELS_PANEL", "everything")
    with pytest.raises(ValueError, match="MODELS_PANEL must be full or view"):
        build_demo("tiny")


def test_on_a_gpu_the_least_recently_used_model_moves_to_the_cpu_then_leaves(monkeypatch):
    """The GPU branch of the budget, with stand-in pipelines (no GPU here): over the GPU
    budget, the least recently used model is moved to the CPU; over the CPU budget, an
    offloaded model is unloaded; a model with nothing on the GPU is left alone."""

    class Stand:
        def __init__(self, size):
            self.size, self.where = size, "cuda"

        def to(self, device):
            self.where = device.split(":")[0]
            return self

    monkeypatch.setattr("pipelines.cache.tensor_bytes", lambda p: {p.where: p.size})
    cache = ModelCache("tiny")
    monkeypatch.setattr(cache, "budget", lambda device: 100 if device.startswith("cuda") else 150)
    checkpoint = registry.get_checkpoint("caption", None, "tiny")
    for key, size in (("a", 60), ("b", 30), ("c", 0)):
        cache._items[("caption", key)] = Loaded(Stand(size), checkpoint, checkpoint, "cuda", 0, home="cuda")
    cache._make_room("cuda", 40, keep=None)  # 90 + 40 > 100: "a" (least recent) goes to the CPU
    a = cache._items[("caption", "a")]
    assert a.offloaded and a.device == "cpu" and cache._items[("caption", "b")].device == "cuda"
    offloaded = Stand(100).to("cpu")
    cache._items[("caption", "d")] = Loaded(offloaded, checkpoint, checkpoint, "cpu", 0, home="cuda")
    cache._make_room("cpu", 0, keep=None)  # 60 + 100 offloaded > 150: "a" leaves
    assert ("caption", "a") not in cache._items and ("caption", "d") in cache._items
    cache._make_room("cuda", 80, keep=None)  # "c" has nothing on the GPU: "b" moves instead
    assert cache._items[("caption", "c")].device == "cuda" and cache._items[("caption", "b")].device == "cpu"
