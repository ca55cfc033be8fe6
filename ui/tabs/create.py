"""Create tab: text-to-image with latent diffusion (SD-Turbo, SDXL-Turbo, SD 1.5)."""

from __future__ import annotations

import functools
import itertools
import queue
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from classroom.policy import ClassroomPolicy
from explain import snippets
from pipelines import safety
from pipelines.cache import MODELS
from pipelines.limits import TEXT_TO_IMAGE as LIMITS
from runtime import registry, settings
from runtime.backends import needs_local_model
from runtime.batching import DEVICE_LOCK
from runtime.hub import locate
from runtime.inputs import check_seed, check_text, collect_notices, notify
from runtime.registry import Checkpoint
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import examples, model_picker, model_status, seed_input, status_line
from ui.context import Context
from ui.handlers import get_model, gpu
from ui.i18n import _, bilingual, t
from ui.messages import locale, model_name, text
from ui.server import outputs

EXAMPLES = [
    "a watercolor painting of a red fox in a snowy forest",
    "an astronaut riding a horse on the moon, photograph",
    "a bowl of ramen on a wooden table, studio lighting",
    "a cozy reading corner with plants, isometric illustration",
]
# The Chinese page's prompts (Z-Image-Turbo reads them; SD-Turbo and SDXL-Turbo don't).
EXAMPLES_ZH = [
    "一幅水彩画：雪林中的一只红狐狸",
    "一名宇航员在月球上骑马，照片",
    "木桌上的一碗拉面，影棚灯光",
    "摆满绿植的温馨阅读角，等距插画",
]
FALLBACK_DEFAULTS = {"num_inference_steps": 25, "guidance_scale": 7.5, "width": 512, "height": 512}


@gpu
def text_to_image(
    prompt: str,
    negative_prompt: str | None = None,
    seed: int = -1,
    num_inference_steps: int = 1,
    guidance_scale: float = 0.0,
    width: int = 512,
    height: int = 512,
    num_images: int = 1,
    model: str | None = None,
    decoder: str = "vae",
    timeline: bool = False,
    progress=gr.Progress(track_tqdm=True),
) -> Iterator[list[tuple]]:
    """Generate images from a text prompt with latent diffusion (SD-Turbo, SDXL-Turbo, Stable Diffusion 1.5). Prompts on the safety blocklist are refused and flagged images are replaced by a notice. A request that would cost more than this server allows (width x height x steps x images) is refused with the numbers, and one that runs past its time limit stops with a message.

    Args:
        prompt: What the image should show, in English.
        negative_prompt: What it should not show (used when guidance_scale is above 1).
        seed: The random seed; image i uses seed + i. -1 draws one.
        num_inference_steps: Denoising steps (turbo models use 1-4).
        guidance_scale: How strongly to follow the prompt (turbo models use 0).
        width: Image width in pixels, a multiple of 8 (64-1024).
        height: Image height in pixels, a multiple of 8 (64-1024).
        num_images: How many images to make (1-4).
        model: Which text-to-image checkpoint to use; the profile's default when empty.
        decoder: "vae" (the full decoder) or "taesd" (a tiny, faster one).
        timeline: Also return the previews of the first image as it forms.

    Returns:
        The images, each captioned with the seed that makes it again, then any timeline frames.
    """
    # The checks that need no model run first: a bad input is refused before a download.
    check_text(prompt, "prompt")
    loaded = get_model("text_to_image", model, progress)
    _load_checker(loaded, progress)
    seed = check_seed(seed)
    # TAESD decoding and the denoising timeline (see the explain panel below)
    extras, frames = create_extras(loaded, decoder, timeline, width, height)
    if not loaded.remote:  # the size and the cost (pixels x steps) within this machine's budget, before any work
        loaded.pipeline.resolve(num_inference_steps, guidance_scale, width, height, num_images)
        extras.update(time_limit=settings.JOB_TIME_LIMIT)
    kwargs = dict(
        negative_prompt=negative_prompt,
        seed=seed,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        width=width,
        height=height,
        num_images=num_images,
        **extras,
    )
    images = yield from denoise(loaded.pipeline, prompt, kwargs, progress, stoppable=not loaded.remote)
    # Image i was made with seed + i: the caption says how to make it again alone.
    made = [(image, _caption(image, (seed + i) % 2**32)) for i, image in enumerate(images)]
    # Timeline frames (captioned "step k/N") show the first image forming: not shown when it was hidden.
    show_frames = frames and not safety.is_hidden(images[0])
    yield made + (frames.frames if show_frames else [])


def gallery_label(step: int | None = None, total: int | None = None) -> gr.Gallery:
    """The gallery's label, in the request's language, with the denoising step while it runs:
    "Images · Denoising step 3/8". A handler that yields shows no progress bar once it has
    yielded (Gradio marks its outputs "generating"), and Create yields at each step so that
    Stop and a closed page can end it: the step is written where the images will appear."""
    label = t("create.output", locale())
    if step is not None:
        label = f"{label} · {text('denoising', step=step, total=total)}"
    return gr.Gallery(label=label)


def denoise(pipeline, prompt: str, kwargs: dict, progress, stoppable: bool = True):
    """Run ``pipeline(prompt, **kwargs)`` in a worker thread and return its images, yielding
    at each step (the gallery's label with the step, ``gallery_label``) and twice a second
    meanwhile (``gr.skip()``): the moments at which Gradio can end this handler, for the Stop
    button (``cancels``) or a page that closed. Ending it stops the denoising after the
    current step (``stop``), so the model is free for the next visitor. Each step's progress
    (for API clients) says how long is left, from this request's own steps. The label is put
    back before the images or an error."""
    steps: queue.Queue = queue.Queue()
    stop, result = threading.Event(), {}
    started, first = time.monotonic(), None

    def work():
        with collect_notices() as notices:  # the worker's own, said by the handler when it ends
            try:
                with DEVICE_LOCK:  # one model computation at a time (see runtime/batching.py)
                    result["images"] = pipeline(
                        prompt,
                        callback=lambda step, total: steps.put((step, total)),
                        **(dict(stop=stop) if stoppable else {}),
                        **kwargs,
                    )
            except BaseException as error:  # handed to the handler's thread, which reports it
                result["error"] = error
            finally:
                result["notices"] = list(notices)
                steps.put(None)

    threading.Thread(target=work, name="create", daemon=True).start()
    try:
        while True:
            try:
                item = steps.get(timeout=0.5)
            except queue.Empty:
                yield gr.skip()
                continue
            if item is None:
                break
            step, total = item
            now = time.monotonic()
            first = first or (step, now)  # steps are timed from the first one (not the wait for the device)
            per_step = (now - first[1]) / (step - first[0]) if step > first[0] else (now - started) / step
            left = per_step * (total - step)
            desc = (
                text("denoising_eta", step=step, total=total, seconds=max(1, round(left)))
                if step < total
                else text("denoising", step=step, total=total)
            )
            progress((step, total), desc=desc)
            yield gallery_label(step, total)
    finally:
        stop.set()  # Stop, a closed page or an error: the worker ends after its current step; done: nothing to stop
    yield gallery_label()
    for message in result.get("notices", []):
        notify(message)
    if (error := result.pop("error", None)) is not None:
        try:
            raise error
        finally:  # else this frame keeps the error, its traceback and the failed call's tensors alive
            del error
    return result["images"]


def _load_checker(loaded, progress) -> None:
    """Load the pipeline's safety checker now, with a progress message, rather than at its
    first image (and refuse at once, before denoising, when it can't be had)."""
    loaded.pipeline.safety.checker(
        on_load=lambda c: progress(
            0, desc=bilingual("common.loading", model=f"{model_name(c.key, c.label)} ({c.size})")
        )
    )


def _caption(image, seed: int) -> str:
    """The image's caption in the gallery, in the request's language ("seed 3", "种子 3")."""
    return text("image_hidden_caption" if safety.is_hidden(image) else "image_caption", seed=seed)


def checkpoint_defaults(model: str | None) -> dict:
    checkpoint = registry.get_checkpoint("text_to_image", model, MODELS.profile)
    return {**FALLBACK_DEFAULTS, **checkpoint.defaults}


# --- Explain, How it works and Show the code ---------------------------------------


def attach_taesd(loaded) -> None:
    """Load the TAESD decoder for ``loaded``'s text-to-image model (the tiny one for a
    tiny model), through the same offline-aware lookup as every checkpoint."""
    from pipelines.text_to_image import TAESD

    pipe = loaded.pipeline
    if pipe.taesd is not None:
        return
    if loaded.checkpoint.is_tiny:
        checkpoint = Checkpoint("tiny-taesd", "text_to_image", "tiny/taesd", "taesd", "Tiny TAESD (random)", "1 MB")
    else:
        checkpoint = Checkpoint(f"taesd-{pipe.family}", "text_to_image", TAESD[pipe.family], "taesd", "TAESD", "10 MB")
    source, local_only = locate(checkpoint)
    pipe.load_taesd(source, local_files_only=local_only)
    if loaded.checkpoint.is_tiny:
        pipe.taesd_id = source


def create_options(classroom: ClassroomPolicy) -> tuple[gr.Radio, gr.Checkbox]:
    """The decoder and timeline options of /text_to_image, for the Advanced settings."""
    decoder = classroom.control(
        "decoder",
        gr.Radio,
        [(_("explain.decoder_vae"), "vae"), (_("explain.decoder_taesd"), "taesd")],
        value="vae",
        label=_("explain.decoder"),
        info=_("explain.decoder_info"),
    )
    timeline = classroom.control(
        "timeline", gr.Checkbox, False, label=_("explain.timeline"), info=_("explain.timeline_info")
    )
    return decoder, timeline


def create_extras(loaded, decoder: str = "vae", timeline: bool = False, width=None, height=None):
    """Keyword arguments for ``TextToImagePipeline.__call__`` that apply /text_to_image's
    ``decoder`` and ``timeline`` options, and the timeline (None when not asked for)."""
    from explain import diffusion as explain_diffusion
    from pipelines.text_to_image import DECODERS

    decoder = decoder or "vae"
    if decoder not in DECODERS:
        raise ValueError(f"Unknown decoder {decoder!r}; available decoders = {list(DECODERS)}")
    if decoder == "taesd" or timeline:
        needs_local_model(loaded.pipeline, "latents")
    if decoder == "taesd":
        attach_taesd(loaded)
    frames = None
    if timeline:
        pipe = loaded.pipeline
        size = (int(width or pipe.defaults["width"]), int(height or pipe.defaults["height"]))
        frames = explain_diffusion.Timeline(pipe, size, "latent")
    return {"decoder": decoder, "latents_callback": frames}, frames


@gpu
def explain_text_to_image(
    prompt: str,
    seed: int = -1,
    negative_prompt: str | None = None,
    num_inference_steps: int = 1,
    guidance_scale: float = 0.0,
    width: int = 512,
    height: int = 512,
    model: str | None = None,
    preview: str = "latent",
    decoder: str = "vae",
    progress=gr.Progress(track_tqdm=True),
):
    """Explain how an image forms: the denoising timeline, the noise schedule, and which part of the image each word of the prompt attended to.

    Args:
        prompt: What the image should show, in English.
        seed: The random seed; -1 draws one.
        negative_prompt: What it should not show.
        num_inference_steps: Denoising steps.
        guidance_scale: How strongly to follow the prompt.
        width: Image width in pixels, a multiple of 8.
        height: Image height in pixels, a multiple of 8.
        model: Which text-to-image checkpoint to use; the profile's default when empty.
        preview: How previews are decoded: "latent" (a fast approximation) or "taesd".
        decoder: How the final image is decoded: "vae" or "taesd".

    Returns:
        The explanation as JSON, one heatmap per word, and the timeline's frames.
    """
    # Streams the timeline while the image forms, then the per-word maps.
    from explain import diffusion as explain_diffusion

    # The checks that need no model run first: a bad input is refused before a download.
    check_text(prompt, "prompt")
    loaded = get_model("text_to_image", model, progress)
    needs_local_model(loaded.pipeline, "forming")
    _load_checker(loaded, progress)
    if "taesd" in (preview, decoder):
        attach_taesd(loaded)
    explain = functools.partial(
        explain_diffusion.explain_text_to_image,
        loaded.pipeline,
        prompt,
        seed,
        negative_prompt=negative_prompt,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        width=width,
        height=height,
        preview=preview,
        decoder=decoder,
        time_limit=settings.JOB_TIME_LIMIT,
    )
    explanation, shown = yield from _timeline(explain)
    # The previews as shown (checked); none when the finished image was hidden.
    yield explanation.record, explanation.words, shown if explanation.frames else []


def _timeline(explain):
    """Run ``explain(on_frame=..., stop=...)`` (the image forming, then its per-word maps) in
    a worker thread, yielding the previews shown so far as each is made, and ``gr.skip()``
    twice a second meanwhile: the moments at which Gradio can end the handler (see
    denoise), which stops the denoising. Returns the explanation and the previews shown."""
    frames: queue.Queue = queue.Queue()
    result: dict = {}
    stop = threading.Event()  # set when the handler ends: a closed page stops the denoising
    # Each preview is written once, as a file, and the gallery is handed the paths.
    # Handed PIL images, Gradio would re-encode the whole gallery at every update and
    # rewrite in place any file of the same content (two identical notices, say) while
    # the browser may still be reading it; files it copies once and renames into place.
    folder, numbers = outputs.new_folder("timeline"), itertools.count()

    def on_frame(image, caption):  # a preview the pipeline's safety filter has checked
        path = folder / f"frame-{next(numbers):03d}.png"
        image.save(path)
        frames.put((str(path), caption))

    def work():
        try:
            result["value"] = explain(on_frame=on_frame, stop=stop)
        except BaseException as error:  # handed to the handler's thread, which reports it
            result["error"] = error
        finally:
            frames.put(None)

    shown = []
    threading.Thread(target=work, daemon=True).start()
    try:
        while True:
            try:
                frame = frames.get(timeout=0.5)
            except queue.Empty:  # a moment at which Gradio can end this handler (see denoise)
                yield gr.skip(), gr.skip(), gr.skip()
                continue
            if frame is None:
                break
            shown.append(frame)
            yield gr.skip(), gr.skip(), list(shown)
    finally:
        stop.set()
    if (error := result.pop("error", None)) is not None:
        try:
            raise error
        finally:  # else this frame keeps the error, its traceback and the failed call's tensors alive
            del error
    return result["value"], shown


def _diffusion_plots(record: dict | None):
    if not record:
        return gr.skip(), gr.skip()
    # Step labels as text: whole steps on the axis (σ before step 1, ..., after the last step)
    sigmas = pd.DataFrame(
        {panels.STEP_LABEL: [f"{i:02d}" for i in range(len(record["sigmas"]))], panels.SIGMA: record["sigmas"]}
    )
    words = pd.DataFrame(
        [
            {panels.WORD: f"{i + 1:02d} {w['word']}", panels.ATTENTION: w["attention"]}
            for i, w in enumerate(record["words"])
        ],
        columns=[panels.WORD, panels.ATTENTION],
    )
    # Axis titles in the page's language (the columns keep their names, which the plots are built with).
    return (
        gr.LinePlot(sigmas, x_title=panels.axis_title(panels.STEP_LABEL)),
        gr.BarPlot(words, x_title=panels.axis_title(panels.WORD), y_title=panels.axis_title(panels.ATTENTION)),
    )


def create_code(prompt, negative_prompt, steps, guidance, width, height, model, decoder, images):
    """Show the code for the images in the gallery, from their captions ("seed 3")."""
    made = [caption for _image, caption in images or [] if caption and caption.startswith("seed ")]
    if not made:
        return "", None
    record = snippets.text_to_image_record(
        panels.loaded_model("text_to_image", model),
        check_text(prompt, "prompt"),
        int(made[0].split()[1]),
        made,
        negative_prompt,
        steps,
        guidance,
        width,
        height,
        len(made),
        decoder or "vae",
    )
    return panels.code_and_record(record)


def create_panel(
    demo, ctx, *, prompt, negative_prompt, seed, steps, guidance, width, height, picker, decoder, gallery
) -> None:
    """The Create tab's Explain, How it works and Show the code panels."""
    with gr.Accordion(_("explain.create_title"), open=False):
        gr.Markdown(_("explain.create_intro"))
        with gr.Row():
            preview = ctx.classroom.control(
                "preview",
                gr.Radio,
                [(_("explain.preview_latent"), "latent"), (_("explain.preview_taesd"), "taesd")],
                value="latent",
                label=_("explain.preview"),
                info=_("explain.preview_info"),
            )
            button = gr.Button(_("explain.create_button"), elem_id=run_id("explain_text_to_image"), variant="secondary")
        frames = gr.Gallery(
            label=_("explain.timeline_gallery"),
            columns=5,
            height=260,
            object_fit="contain",
            format="png",
            preview=False,
        )
        with gr.Row(equal_height=False):
            sigma_plot = gr.LinePlot(x=panels.STEP_LABEL, y=panels.SIGMA, label=_("explain.sigmas"), height=260)
            word_chart = gr.BarPlot(
                x=panels.WORD,
                y=panels.ATTENTION,
                label=_("explain.word_chart"),
                height=260,
                x_label_angle=-45,
                sort=None,
            )
        words = gr.Gallery(label=_("explain.words"), columns=6, height=280, object_fit="contain", format="png")
        with gr.Accordion(_("explain.json"), open=False):
            record = gr.JSON(label="JSON")
    panels.how_it_works("explain.create_how")
    code, record_file = panels.show_code()

    inputs = [prompt, seed, negative_prompt, steps, guidance, width, height, picker, preview, decoder]
    event = button.click(
        endpoint(explain_text_to_image, ctx, inputs, images=1),  # explaining an image makes one
        inputs,
        [record, words, frames],
        api_name="explain_text_to_image",
        concurrency_id="model",
    )
    plots = display(_diffusion_plots, ctx, record)
    event.success(plots, record, [sigma_plot, word_chart], api_visibility="private", queue=False)

    shown = [prompt, negative_prompt, steps, guidance, width, height, picker, decoder, gallery]
    gallery.change(display(create_code, ctx, shown), shown, [code, record_file], api_visibility="private")


def apply_defaults(model):
    """A checkpoint's own steps, guidance and size, set when the picker changes."""
    d = checkpoint_defaults(model)
    return d["num_inference_steps"], d["guidance_scale"], d["width"], d["height"]


def _advanced(defaults: dict, ctx: Context) -> SimpleNamespace:
    """The negative prompt, seed, steps, guidance, size, image count and decoder."""
    with gr.Accordion(_("common.advanced"), open=False):
        negative_prompt = ctx.classroom.control(
            "negative_prompt", gr.Textbox, label=_("create.negative_prompt"), info=_("create.negative_prompt_info")
        )
        seed = seed_input(ctx.classroom)
        with gr.Row():
            steps = ctx.classroom.control(
                "num_inference_steps",
                gr.Slider,
                *LIMITS["num_inference_steps"].ends,
                defaults["num_inference_steps"],
                step=1,
                label=_("create.steps"),
            )
            guidance = ctx.classroom.control(
                "guidance_scale",
                gr.Slider,
                *LIMITS["guidance_scale"].ends,
                defaults["guidance_scale"],
                step=0.5,
                label=_("create.guidance"),
                info=_("create.guidance_info"),
            )
        with gr.Row():
            width = ctx.classroom.control(
                "width", gr.Slider, *LIMITS["width"].ends, defaults["width"], step=64, label=_("create.width")
            )
            height = ctx.classroom.control(
                "height", gr.Slider, *LIMITS["height"].ends, defaults["height"], step=64, label=_("create.height")
            )
        num_images = ctx.classroom.control(
            "num_images", gr.Slider, *LIMITS["num_images"].ends, 1, step=1, label=_("create.num_images")
        )
        decoder, timeline = create_options(ctx.classroom)
    return SimpleNamespace(
        negative_prompt=negative_prompt,
        seed=seed,
        steps=steps,
        guidance=guidance,
        width=width,
        height=height,
        num_images=num_images,
        decoder=decoder,
        timeline=timeline,
    )


def build(demo: gr.Blocks, ctx: Context) -> None:
    with gr.Tab(_("create.tab"), id="create"):
        gr.Markdown(_("create.intro"))
        gr.Markdown(
            _("safety.on" if MODELS.safety_filter == "on" else "safety.off"),
            elem_classes="model-status" if MODELS.safety_filter == "on" else "banner-tiny",
        )
        with gr.Row(equal_height=False):
            with gr.Column():
                prompt = ctx.classroom.control(
                    "prompt",
                    gr.Textbox,
                    label=_("create.prompt"),
                    placeholder=_("create.placeholder"),
                    lines=2,
                    max_length=1000,
                )
                picker = model_picker("text_to_image", ctx.classroom)
                page = _advanced(checkpoint_defaults(picker.value), ctx)
                with gr.Row():
                    button = gr.Button(_("create.button"), elem_id=run_id("text_to_image"), variant="primary")
                    stop = gr.Button(_("create.stop"), variant="stop")
            with gr.Column():
                gallery = gr.Gallery(
                    label=_("create.output"),
                    interactive=False,
                    columns=2,
                    height=420,
                    object_fit="contain",
                    format="png",
                )
                status = status_line(demo, "text_to_image", picker, ctx)
        examples([[p] for p in EXAMPLES], [[p] for p in EXAMPLES_ZH], inputs=[prompt])

        settings_ = [page.steps, page.guidance, page.width, page.height]
        picker.change(display(apply_defaults, ctx, picker), picker, settings_, api_visibility="private", queue=False)
        inputs = [
            prompt,
            page.negative_prompt,
            page.seed,
            *settings_,
            page.num_images,
            picker,
            page.decoder,
            page.timeline,
        ]
        event = gr.on(
            [button.click, prompt.submit],
            endpoint(text_to_image, ctx, inputs, images="num_images"),
            inputs,
            gallery,
            api_name="text_to_image",
            concurrency_id="model",
        )
        status_shown = display(lambda m: model_status("text_to_image", m), ctx, picker)
        event.then(status_shown, picker, status, api_visibility="private", queue=False)
        # Stop ends the handler at its next step (see denoise), as a closed page does.
        stop.click(None, None, None, cancels=[event], api_visibility="private", queue=False)
        create_panel(
            demo,
            ctx,
            prompt=prompt,
            negative_prompt=page.negative_prompt,
            seed=page.seed,
            steps=page.steps,
            guidance=page.guidance,
            width=page.width,
            height=page.height,
            picker=picker,
            decoder=page.decoder,
            gallery=gallery,
        )


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their parameters).
ENDPOINTS = (text_to_image, explain_text_to_image)
