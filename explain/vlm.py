"""Explain views for the vision-language models (pipelines/vlm.py): each generated
token's probability and alternatives, and where in each image the language model's
attention fell when it wrote the token.

A VLM's image is a run of image tokens inside the language model's input. Their
place in the picture follows the family's layout:

- SmolVLM (``idefics3``): the image is resized and cut into ``rows x cols`` tiles plus
  a global view of the whole image; each is a SigLIP patch grid that the connector's
  pixel shuffle merges ``s x s`` into a smaller grid, written row by row. So a tile's
  tokens follow a ``<row_i_col_j>`` marker and fill its cell of the mosaic, and the
  global view's tokens, after ``<global-img>``, cover the whole picture.
- Gemma 3 (``gemma3``): one view of the image, its 64 x 64 SigLIP patches average-pooled
  4 x 4 into 16 x 16 tokens, row by row.
- Qwen3-VL and Qwen3.5 (``qwen3_vl``, ``qwen3_5``): the image at its own aspect ratio, cut
  into ``rows x cols`` patches of 16 px (``image_grid_thw``: frames, rows, columns); the
  processor orders the patches so that each 2 x 2 block is consecutive, and the merger joins
  each block into one token: ``rows/2 x cols/2`` tokens, row by row, between
  <|vision_start|> and <|vision_end|>.

For a generated token, softmax(q k^T / sqrt(d)) of the position that predicted it,
averaged over heads, gives its attention over every earlier token. We keep the part on
each image's tokens, lay it out on that image's grid, add the global view spread over
the tiles (each global cell covers ``rows x cols`` mosaic cells, its weight shared among
them), and divide by the total: a map that sums to one, plus the share of the token's
attention that went to that image at all (the rest is on the text). The maps come
from one more forward pass over the finished answer with explicit ("eager")
attention; the answer itself is the one the app generated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from explain.explanation import TOP_ALTERNATIVES, TOP_K, Explanation, parse_candidates
from pipelines.limits import VQA
from pipelines.vlm import with_tokens
from runtime.batching import DEVICE_LOCK
from runtime.files import shown_model
from runtime.inputs import check_number

MAX_EXPLAINED_TOKENS = 64  # answer tokens whose attention maps are computed
_TILE = re.compile(r"<row_(\d+)_col_(\d+)>")


@dataclass
class ImageLayout:
    """Where one image's tokens sit in the input (positions) and in the picture."""

    side: int = 0  # tokens per side of one grid (a tile, the global view, Gemma's image)
    grid: tuple[int, int] = (0, 0)  # a whole view that is not square (Qwen's): tokens down and across
    rows: int = 0  # tiles down and across (0: no tiles, the whole view only)
    cols: int = 0
    tiles: list[tuple[int, int, list[int]]] = field(default_factory=list)  # (row, col, positions), 1-based
    whole: list[int] = field(default_factory=list)  # the view of the whole image

    @property
    def shape(self) -> tuple[int, int]:
        if self.tiles:
            return self.rows * self.side, self.cols * self.side
        return self.grid if self.grid[0] else (self.side, self.side)

    @property
    def tokens(self) -> int:
        return len(self.whole) + sum(len(p) for _, _, p in self.tiles)


def image_layouts(model_type: str, tokenizer, config, input_ids: list[int], grids=None) -> list[ImageLayout]:
    """Each image's token positions in ``input_ids``, in order, from the family's layout;
    ``grids``: Qwen's ``image_grid_thw`` (images, 3), each image's frames, rows and columns of patches."""
    image_id = next(i for i in (getattr(config, n, None) for n in ("image_token_id", "image_token_index")) if i)
    runs, start = [], None  # (first, last + 1) of each run of image tokens
    for n, token in enumerate([*input_ids, None]):
        if token == image_id and start is None:
            start = n
        elif token != image_id and start is not None:
            runs.append((start, n))
            start = None
    layouts: list[ImageLayout] = []
    if model_type == "gemma3":  # one run per image
        return [ImageLayout(side=math.isqrt(b - a), whole=list(range(a, b))) for a, b in runs]
    if model_type in ("qwen3_vl", "qwen3_5"):  # one run per image, (rows/m) x (cols/m) tokens
        merge = config.vision_config.spatial_merge_size
        shapes = [(int(h) // merge, int(w) // merge) for _, h, w in (grids if grids is not None else [])]
        if len(shapes) != len(runs) or any(h * w != b - a for (h, w), (a, b) in zip(shapes, runs, strict=False)):
            raise ValueError(f"Qwen's image tokens ({[b - a for a, b in runs]}) don't match its grids ({shapes}).")
        return [ImageLayout(grid=shape, whole=list(range(a, b))) for shape, (a, b) in zip(shapes, runs, strict=True)]
    current = None
    for a, b in runs:  # SmolVLM: the marker just before a run says what the run is
        marker = tokenizer.convert_ids_to_tokens(int(input_ids[a - 1])) if a else ""
        side = math.isqrt(b - a)
        if current is None:
            current = ImageLayout(side=side)
        if match := _TILE.fullmatch(marker):
            row, col = int(match[1]), int(match[2])
            current.tiles.append((row, col, list(range(a, b))))
            current.rows, current.cols = max(current.rows, row), max(current.cols, col)
        else:  # <global-img>: the last view of an image
            current.whole = list(range(a, b))
            layouts.append(current)
            current = None
    return layouts


def image_maps(layout: ImageLayout, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Attention ``weights`` (..., T) over the input -> (maps (..., H, W) over this image's
    grid, each summing to one, and (...) the share of attention on this image's tokens)."""
    s, lead = layout.side, weights.shape[:-1]
    whole = weights[..., layout.whole].reshape(*lead, *(layout.grid if layout.grid[0] else (s, s)))
    if layout.tiles:
        grid = np.zeros((*lead, layout.rows * s, layout.cols * s), np.float32)
        for row, col, positions in layout.tiles:
            grid[..., (row - 1) * s : row * s, (col - 1) * s : col * s] = weights[..., positions].reshape(*lead, s, s)
        spread = np.repeat(np.repeat(whole, layout.rows, -2), layout.cols, -1) / (layout.rows * layout.cols)
        grid = grid + spread
    else:
        grid = whole.astype(np.float32)
    share = grid.sum((-2, -1))
    return grid / np.maximum(share, 1e-12)[..., None, None], share


def _text_positions(model, inputs, start: int, end: int) -> dict:
    """Qwen's multimodal RoPE positions (3, 1, end - start) for text tokens start..end after a
    prompt read through the cache: the text's own positions moved by the prompt's shift
    (``rope_deltas``, what its image tokens saved), as ``generate`` places them. {} for others."""
    if not hasattr(getattr(model, "model", None), "rope_deltas"):
        return {}
    shift = model.model.rope_deltas if "image_grid_thw" in inputs else None
    steps = torch.arange(start, end, device=inputs["input_ids"].device)[None]  # (1, n)
    steps = steps + (shift.to(steps.device) if shift is not None else 0)
    return {"position_ids": steps[None].expand(3, -1, -1)}


def token_attention(chat, inputs, new_ids: list[int]) -> np.ndarray:
    """(layers, new tokens, T) head-averaged attention of the position that predicted each
    of ``new_ids`` (the answer, after ``inputs``' prompt) over the input so far.

    Only those positions' rows are computed with explicit ("eager") attention: the prompt
    but its last token runs first as generate ran it, into the cache, without weights; then
    the last prompt token and the answer's tokens read the cache with eager attention. The
    weights kept are (heads, n, T) per layer, never the prompt's (heads, T, T)."""
    prompt_length = inputs["input_ids"].shape[1]
    new_ids = new_ids[:MAX_EXPLAINED_TOKENS]
    if not new_ids:
        return np.zeros((0, 0, prompt_length), np.float32)
    model = chat.model
    total = prompt_length + len(new_ids) - 1
    # As generate read them: the prompt with its images, then the answer's tokens as text
    # through the cache (an answer may hold an image token; it is no image here).
    # Per-token tensors (ids, mask, token types) lose the last token; pixels and grids stay.
    prefix = {
        key: value[:, :-1]
        if torch.is_tensor(value)
        and value.dim() == 2
        and value.shape[-1] == prompt_length
        and not key.startswith(("pixel", "image"))
        else value
        for key, value in inputs.items()
    }
    rest = with_tokens(inputs, new_ids[:-1])
    before = model.config._attn_implementation
    with DEVICE_LOCK, torch.inference_mode():
        cache = model(**prefix, use_cache=True).past_key_values
        model.set_attn_implementation("eager")  # SDPA computes no weights to return
        try:
            out = model(
                input_ids=rest["input_ids"][:, prompt_length - 1 :],
                attention_mask=rest["attention_mask"],
                past_key_values=cache,
                output_attentions=True,
                use_cache=True,
                **_text_positions(model, inputs, prompt_length - 1, total),
            )
        finally:
            model.set_attn_implementation(before)
        # (n, keys) per layer; a sliding-window layer keeps only its last keys: they are the latest positions.
        rows = [a[0].float().mean(0) for a in out.attentions]
        rows = [torch.nn.functional.pad(r, (total - r.shape[-1], 0)) for r in rows]
        return torch.stack(rows).cpu().numpy()  # (L, n, T)


def _token_text(tokenizer, token_id: int) -> str:
    return tokenizer.decode([int(token_id)])


def _step(tokenizer, token_id: int, logits: torch.Tensor) -> dict:
    probs = logits.float().softmax(-1)
    top = probs.topk(TOP_ALTERNATIVES)
    return {
        "token": _token_text(tokenizer, token_id),
        "token_id": int(token_id),
        "probability": float(probs[token_id]),
        "alternatives": [
            {"token": _token_text(tokenizer, i), "probability": float(p)}
            for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
        ],
    }


def _decode(task, inputs, answer_start: int, **options) -> dict:
    """``generate`` as the app's VLM adapters run it, with its logits: the new ids and steps."""
    model, tokenizer = task.model, task.processor.tokenizer
    out = model.generate(**inputs, return_dict_in_generate=True, output_logits=True, **options)
    prompt_length = inputs["input_ids"].shape[1]
    new = out.sequences[0, prompt_length:].tolist()
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    if ended := [n for n, i in enumerate(new) if i in eos]:  # beam search pads a finished answer
        new = new[: ended[0] + 1]
    beams = getattr(out, "beam_indices", None)
    steps = []
    for t, token_id in enumerate(new[: len(out.logits)]):
        row = int(beams[0, t]) if beams is not None and int(beams[0, t]) >= 0 else 0
        steps.append(_step(tokenizer, token_id, out.logits[t][row]))
    text = tokenizer.decode(out.sequences[0, answer_start : prompt_length + len(steps)], skip_special_tokens=True)
    return {"new_ids": new[: len(steps)], "steps": steps, "text": text.strip()}


def _strategy(decoded: dict, name: str, **settings) -> dict:
    probs = [s["probability"] for s in decoded["steps"]]
    return {
        "name": name,
        **settings,
        "text": decoded["text"],
        "sequence_probability": float(math.prod(probs)) if probs else 1.0,
        "steps": decoded["steps"],
    }


def _maps(task, inputs, decoded: dict, layout: ImageLayout) -> tuple[np.ndarray, list[float]]:
    """(L, steps, H, W) maps over the image for each explained token, and each token's
    share of attention on the image (averaged over layers)."""
    weights = token_attention(task.chat, inputs, decoded["new_ids"])  # (L, n, T)
    if not weights.size:
        return np.zeros((1, 0, *layout.shape), np.float32), []
    maps, share = image_maps(layout, weights)
    return maps, [round(float(v), 4) for v in share.mean(0)]


def _attention_info(task, maps: np.ndarray, layout: ImageLayout) -> dict:
    config = task.model.config.get_text_config()
    return {
        "what": "language model: each answer token -> the image's tokens (self-attention, averaged over heads; "
        "each map sums to 1, image_share is the part of the token's attention on the image)",
        "layers": int(maps.shape[0]),
        "heads": int(config.num_attention_heads),
        "grid": [int(maps.shape[-2]), int(maps.shape[-1])],
        "image_tokens": layout.tokens,
        "tiles": [layout.rows, layout.cols],
    }


def _explain(task, image, instruction, start, runs: dict, record: dict) -> Explanation:
    inputs, answer_start = task.encode(image, instruction, start)
    layout = image_layouts(
        task.model_type,
        task.processor.tokenizer,
        task.model.config,
        inputs["input_ids"][0].tolist(),
        inputs.get("image_grid_thw"),
    )[0]
    maps, labels, strategies = {}, {}, []
    for name, (options, settings) in runs.items():
        seed = options.pop("seed", 0)
        devices = [task.device] if task.device.type == "cuda" else []
        with torch.inference_mode(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            decoded = _decode(task, inputs, answer_start, **options)
        maps[name], shares = _maps(task, inputs, decoded, layout)
        labels[name] = [s["token"] for s in decoded["steps"][: maps[name].shape[1]]]
        strategies.append({**_strategy(decoded, name, **settings), "image_share": shares})
    record.update(
        model=shown_model(task.model_id),
        family=task.model_type,
        image_size=list(image.size),
        instruction=instruction,
        strategy="greedy",
        steps=strategies[0]["steps"],
        strategies=strategies,
        prompt_tokens=int(inputs["input_ids"].shape[1]),
        attention=_attention_info(task, maps["greedy"], layout),
    )
    return Explanation(record, image, maps, labels)


def explain_caption(
    task, image, prompt=None, max_new_tokens=30, num_beams=3, temperature=1.0, top_p=0.9, seed=None, language=None
) -> Explanation:
    """The Caption tab's decoding explorer for a VLM (``VLMCaptionPipeline``): greedy, beam
    search and sampling, each token with its probability and alternatives and its map over
    the image. Each text equals the tab's caption with the same settings."""
    image, options = task.preprocess(
        image,
        prompt=prompt,
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        do_sample=True,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        language=language,
    )
    prompt, new = options["prompt"], dict(max_new_tokens=options["max_new_tokens"])
    runs = {
        "greedy": (dict(new, num_beams=1, do_sample=False), {}),
        "beam": (dict(new, num_beams=options["num_beams"], do_sample=False), {"num_beams": options["num_beams"]}),
        "sampling": (
            dict(
                new,
                num_beams=1,
                do_sample=True,
                temperature=options["temperature"],
                top_p=options["top_p"],
                top_k=None,
                seed=options["seed"],
            ),
            {"seed": options["seed"], "temperature": options["temperature"], "top_p": options["top_p"]},
        ),
    }
    record = {"task": "caption", "prompt": prompt, "max_new_tokens": options["max_new_tokens"]}
    explanation = _explain(task, image, task.instruction(prompt, options.get("language")), prompt, runs, record)
    explanation.record["text"] = explanation.record["strategies"][0]["text"]
    return explanation


def explain_vqa(
    task, image, question: str, candidates=None, top_k: int = 5, max_new_tokens: int = 10, num_beams: int = 3
) -> Explanation:
    """The Ask tab's explorer for a VLM (``VLMVQAPipeline``): greedy (the tab's answer) and
    beam search with their maps over the image, and candidate answers scored by the model:
    P(answer | image, question), the product of its token probabilities."""
    image, question = task.preprocess(image, question)
    top_k = TOP_K.check("top_k", top_k)
    VQA["max_new_tokens"].check("max_new_tokens", max_new_tokens)
    num_beams = VQA["num_beams"].check("num_beams", num_beams)
    candidates = parse_candidates(candidates)
    new = dict(max_new_tokens=int(max_new_tokens), do_sample=False)
    runs = {"greedy": (dict(new, num_beams=1), {}), "beam": (dict(new, num_beams=num_beams), {"num_beams": num_beams})}
    record = {"task": "vqa", "question": question}
    instruction = task.instruction(question)
    explanation = _explain(task, image, instruction, None, runs, record)
    if not candidates:  # the model's own best answers: the strategies' and a wider beam's
        candidates = list(dict.fromkeys(s["text"] for s in explanation.record["strategies"] if s["text"]))
    inputs, _ = task.encode(image, instruction)
    answers = score_answers(task, inputs, candidates)[: max(top_k, len(candidates))]
    explanation.record.update(
        answer=explanation.record["strategies"][0]["text"],
        answers=answers,
        answers_scored_by="P(answer | image, question): the product of the model's token "
        "probabilities, the end of the answer included",
    )
    return explanation


@torch.inference_mode()
def score_answers(task, inputs, answers: list[str]) -> list[dict]:
    """Teacher-forced P(answer tokens + end | prompt) for each answer, best first."""
    tokenizer, model = task.processor.tokenizer, task.model
    eos = model.generation_config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    scored = []
    prompt_length = inputs["input_ids"].shape[1]
    space = " " if task.model_type == "idefics3" else ""  # as the adapter starts SmolVLM's answers
    for answer in answers:
        ids = tokenizer(space + answer, add_special_tokens=False, split_special_tokens=True)["input_ids"] + [eos]
        full = with_tokens(inputs, ids)
        with DEVICE_LOCK:
            logits = model(**full, use_cache=False).logits[0, prompt_length - 1 : -1]  # (len(ids), V)
        target = full["input_ids"][0, prompt_length:, None]
        log_p = logits.float().log_softmax(-1).gather(-1, target)[:, 0].sum()
        scored.append({"answer": answer, "probability": float(math.exp(float(log_p)))})
    return sorted(scored, key=lambda item: -item["probability"])


# --- Chat ---------------------------------------------------------------------------


def explain_chat(chat, turns: list[dict], system_prompt: str | None, new_ids: list[int], inputs=None) -> dict:
    """Where the answer ``new_ids`` to the conversation ``turns`` (checked, as the model read
    them) looked: for each image, (L, tokens, H, W) maps summing to one and (tokens,) the
    share of each token's attention on it. ``inputs``: ``turns`` encoded already (``chat.prepare``)."""
    inputs = chat.encode(chat.messages(turns, system_prompt)) if inputs is None else inputs
    layouts = image_layouts(
        chat.model_type,
        chat.processor.tokenizer,
        chat.model.config,
        inputs["input_ids"][0].tolist(),
        inputs.get("image_grid_thw"),
    )
    images = [image for turn in turns for image in turn["images"]]
    weights = token_attention(chat, inputs, list(new_ids))  # (L, n, T)
    found = []
    for image, layout in zip(images, layouts, strict=True):
        if weights.size:
            maps, share = image_maps(layout, weights)
        else:
            maps, share = np.zeros((1, 0, *layout.shape), np.float32), np.zeros((1, 0))
        found.append(
            {
                "image": image,
                "maps": maps,
                "share": share.mean(0),
                "grid": list(layout.shape),
                "tiles": [layout.rows, layout.cols],
                "tokens": layout.tokens,
            }
        )
    tokens = [chat.processor.tokenizer.decode([int(i)]) for i in list(new_ids)[:MAX_EXPLAINED_TOKENS]]
    return {"images": found, "tokens": tokens, "layers": int(weights.shape[0]) if weights.size else 0}


def check_token(token, count: int) -> int:
    """The answer token to show (1-based), or 0 for the whole answer."""
    return check_number("token", token, 0, max(count, 0))
