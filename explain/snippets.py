"""Show the code: a short Python program that reproduces a result of the app with
transformers or diffusers directly, and a JSON record of the same.

A *record* is a plain dict: the task, the model (Hub id or local directory) and its
revision, the device and dtype it ran with, every parameter, the output, and the
library versions. ``snippet(record)`` writes the program; it loads the image as the
app does (EXIF orientation, transparency onto white, RGB, at most MAX_IMAGE_SIDE),
seeds the same generators, and prints (or saves) the output in the app's format,
so pasting it into a notebook gives the same result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from runtime import settings
from runtime.files import DATA_DIR_LABEL, atomic_write_bytes, shown_model, shown_path
from runtime.inputs import is_random_seed


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "diffusers"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def _image_info(image) -> dict:
    # The path as the visitor may see it: a bundled example relative to the app, an
    # upload by its name (theirs already), never where it lies on the server.
    path = Path(str(image)).expanduser().resolve()
    info = {"path": shown_path(path), "name": path.name}
    if path.is_file():
        info["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return info


def _model_info(loaded) -> dict:
    """Where the weights came from, and how the app ran them."""
    pipe = loaded.pipeline
    if getattr(loaded, "remote", False):  # a model server (BACKEND_<TASK>): its URL and model name
        backend = getattr(pipe, "backend", None) or pipe.chat.backend
        return {
            "model": loaded.checkpoint.key,
            "model_id": backend.model,
            "revision": loaded.checkpoint.revision,
            "device": "remote",
            "dtype": None,
            "server": backend.url,
            "versions": _versions(),
        }
    module = getattr(pipe, "model", None) or pipe.pipe
    return {
        "model": loaded.checkpoint.key,
        # A Hub id, or a local checkpoint (the tiny models: in the data dir) shown without its place on the server.
        "model_id": shown_model(pipe.model_id),
        "revision": loaded.checkpoint.revision,
        "device": str(loaded.device),
        "dtype": str(module.dtype).replace("torch.", ""),
        "versions": _versions(),
    }


def caption_record(
    loaded,
    image,
    output: str,
    prompt=None,
    max_new_tokens=30,
    num_beams=3,
    do_sample=False,
    temperature=1.0,
    top_p=0.9,
    seed=-1,
    language=None,
) -> dict:
    sampled = bool(do_sample)
    return {
        "task": "caption",
        **_model_info(loaded),
        "image": _image_info(image),
        "parameters": {
            "prompt": prompt.strip() if prompt and prompt.strip() else None,
            "max_new_tokens": int(max_new_tokens),
            "num_beams": int(num_beams),
            "do_sample": sampled,
            **({"temperature": float(temperature), "top_p": float(top_p)} if sampled else {}),
            # None: -1 drew a seed nobody kept (the UI passes the one it drew), so no replay
            **({"seed": None if is_random_seed(seed) else int(seed)} if sampled else {}),
        },
        "output": output,
        **_vlm_request(loaded.pipeline, prompt, language),
    }


def _vlm_request(pipe, text: str | None, language: str | None = None) -> dict:
    """For a vision-language model in Caption or Ask (pipelines/vlm_tasks.py): its family, the
    instruction it was given (a caption in ``language`` when given) and, for a caption
    prompt, the start of its answer."""
    if not hasattr(pipe, "chat"):
        return {}
    start = text.strip() if pipe.__class__.__name__ == "VLMCaptionPipeline" and text and text.strip() else None
    caption = hasattr(pipe, "options")  # VLMCaptionPipeline and its model-server twin
    asked = pipe.instruction(start if start is not None else text, *([language] if caption else []))
    return {
        "family": pipe.model_type,
        **_image_size(pipe),
        "instruction": asked,
        "start": None if start is None else pipe.answer_start(start),
    }


def vqa_record(loaded, image, question: str, output: str, max_new_tokens=10, num_beams=3) -> dict:
    family = getattr(loaded.pipeline, "model_type", "blip")
    parameters = {"question": question}
    if family == "blip":
        parameters.update(max_new_tokens=int(max_new_tokens), num_beams=int(num_beams))
    if hasattr(loaded.pipeline, "chat"):  # the adapter's defaults: a short answer, greedy
        parameters.update(max_new_tokens=int(max_new_tokens), num_beams=1)
    return {
        "task": "vqa",
        "family": family,
        **_model_info(loaded),
        "image": _image_info(image),
        "parameters": parameters,
        "output": output,
        **_vlm_request(loaded.pipeline, question),
    }


def _chat_image(path) -> dict:
    # "file", not "path": API clients take a JSON dict with a "path" for a file to download.
    info = _image_info(path)
    return {"file": info.pop("path"), **info}


def _image_size(pipe) -> dict:
    """Qwen's ``max_pixels`` as the app set it (registry defaults), for the program to read
    images at the same size; {} for the other families."""
    if getattr(pipe, "model_type", "") not in ("qwen3_vl", "qwen3_5") or getattr(pipe, "processor", None) is None:
        return {}
    return {"max_pixels": int(pipe.processor.image_processor.size["longest_edge"])}


def chat_record(loaded, result: dict, turns: list[dict], system_prompt: str | None) -> dict:
    """A chat answer (``ChatPipeline``'s result) with the conversation the model read
    (``turns``, after any were dropped), its images as the visitor may see them."""
    return {
        "task": "chat",
        "family": loaded.pipeline.model_type,
        **_image_size(loaded.pipeline),
        **_model_info(loaded),
        "system_prompt": system_prompt or None,
        "conversation": [
            {"role": turn["role"], "text": turn["text"], "images": [_chat_image(path) for path in turn["images"]]}
            for turn in turns
        ],
        "parameters": result["options"],
        "output": result["answer"],
        **{
            key: result[key]
            for key in (
                "prompt_tokens",
                "image_tokens",
                "images",
                "messages_used",
                "messages_dropped",
                "stopped",
                "context",
                "tokens",
            )
        },
    }


def text_to_image_record(
    loaded,
    prompt: str,
    seed: int,
    outputs: list[str],
    negative_prompt=None,
    num_inference_steps=None,
    guidance_scale=None,
    width=None,
    height=None,
    num_images=1,
    decoder="vae",
) -> dict:
    """``seed`` is the one actually used (the app's captions say "seed N"); the
    checkpoint's defaults fill what was left unset, as the pipeline does."""
    pipe = loaded.pipeline
    d = pipe.defaults
    info = _model_info(loaded)
    parameters = {
        "prompt": prompt,
        "negative_prompt": negative_prompt if negative_prompt and negative_prompt.strip() else None,
        "seed": int(seed),
        "num_inference_steps": int(d["num_inference_steps"] if num_inference_steps is None else num_inference_steps),
        "guidance_scale": float(d["guidance_scale"] if guidance_scale is None else guidance_scale),
        "width": int(d["width"] if width is None else width),
        "height": int(d["height"] if height is None else height),
        "num_images": int(num_images),
        "decoder": decoder,
    }
    if decoder == "taesd":
        parameters["taesd_id"] = pipe.taesd_id
    return {"task": "text_to_image", **info, "parameters": parameters, "output": outputs}


def _text_options(pipe) -> dict:
    """How the retrieval model's family reads text (pipelines/retrieval.py TEXT_OPTIONS)."""
    from pipelines.retrieval import LOWER_CASE, TEXT_OPTIONS

    return {"text_options": dict(TEXT_OPTIONS[pipe.model_type]), "lower_case": pipe.model_type in LOWER_CASE}


def classify_record(loaded, image, labels: list[str], output: dict) -> dict:
    pipe = loaded.pipeline
    return {
        "task": "classify",
        **_model_info(loaded),
        "image": _image_info(image),
        "parameters": {
            "labels": list(labels),
            "texts": [pipe.prompt(label) for label in labels],
            **_text_options(pipe),
        },
        "output": {label: float(p) for label, p in output.items()},
    }


def similarity_matrix_record(loaded, images: list, matrix: dict) -> dict:
    """The CLIP lab's result: ``matrix`` is ``explain_clip.similarity_matrix``'s record."""
    return {
        "task": "similarity_matrix",
        **_model_info(loaded),
        "images": [_image_info(image) for image in images],
        "parameters": {
            "texts": list(matrix["texts"]),
            "temperature": matrix["temperature"],
            **_text_options(loaded.pipeline),
        },
        "output": {"cosine": matrix["cosine"], "probabilities": matrix["probabilities"]},
    }


def search_record(
    loaded, query: str | None, image, text_weight: float, top_k: int, collection: list[dict], hits: list[dict]
) -> dict:
    """A search: the query (a text, an image or both), the collection it looked through
    (each image's file and the name the page shows) and the hits, best first."""
    has_text = bool(query and str(query).strip())
    return {
        "task": "search",
        **_model_info(loaded),
        "query": {
            "text": str(query).strip() if has_text else None,
            "image": _image_info(image) if image else None,
            "text_weight": float(text_weight) if has_text and image else None,
        },
        "collection": [{"path": shown_path(item["path"]), "name": item["name"]} for item in collection],
        "parameters": {"top_k": int(top_k), **_text_options(loaded.pipeline)},
        "output": [{"name": hit["name"], "score": float(hit["score"])} for hit in hits],
    }


def transcribe_record(loaded, audio, task: str, result: dict) -> dict:
    """A transcription: the clip, the language Whisper decoded in (given, or detected from
    the first window) and the task, and the text with its timed segments."""
    pipe = loaded.pipeline
    return {
        "task": "transcribe",
        **_model_info(loaded),
        "audio": _image_info(audio),
        "parameters": {"language": result["language"] if pipe.is_multilingual else None, "task": task},
        "output": {"text": result["text"], "chunks": result["chunks"]},
    }


# --- Programs -------------------------------------------------------------------

_LOAD_IMAGE = f"""\
# The image, prepared as the app prepares it: decoded at the size it is needed at
# (JPEG: at 1/2, 1/4 or 1/8 scale), oriented, shrunk, transparency onto white, RGB.
SIDE = {settings.MAX_IMAGE_SIDE}
image = Image.open(IMAGE)
fit = lambda w, h: (SIDE, max(1, math.ceil(h * SIDE / w - 1e-9))) if w >= h else (max(1, math.ceil(w * SIDE / h - 1e-9)), SIDE)
if image.format in ("JPEG", "MPO") and max(image.size) > SIDE:
    image.draft(image.mode, fit(*image.size))
image = ImageOps.exif_transpose(image)
if image.mode in ("1", "P"):
    image = image.convert("L" if image.mode == "1" else "RGBA" if "transparency" in image.info else "RGB")
if max(image.size) // SIDE >= 2:
    image = image.reduce(max(image.size) // SIDE)
if image.mode in ("RGBA", "LA", "PA"):
    image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
image = image.convert("RGB")
if max(image.size) > SIDE:
    image = image.resize(fit(*image.size), Image.Resampling.LANCZOS, reducing_gap=3.0)
"""


def _header(record: dict, imports: str) -> str:
    return (
        f'"""Reproduces a {record["task"].replace("_", "-")} result of Multimodal Playground.\n'
        f'Made with {", ".join(f"{k} {v}" for k, v in record.get("versions", {}).items())} on {record["device"]}."""\n\n'
        + ("import os\n" if record["model_id"].startswith(DATA_DIR_LABEL + "/") else "")
        + f"{imports}\n\n"
        + _model_line(record["model_id"])
        + f"REVISION = {record['revision']!r}\n"
        f"DEVICE = {record['device']!r}\n"
        f"DTYPE = torch.{record['dtype']}\n"
    )


def _model_line(model_id: str) -> str:
    """``MODEL = ...``: a Hub id as it is; a checkpoint in the app's data dir found from
    PLAYGROUND_DATA_DIR (or its default) where the program runs."""
    if not model_id.startswith(DATA_DIR_LABEL + "/"):
        return f"MODEL = {model_id!r}\n"
    relative = model_id.removeprefix(DATA_DIR_LABEL + "/")
    return (
        "MODEL = os.path.join(os.environ.get('PLAYGROUND_DATA_DIR', os.path.expanduser('~/.cache/multimodal-playground')), "
        f"{relative!r})  # a checkpoint the app made in its data dir\n"
    )


def _kwargs(options: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def _seed_line(p: dict) -> str:
    if not p.get("do_sample"):
        return ""
    if p["seed"] is not None:
        return f"torch.manual_seed({p['seed']})  # the seed sampling used\n"
    return "torch.manual_seed(0)  # the app drew a random seed: set a seed in the app to replay a sample exactly\n"


# Qwen3-VL and Qwen3.5: their processor builds a video processor too, which needs torchvision;
# for images, the image processor (Pillow) and the tokenizer from the same files are enough.
_QWEN_PROCESSOR = (
    "from transformers import Qwen3VLProcessor\n\n\n"
    "class ImageProcessor(Qwen3VLProcessor):  # Qwen's processor for images alone: no torchvision needed\n"
    "    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):\n"
    "        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)\n\n\n"
    "processor = ImageProcessor.from_pretrained(MODEL, revision=REVISION)\n"
)


def _vlm_processor(record: dict) -> str:
    """The lines that load the processor, and set the image size the app read images at."""
    if record.get("family") not in ("qwen3_vl", "qwen3_5"):
        return "processor = AutoProcessor.from_pretrained(MODEL, revision=REVISION)\n"
    pixels = record.get("max_pixels")
    size = (
        (
            f'processor.image_processor.size = {{**dict(processor.image_processor.size), "longest_edge": {pixels}}}'
            "  # the app's image size\n"
        )
        if pixels
        else ""
    )
    return _QWEN_PROCESSOR + size


def _vlm_answer(record: dict) -> str:
    """Caption or VQA with a vision-language model: one message, the image then the
    instruction, through the processor's chat template; a caption prompt starts the answer."""
    p = record["parameters"]
    options = {
        "max_new_tokens": p["max_new_tokens"],
        "num_beams": p["num_beams"],
        "do_sample": bool(p.get("do_sample")),
    }
    if p.get("do_sample"):
        options.update(temperature=p["temperature"], top_p=p["top_p"], top_k=None)
    return (
        _header(
            record,
            "import math\nimport torch\nfrom PIL import Image, ImageOps\n"
            "from transformers import AutoModelForImageTextToText, AutoProcessor",
        )
        + f"IMAGE = {record['image']['path']!r}  # the image you gave the app\n"
        f"INSTRUCTION = {record['instruction']!r}\n"
        f"START = {record['start']!r}  # the start of the answer (a caption prompt), or None\n\n"
        + _vlm_processor(record)
        + "model = AutoModelForImageTextToText.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE, device_map=DEVICE)\n"
        "model.eval()\n\n"
        + _LOAD_IMAGE
        + '\nmessages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": INSTRUCTION}]}]\n'
        "inputs = processor.apply_chat_template(\n"
        '    messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"'
        + (", enable_thinking=False" if record.get("family") == "qwen3_5" else "")
        + "\n).to(model.device)\n"
        'inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)\n'
        'answer_start = inputs["input_ids"].shape[1]\n'
        "if START:  # its tokens follow the prompt: ones in the attention mask, text (0) in any token types\n"
        '    start = processor.tokenizer(START, add_special_tokens=False, split_special_tokens=True, return_tensors="pt")["input_ids"].to(model.device)\n'
        "    for key in [k for k, v in inputs.items() if v.dim() == 2 and v.shape[-1] == answer_start]:\n"
        '        fill = start if key == "input_ids" else torch.ones_like(start) if key == "attention_mask" else start * 0\n'
        "        inputs[key] = torch.cat([inputs[key], fill.to(inputs[key].dtype)], dim=-1)\n"
        + _seed_line(p)
        + "with torch.inference_mode():\n"
        f"    output_ids = model.generate(**inputs, {_kwargs(options)})\n"
        "print(processor.tokenizer.decode(output_ids[0, answer_start:], skip_special_tokens=True).strip())\n"
    )


def _caption(record: dict) -> str:
    if "instruction" in record:
        return _vlm_answer(record)
    p = record["parameters"]
    options = {"max_new_tokens": p["max_new_tokens"], "num_beams": p["num_beams"]}
    if p["do_sample"]:
        options.update(do_sample=True, temperature=p["temperature"], top_p=p["top_p"])
    seed_line = _seed_line(p)
    return (
        _header(
            record,
            "import math\nimport torch\nfrom PIL import Image, ImageOps\n"
            "from transformers import BlipForConditionalGeneration, BlipProcessor",
        )
        + f"IMAGE = {record['image']['path']!r}  # the image you gave the app\n\n"
        "processor = BlipProcessor.from_pretrained(MODEL, revision=REVISION)\n"
        "model = BlipForConditionalGeneration.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE, device_map=DEVICE)\n"
        "model.eval()\n"
        + seed_line  # before the image's preparation (which draws nothing), so it is read first
        + "\n"
        + _LOAD_IMAGE
        + f'\ninputs = processor(images=image, text={p["prompt"]!r}, return_tensors="pt").to(model.device)\n'
        'inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)\n'
        "with torch.inference_mode():\n"
        f"    output_ids = model.generate(**inputs, {_kwargs(options)})\n"
        "print(processor.decode(output_ids[0], skip_special_tokens=True).strip())\n"
    )


def _vqa(record: dict) -> str:
    if "instruction" in record:
        return _vlm_answer(record)
    p = record["parameters"]
    blip = record["family"] == "blip"
    model_class = "BlipForQuestionAnswering" if blip else "ViltForQuestionAnswering"
    if blip:
        answer = (
            "with torch.inference_mode():\n"
            f"    output_ids = model.generate(**inputs, max_new_tokens={p['max_new_tokens']}, num_beams={p['num_beams']})\n"
            "print(processor.decode(output_ids[0], skip_special_tokens=True).strip())\n"
        )
    else:
        answer = (
            "with torch.inference_mode():\n"
            "    logits = model(**inputs).logits  # (1, number of answers): ViLT classifies\n"
            "print(model.config.id2label[int(logits[0].argmax())])\n"
        )
    return (
        _header(
            record,
            f"import math\nimport torch\nfrom PIL import Image, ImageOps\nfrom transformers import AutoProcessor, {model_class}",
        )
        + f"IMAGE = {record['image']['path']!r}  # the image you gave the app\n"
        f"QUESTION = {p['question']!r}\n\n"
        "processor = AutoProcessor.from_pretrained(MODEL, revision=REVISION)\n"
        f"model = {model_class}.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE, device_map=DEVICE)\n"
        "model.eval()\n\n"
        + _LOAD_IMAGE
        + '\ninputs = processor(images=image, text=QUESTION, return_tensors="pt", truncation=True).to(model.device)\n'
        'inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)\n' + answer
    )


# The app keeps the VAE's weights channels-last on the CPU (oneDNN's faster layout); the
# layout changes the order of float additions, so the snippet does the same to give the
# same pixels.
_CHANNELS_LAST = (
    'if pipe.device.type == "cpu":  # as the app does: the VAE in oneDNN\'s faster layout\n'
    "    pipe.vae.to(memory_format=torch.channels_last)\n"
)


def _text_to_image(record: dict) -> str:
    p = record["parameters"]
    taesd = p["decoder"] == "taesd"
    imports = "import torch\nfrom diffusers import AutoPipelineForText2Image" + (", AutoencoderTiny" if taesd else "")
    load = "pipe = AutoPipelineForText2Image.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE"
    if taesd:
        load = (
            f"# TAESD decodes the final latents instead of the full VAE\n"
            f"taesd = AutoencoderTiny.from_pretrained({p['taesd_id']!r}, dtype=DTYPE)\n" + load + ", vae=taesd"
        )
    options = {k: p[k] for k in ("num_inference_steps", "guidance_scale", "width", "height")}
    negative = f"[{p['negative_prompt']!r}] * N" if p["negative_prompt"] else "None"
    return (
        _header(record, imports)
        + f"PROMPT = {p['prompt']!r}\nSEED = {p['seed']}\nN = {p['num_images']}  # images; image i uses seed SEED + i\n\n"
        + load
        + ").to(DEVICE)\n"
        + ("" if taesd else _CHANNELS_LAST)
        + "# One CPU generator per image: the same seed gives the same image on any device\n"
        'generators = [torch.Generator("cpu").manual_seed((SEED + i) % 2**32) for i in range(N)]\n'
        "with torch.inference_mode():\n"
        f"    images = pipe(prompt=[PROMPT] * N, negative_prompt={negative}, {_kwargs(options)},\n"
        "                  generator=generators).images\n"
        "for i, image in enumerate(images):\n"
        '    image.save(f"seed-{(SEED + i) % 2**32}.png")\n'
        '    print(f"seed-{(SEED + i) % 2**32}.png")\n'
    )


def _text_setup(p: dict) -> str:
    """How the model reads text: CLIP pads to the longest text; SigLIP 2 reads 64 tokens
    of lower-cased text; Chinese-CLIP 52 tokens."""
    options = p.get("text_options", {"padding": True, "truncation": True})
    lines = f"TEXT_OPTIONS = {options!r}  # how this model's text encoder was trained to read\n"
    if p.get("lower_case"):
        lines += "TEXTS = [text.lower() for text in TEXTS]  # it was trained on lower-cased text\n"
    return lines + "\n"


def _classify(record: dict) -> str:
    p = record["parameters"]
    return (
        _header(
            record,
            "import math\nimport torch\nfrom PIL import Image, ImageOps\nfrom transformers import AutoModel, AutoProcessor",
        )
        + f"IMAGE = {record['image']['path']!r}  # the image you gave the app\n"
        f"LABELS = {p['labels']!r}\n"
        f"TEXTS = {p['texts']!r}  # the prompt template around each label\n"
        + _text_setup(p)
        + "processor = AutoProcessor.from_pretrained(MODEL, revision=REVISION)\n"
        "model = AutoModel.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE, device_map=DEVICE).eval()\n\n"
        + _LOAD_IMAGE
        + "\nwith torch.inference_mode():\n"
        '    pixels = processor(images=[image], return_tensors="pt")["pixel_values"].to(model.device, model.dtype)\n'
        "    image_embeds = model.get_image_features(pixel_values=pixels).pooler_output.float()\n"
        '    tokens = processor(text=TEXTS, return_tensors="pt", **TEXT_OPTIONS).to(model.device)\n'
        "    text_embeds = model.get_text_features(**tokens).pooler_output.float()\n"
        "    # Unit vectors: a dot product is the cosine similarity\n"
        "    image_embeds = image_embeds / image_embeds.norm(dim=-1, keepdim=True).clamp_min(1e-12)\n"
        "    text_embeds = text_embeds / text_embeds.norm(dim=-1, keepdim=True).clamp_min(1e-12)\n"
        "    # logits = exp(learned logit scale) * cosine, i.e. cosine / temperature\n"
        "    logits = (text_embeds.cpu() @ image_embeds[0].cpu()) * model.logit_scale.exp().float().cpu()\n"
        "    probs = logits.softmax(dim=0).tolist()\n"
        "for label, p in sorted(zip(LABELS, probs), key=lambda item: -item[1]):\n"
        '    print(f"{label}: {p:.4f}")\n'
    )


def _similarity_matrix(record: dict) -> str:
    p = record["parameters"]
    load = _LOAD_IMAGE.replace("image = Image.open(IMAGE)", "image = Image.open(path)")
    load = "\n".join("    " + line if line else line for line in load.splitlines()[2:])
    return (
        _header(
            record,
            "import math\nimport torch\nfrom PIL import Image, ImageOps\nfrom transformers import AutoModel, AutoProcessor",
        )
        + f"IMAGES = {[i['path'] for i in record['images']]!r}  # the images you gave the app\n"
        f"TEXTS = {p['texts']!r}\n"
        + _text_setup(p)
        + "processor = AutoProcessor.from_pretrained(MODEL, revision=REVISION)\n"
        "model = AutoModel.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE, device_map=DEVICE).eval()\n\n"
        "images = []\n"
        "for path in IMAGES:  # each image prepared as the app prepares it\n" + load + "\n    images.append(image)\n\n"
        "with torch.inference_mode():\n"
        '    pixels = processor(images=images, return_tensors="pt")["pixel_values"].to(model.device, model.dtype)\n'
        "    image_embeds = model.get_image_features(pixel_values=pixels).pooler_output.float()\n"
        '    tokens = processor(text=TEXTS, return_tensors="pt", **TEXT_OPTIONS).to(model.device)\n'
        "    text_embeds = model.get_text_features(**tokens).pooler_output.float()\n"
        "    image_embeds = image_embeds / image_embeds.norm(dim=-1, keepdim=True).clamp_min(1e-12)\n"
        "    text_embeds = text_embeds / text_embeds.norm(dim=-1, keepdim=True).clamp_min(1e-12)\n"
        "    cosine = image_embeds.cpu() @ text_embeds.cpu().T  # (images, texts)\n"
        "    # Zero-shot probabilities per image: softmax over the texts of cosine / temperature,\n"
        "    # with CLIP's learned temperature 1 / exp(logit_scale)\n"
        "    probs = (cosine * model.logit_scale.exp().float().cpu()).softmax(dim=-1)\n"
        "for path, row, prob in zip(IMAGES, cosine.tolist(), probs.tolist()):\n"
        '    print(path.split("/")[-1], " ".join(f"{c:.4f}" for c in row), "|", " ".join(f"{q:.4f}" for q in prob))\n'
    )


def _search(record: dict) -> str:
    p, query = record["parameters"], record["query"]
    load = "def load(IMAGE):\n" + "".join(f"    {line}\n" if line else "\n" for line in _LOAD_IMAGE.splitlines())
    images = [[item["path"], item["name"]] for item in record["collection"]]
    return (
        _header(
            record,
            # os finds the data dir (the header imports it already for a checkpoint there)
            ("" if record["model_id"].startswith(DATA_DIR_LABEL + "/") else "import os\n")
            + "import math\nimport torch\nfrom PIL import Image, ImageOps\nfrom transformers import AutoModel, AutoProcessor",
        )
        + f"TEXT = {query['text']!r}  # the search text (None: by image only)\n"
        f"QUERY_IMAGE = {query['image']['path'] if query['image'] else None!r}  # the example image (None: by text only)\n"
        f"TEXT_WEIGHT = {query['text_weight']!r}  # with both: the text's share of the query\n"
        f"TOP_K = {p['top_k']}\n"
        "# The collection searched: each file (the bundled gallery relative to the app, your images in\n"
        "# the app's data dir under their content hash) and the name the page shows for it.\n"
        f"IMAGES = {json.dumps(images, ensure_ascii=False, indent=4)}\n"
        "DATA_DIR = os.environ.get('PLAYGROUND_DATA_DIR', os.path.expanduser('~/.cache/multimodal-playground'))\n"
        + "TEXTS = [TEXT] if TEXT else []\n"
        + _text_setup(p)
        + "processor = AutoProcessor.from_pretrained(MODEL, revision=REVISION)\n"
        "model = AutoModel.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE, device_map=DEVICE).eval()\n\n\n"
        + load
        + "    return image\n\n\n"
        "def unit(features):  # unit vectors: a dot product is the cosine similarity\n"
        "    features = features.float().cpu()\n"
        "    return features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)\n\n\n"
        "def embed_images(paths):  # (N, D), 16 images at a time\n"
        "    chunks = []\n"
        "    for start in range(0, len(paths), 16):\n"
        "        batch = [load(path) for path in paths[start : start + 16]]\n"
        '        pixels = processor(images=batch, return_tensors="pt")["pixel_values"].to(model.device, model.dtype)\n'
        "        chunks.append(unit(model.get_image_features(pixel_values=pixels).pooler_output))\n"
        "    return torch.cat(chunks)\n\n\n"
        "with torch.inference_mode():\n"
        '    gallery = embed_images([path.replace("<data dir>", DATA_DIR) for path, _ in IMAGES])  # what the index holds\n'
        "    parts = []\n"
        "    if QUERY_IMAGE:\n"
        "        parts.append(embed_images([QUERY_IMAGE])[0])\n"
        "    if TEXTS:\n"
        '        tokens = processor(text=TEXTS, return_tensors="pt", **TEXT_OPTIONS).to(model.device)\n'
        "        parts.append(unit(model.get_text_features(**tokens).pooler_output)[0])\n"
        "    # By text or by image: that embedding. Both: the weighted sum of the two unit vectors, renormalised.\n"
        "    query = parts[0] if len(parts) == 1 else (1 - TEXT_WEIGHT) * parts[0] + TEXT_WEIGHT * parts[1]\n"
        "    query = query / query.norm()\n"
        "    scores = gallery @ query  # (N,) cosine similarity of every image with the query\n"
        "best = scores.topk(min(TOP_K, len(IMAGES)))\n"
        "for score, row in zip(best.values.tolist(), best.indices.tolist()):\n"
        '    print(f"{score:.3f} · {IMAGES[row][1]}")\n'
    )


def _transcribe(record: dict) -> str:
    from pipelines.speech_recognition import LONG_FORM

    p = record["parameters"]
    return (
        _header(
            record,
            "import numpy as np\nimport soundfile as sf\nimport soxr\nimport torch\n"
            "from transformers import WhisperForConditionalGeneration, WhisperProcessor",
        )
        + f"AUDIO = {record['audio']['path']!r}  # the clip you gave the app\n"
        f"LANGUAGE = {p['language']!r}  # as the app decoded it (None: an English-only model)\n"
        f"TASK = {p['task']!r}  # or 'translate': into English\n"
        "# Clips over 30 s are read window by window, with OpenAI's fallback settings.\n"
        f"LONG_FORM = {LONG_FORM!r}\n\n"
        "processor = WhisperProcessor.from_pretrained(MODEL, revision=REVISION)\n"
        "model = WhisperForConditionalGeneration.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE, device_map=DEVICE)\n"
        "model.eval()\n"
        "RATE = processor.feature_extractor.sampling_rate  # 16 kHz for every Whisper\n\n"
        "# The clip as the app reads it: mono (channels averaged), resampled to 16 kHz.\n"
        'data, rate = sf.read(AUDIO, dtype="float32", always_2d=True)  # (samples, channels)\n'
        "waveform = data.mean(axis=1, dtype=np.float32)\n"
        "if rate != RATE:\n"
        '    waveform = soxr.resample(waveform, rate, RATE, quality="HQ")\n'
        "duration = len(waveform) / RATE\n"
        "long_form = duration > processor.feature_extractor.chunk_length\n\n"
        "# Log-mel features: (1, n_mels, 3000) for one 30 s window, or the whole clip for long-form.\n"
        'extra = dict(truncation=False, padding="longest") if long_form else {}\n'
        'features = processor.feature_extractor(waveform, sampling_rate=RATE, return_tensors="pt", **extra)\n'
        "features = features.input_features.to(model.device, model.dtype)\n"
        "# LANGUAGE None on a multilingual model would detect it: model.detect_language(features).\n"
        "options = dict(language=LANGUAGE, task=TASK) if LANGUAGE else {}\n"
        "if long_form:\n"
        "    options.update(LONG_FORM)\n"
        "torch.manual_seed(0)  # the fallback samples: the app seeds it with 0\n"
        "with torch.inference_mode():\n"
        "    output = model.generate(features, return_timestamps=True, return_segments=True, **options)\n\n"
        "# One line per timed segment inside the clip, then the whole text.\n"
        "texts = []\n"
        'for segment in output["segments"][0]:\n'
        '    start, end = float(segment["start"]), float(segment["end"])\n'
        '    raw = processor.tokenizer.decode(segment["tokens"], skip_special_tokens=True)\n'
        "    if not raw.strip() or start >= duration:  # decoded padding past the end, never speech\n"
        "        continue\n"
        "    end = min(max(end, start), duration)\n"
        "    texts.append(raw)\n"
        '    print(f"{round(start, 2):.2f} -> {round(end, 2):.2f}  {raw.strip()}")\n'
        'print("".join(texts).strip())\n'
    )


def _chat(record: dict) -> str:
    p = record["parameters"]
    options = {"max_new_tokens": p["max_new_tokens"]}
    if p["temperature"] > 0:
        options.update(do_sample=True, temperature=p["temperature"], top_p=p["top_p"], top_k=None)
    else:
        options["do_sample"] = False
    conversation = [
        {"role": t["role"], "text": t["text"], "images": [i["file"] for i in t["images"]]}
        for t in record["conversation"]
    ]
    load = "def load(IMAGE):\n" + "".join(f"    {line}\n" if line else "\n" for line in _LOAD_IMAGE.splitlines())
    return (
        _header(
            record,
            "import math\nimport torch\nfrom PIL import Image, ImageOps\n"
            "from transformers import AutoModelForImageTextToText, AutoProcessor",
        )
        + f"SYSTEM_PROMPT = {record['system_prompt']!r}\n"
        + "# The conversation the model read (the images you gave the app), its last message the one answered.\n"
        + f"CONVERSATION = {json.dumps(conversation, ensure_ascii=False, indent=4)}\n\n"
        + _vlm_processor(record)
        + "model = AutoModelForImageTextToText.from_pretrained(MODEL, revision=REVISION, dtype=DTYPE, device_map=DEVICE)\n"
        "model.eval()\n\n\n" + load + "    return image\n\n\n"
        "# The processor's chat template writes the prompt: each message's images, then its text.\n"
        'messages = [{"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]}] if SYSTEM_PROMPT else []\n'
        "for turn in CONVERSATION:\n"
        '    content = [{"type": "image", "image": load(path)} for path in turn["images"]]\n'
        '    if turn["text"] or not content:\n'
        '        content.append({"type": "text", "text": turn["text"]})\n'
        '    messages.append({"role": turn["role"], "content": content})\n'
        "inputs = processor.apply_chat_template(\n"
        '    messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"'
        + (", enable_thinking=False" if record.get("family") == "qwen3_5" else "")
        + "\n).to(model.device)\n"
        'if "pixel_values" in inputs:\n'
        '    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)\n'
        + f"torch.manual_seed({p['seed'] if p['seed'] is not None else 0})  # the seed sampling used\n"
        "with torch.inference_mode():\n"
        f"    output_ids = model.generate(**inputs, {_kwargs(options)})\n"
        'print(processor.decode(output_ids[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip())\n'
    )


PROGRAMS = {
    "chat": _chat,
    "caption": _caption,
    "vqa": _vqa,
    "text_to_image": _text_to_image,
    "classify": _classify,
    "similarity_matrix": _similarity_matrix,
    "search": _search,
    "transcribe": _transcribe,
}


def _remote(record: dict) -> str:
    """A chat, caption or answer from a model server: the same request with the OpenAI client."""
    p = record["parameters"]
    if record["task"] == "chat":
        conversation = [
            {"role": t["role"], "text": t["text"], "images": [i["file"] for i in t["images"]]}
            for t in record["conversation"]
        ]
        system, tokens, temperature = record["system_prompt"], p["max_new_tokens"], p["temperature"]
    else:
        conversation = [{"role": "user", "text": record["instruction"], "images": [record["image"]["path"]]}]
        system, tokens = None, p["max_new_tokens"]
        temperature = p.get("temperature", 1.0) if p.get("do_sample") else 0.0
    sampling = f", top_p={p['top_p']}, seed={p.get('seed')}" if temperature > 0 else ""
    return (
        f'"""Reproduces a {record["task"]} result of Multimodal Playground, from the model server it ran on."""\n\n'
        "import base64\nimport io\nimport os\n\nfrom openai import OpenAI\nfrom PIL import Image\n\n"
        f"SERVER = {record['server']!r}  # BACKEND_{'CHAT'}\nMODEL = {record['model_id']!r}\n"
        f"SYSTEM_PROMPT = {system!r}\n"
        f"CONVERSATION = {json.dumps(conversation, ensure_ascii=False, indent=4)}\n\n"
        'client = OpenAI(base_url=SERVER, api_key=os.environ.get("BACKEND_API_KEY", "not-needed"))\n\n\n'
        "def image_url(path):  # the image as a PNG data URL, as the app sends it\n"
        "    buffer = io.BytesIO()\n"
        '    Image.open(path).convert("RGB").save(buffer, format="PNG")\n'
        '    return {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}}\n\n\n'
        'messages = [{"role": "system", "content": SYSTEM_PROMPT}] if SYSTEM_PROMPT else []\n'
        "for turn in CONVERSATION:\n"
        '    if turn["role"] == "assistant":\n'
        '        messages.append({"role": "assistant", "content": turn["text"]})\n'
        "        continue\n"
        '    content = [image_url(path) for path in turn["images"]]\n'
        '    content.append({"type": "text", "text": turn["text"]})\n'
        '    messages.append({"role": "user", "content": content})\n'
        f"reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens={tokens}, "
        f"temperature={temperature}{sampling})\n"
        "print(reply.choices[0].message.content.strip())\n"
    )


def snippet(record: dict) -> str:
    """The Python program that reproduces ``record``."""
    task = record.get("task")
    if record.get("server") and task in ("chat", "caption", "vqa"):
        return _remote(record)
    if task not in PROGRAMS:
        raise ValueError(f"No snippet for task {task!r}; available = {sorted(PROGRAMS)}")
    return PROGRAMS[task](record)


def write_record(record: dict, folder: Path) -> str:
    """Save ``record`` as JSON for download in ``folder`` (the UI gives a new one under
    OUTPUT_DIR per call, which ui/server/outputs.py prunes), written atomically."""
    path = Path(folder) / f"{record['task']}-record.json"
    atomic_write_bytes(path, json.dumps(record, indent=2, ensure_ascii=False).encode())
    return str(path)
