"""Create tab: text-to-image with latent diffusion (SD-Turbo, SDXL-Turbo, SD 1.5)."""

from __future__ import annotations

import gradio as gr

from pipelines import safety
from runtime import registry
from runtime.batching import DEVICE_LOCK
from runtime.cache import MODELS
from runtime.inputs import check_seed
from ui import explain
from ui.common import get_model, gpu, model_picker, model_status, status_line, user_errors
from ui.i18n import _

EXAMPLES = [
    "a watercolor painting of a red fox in a snowy forest",
    "an astronaut riding a horse on the moon, photograph",
    "a bowl of ramen on a wooden table, studio lighting",
    "a cozy reading corner with plants, isometric illustration",
]
FALLBACK_DEFAULTS = {"num_inference_steps": 25, "guidance_scale": 7.5, "width": 512, "height": 512}


@gpu
@user_errors
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
) -> list[tuple]:
    loaded = get_model("text_to_image", model, progress)
    checker = safety.checker_for(loaded, on_load=lambda c: progress(0, desc=f"Loading {c.label} ({c.size})…"))
    seed = check_seed(seed)
    # TAESD decoding and the denoising timeline (ui/explain.py)
    extras, frames = explain.create_extras(loaded, decoder, timeline, width, height)

    def on_step(step: int, total: int) -> None:
        progress((step, total), desc=f"Denoising step {step}/{total}")

    with DEVICE_LOCK:  # one model computation at a time (see runtime/batching.py)
        images = loaded.pipeline(
            prompt, negative_prompt=negative_prompt, seed=seed, num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale, width=width, height=height, num_images=num_images, callback=on_step,
            safety_checker=checker, **extras,
        )  # fmt: skip
    # Image i was made with seed + i: the caption says how to make it again alone.
    made = [(image, _caption(image, (seed + i) % 2**32)) for i, image in enumerate(images)]
    # Timeline frames (captioned "step k/N") show the first image forming: not shown when it was hidden.
    show_frames = frames and not safety.is_hidden(images[0])
    return made + (frames.frames if show_frames else [])


def _caption(image, seed: int) -> str:
    return f"seed {seed} · {safety.HIDDEN}" if safety.is_hidden(image) else f"seed {seed}"


def checkpoint_defaults(model: str | None) -> dict:
    checkpoint = registry.get_checkpoint("text_to_image", model, MODELS.profile)
    return {**FALLBACK_DEFAULTS, **checkpoint.defaults}


def build(demo: gr.Blocks) -> None:
    with gr.Tab(_("create.tab"), id="create"):
        gr.Markdown(_("create.intro"))
        gr.Markdown(
            _("safety.on" if safety.is_on() else "safety.off"),
            elem_classes="model-status" if safety.is_on() else "banner-tiny",
        )
        with gr.Row(equal_height=False):
            with gr.Column():
                prompt = gr.Textbox(label=_("create.prompt"), placeholder=EXAMPLES[0], lines=2, max_length=1000)
                picker = model_picker("text_to_image")
                defaults = checkpoint_defaults(picker.value)
                with gr.Accordion(_("common.advanced"), open=False):
                    negative_prompt = gr.Textbox(
                        label=_("create.negative_prompt"), info=_("create.negative_prompt_info")
                    )
                    seed = gr.Number(-1, precision=0, label=_("common.seed"), info=_("common.seed_info"))
                    with gr.Row():
                        steps = gr.Slider(1, 50, defaults["num_inference_steps"], step=1, label=_("create.steps"))
                        guidance = gr.Slider(0.0, 15.0, defaults["guidance_scale"], step=0.5, label=_("create.guidance"),
                                             info=_("create.guidance_info"))  # fmt: skip
                    with gr.Row():
                        width = gr.Slider(64, 1024, defaults["width"], step=64, label=_("create.width"))
                        height = gr.Slider(64, 1024, defaults["height"], step=64, label=_("create.height"))
                    num_images = gr.Slider(1, 4, 1, step=1, label=_("create.num_images"))
                    decoder, timeline = explain.create_options()
                button = gr.Button(_("create.button"), variant="primary")
            with gr.Column():
                gallery = gr.Gallery(
                    label=_("create.output"), columns=2, height=420, object_fit="contain", format="png"
                )
                status = status_line(demo, "text_to_image", picker)
        gr.Examples([[p] for p in EXAMPLES], inputs=[prompt], label=_("common.examples"))

        def apply_defaults(model):
            d = checkpoint_defaults(model)
            return d["num_inference_steps"], d["guidance_scale"], d["width"], d["height"]

        picker.change(apply_defaults, picker, [steps, guidance, width, height], api_visibility="private", queue=False)
        inputs = [prompt, negative_prompt, seed, steps, guidance, width, height, num_images, picker, decoder, timeline]
        event = gr.on([button.click, prompt.submit], text_to_image, inputs, gallery, api_name="text_to_image",
                      concurrency_id="model")  # fmt: skip
        event.then(lambda m: model_status("text_to_image", m), picker, status, api_visibility="private", queue=False)
        explain.create_panel(demo, prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
                             guidance=guidance, width=width, height=height, picker=picker, decoder=decoder,
                             gallery=gallery)  # fmt: skip
