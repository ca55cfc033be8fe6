"""Explain views for the image-to-text models: why BLIP wrote each word of a caption
or an answer, and where in the image it looked; ViLT's ranked answers.

Decoding explorer. The caption (or BLIP's answer) is decoded three ways on the same
image, with ``transformers``' own ``generate``: greedy (always the most probable next
token), beam search (keeps ``num_beams`` candidate sentences and returns the most
probable whole sentence) and sampling (draws each token at random from the
distribution reshaped by ``temperature`` and ``top_p``, with a seed that is shown).
For every step we report the chosen token, the probability the model gave it,
p(token | image, tokens so far) = softmax(logits), and the five most probable tokens.
The logits are the raw ones that ``generate`` returns (``output_logits=True``) for the
beam or sample that produced the token, so nothing is recomputed approximately.

Where the model looked. BLIP's text decoder reads the image through cross-attention
(Li et al., 2022): each text position sends a query, every image patch a key, and
softmax(q k^T / sqrt(d)) says how much of each patch flows into the next word. We
run the decoder once more over the finished sentence with ``output_attentions=True``
(BLIP's text model always computes attention explicitly in transformers, so this
is the "eager" path; the normal captioning call never records it) and keep, for
each generated token, the row of the position that predicted it, averaged over
heads, as a map over the ViT's patch grid.

VQA. BLIP's question encoder cross-attends to the image and its answer decoder
attends to the question, so an answer token's map over the image is the two hops
composed: (answer -> question words) x (question words -> patches). Candidate answers
are scored with the generative model itself: P(answer | image, question), the
product of its token probabilities. ViLT (Kim et al., 2021) is one transformer over
question tokens and patches with a classifier over its answer vocabulary trained
with binary cross-entropy, so its scores are per-answer sigmoids; its [CLS] token,
which the classifier reads, gives the answer's map.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from explain import vlm
from explain.explanation import TOP_ALTERNATIVES, TOP_K, Explanation, parse_candidates
from explain.heatmaps import overlay
from pipelines.limits import CAPTION, MAX_QUESTION_CHARS, VQA
from runtime.files import shown_model
from runtime.inputs import check_number, check_seed, check_text, load_image

STRATEGIES = ("greedy", "beam", "sampling")


# --- Decoding steps -------------------------------------------------------------


def _token_text(tokenizer, token_id: int) -> str:
    return tokenizer.convert_ids_to_tokens(int(token_id))


def _step(tokenizer, token_id: int, logits: torch.Tensor, scores: torch.Tensor | None = None) -> dict:
    """One generated token: its probability under the model and the top alternatives."""
    probs = logits.float().softmax(-1)  # (V,)
    top = probs.topk(min(TOP_ALTERNATIVES, probs.numel()))
    step = {
        "token": _token_text(tokenizer, token_id),
        "token_id": int(token_id),
        "probability": float(probs[token_id]),
        "alternatives": [
            {"token": _token_text(tokenizer, i), "probability": float(p)}
            for p, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
        ],
    }
    if scores is not None:
        # The distribution sampling drew from: after temperature and top-p (filtered tokens get 0).
        step["sampling_probability"] = float(scores.float().softmax(-1)[token_id])
    return step


def _decode(model, tokenizer, inputs: dict, prompt_len: int, eos_id: int, **options) -> dict:
    """Run ``model.generate`` asking for its logits; return the generated ids and the steps."""
    out = model.generate(**inputs, return_dict_in_generate=True, output_scores=True, output_logits=True, **options)
    sequence = out.sequences[0]
    generated = sequence[prompt_len:].tolist()
    if eos_id in generated:  # beam search pads finished sentences; stop at the end token
        generated = generated[: generated.index(eos_id) + 1]
    beams = getattr(out, "beam_indices", None)
    sampled = options.get("do_sample", False)
    steps = []
    for t, token_id in enumerate(generated[: len(out.logits)]):
        row = int(beams[0, t]) if beams is not None else 0  # the beam this token was appended to
        steps.append(_step(tokenizer, token_id, out.logits[t][row], out.scores[t][row] if sampled else None))
    ids = sequence[: prompt_len + len(steps)]
    return {"ids": ids, "steps": steps}


def _strategy(tokenizer, decoded: dict, name: str, **settings) -> dict:
    probs = [s["probability"] for s in decoded["steps"]]
    return {
        "name": name,
        **settings,
        "text": tokenizer.decode(decoded["ids"], skip_special_tokens=True).strip(),
        "sequence_probability": float(math.prod(probs)) if probs else 1.0,
        "steps": decoded["steps"],
    }


def _strategies(model, tokenizer, inputs, prompt_len, eos_id, max_new_tokens, num_beams, temperature, top_p, seed):
    """Greedy, beam search and sampling on the same inputs, each with its ids and steps."""
    common = dict(max_new_tokens=int(max_new_tokens))
    results = {
        "greedy": (_decode(model, tokenizer, inputs, prompt_len, eos_id, num_beams=1, **common), {}),
        "beam": (
            _decode(model, tokenizer, inputs, prompt_len, eos_id, num_beams=int(num_beams), **common),
            {"num_beams": int(num_beams)},
        ),
    }
    # Seeded exactly like CaptionPipeline, without disturbing the global generator.
    device = model.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        sampled = _decode(
            model,
            tokenizer,
            inputs,
            prompt_len,
            eos_id,
            num_beams=1,
            do_sample=True,
            temperature=float(temperature),
            top_p=float(top_p),
            **common,
        )
    results["sampling"] = (sampled, {"seed": seed, "temperature": float(temperature), "top_p": float(top_p)})
    return results


# --- Attention ------------------------------------------------------------------


def _patch_grid(maps: torch.Tensor) -> np.ndarray:
    """(L, rows, 1 + N) head-averaged attention over [CLS] + N patches -> (L, rows, g, g)."""
    patches = maps[..., 1:]  # the ViT's [CLS] summarises the image; it is no place in it
    side = math.isqrt(patches.shape[-1])
    return patches.reshape(*patches.shape[:-1], side, side).float().cpu().numpy()


def _stack(attentions) -> torch.Tensor:
    """Tuple of L tensors (1, heads, Tq, Tk) -> (L, Tq, Tk), averaged over heads."""
    return torch.stack([a[0].float().mean(0) for a in attentions])


def _decoder_cross_attention(model, ids: torch.Tensor, encoder_states: torch.Tensor) -> torch.Tensor:
    """Cross-attention of BLIP's text decoder reading ``ids`` (T,): (L, T - 1, Tk). Row t
    is the position whose output predicted token t + 1."""
    ids = ids[None, :-1]
    out = model.text_decoder(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        encoder_hidden_states=encoder_states,
        encoder_attention_mask=torch.ones(encoder_states.shape[:2], dtype=torch.long, device=encoder_states.device),
        output_attentions=True,
        return_dict=True,
    )
    return _stack(out.cross_attentions)


# --- Caption ---------------------------------------------------------------------


@torch.inference_mode()
def explain_caption(
    pipe,
    image: Image.Image | str,
    prompt: str | None = None,
    max_new_tokens: int = 30,
    num_beams: int = 3,
    temperature: float = 1.0,
    top_p: float = 0.9,
    seed: int | None = None,
    language: str | None = None,
) -> Explanation:
    """Decode ``image``'s caption with greedy, beam search and sampling, and record the
    decoder's cross-attention over the image for every generated token.

    ``pipe`` is the app's ``CaptionPipeline``; the greedy text equals its output with
    ``num_beams=1``, the beam text its output with ``num_beams``, the sampled text its
    output with ``do_sample=True, num_beams=1`` and the same seed. A vision-language model
    (``VLMCaptionPipeline``) is explained by explain/vlm.py, asked in ``language`` as the tab asked it."""
    if hasattr(pipe, "chat"):
        return vlm.explain_caption(pipe, image, prompt, max_new_tokens, num_beams, temperature, top_p, seed, language)
    # 1. Check inputs: the caption pipeline's own checks (the sampling ones included)
    image, options = pipe.preprocess(
        image,
        prompt=prompt,
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        do_sample=True,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
    )
    prompt, max_new_tokens, seed = options["prompt"], options["max_new_tokens"], options["seed"]
    truncation = dict(truncation=True, max_length=options["truncate_to"]) if options["truncate_to"] else {}
    model, tokenizer = pipe.model, pipe.processor.tokenizer

    # 2. Preprocess; BLIP drops the prompt's final [SEP] and starts with its [DEC] token
    inputs = pipe.processor(images=image, text=prompt, return_tensors="pt", **truncation).to(pipe.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    prompt_len = inputs["input_ids"].shape[1] - 1 if prompt else 1
    eos_id = model.config.text_config.sep_token_id

    # 3. Decode three ways
    results = _strategies(
        model, tokenizer, inputs, prompt_len, eos_id, max_new_tokens, num_beams, temperature, top_p, seed
    )

    # 4. Cross-attention over the patches for each generated token: (L, T, g, g)
    image_embeds = model.vision_model(pixel_values=inputs["pixel_values"])[0]  # (1, 1 + N, D)
    maps, labels = {}, {}
    for name, (decoded, _) in results.items():
        attention = _decoder_cross_attention(model, decoded["ids"], image_embeds)
        rows = attention[:, prompt_len - 1 : prompt_len - 1 + len(decoded["steps"])]
        maps[name] = _patch_grid(rows)
        labels[name] = [s["token"] for s in decoded["steps"]]

    strategies = [_strategy(tokenizer, decoded, name, **settings) for name, (decoded, settings) in results.items()]
    record = {
        "task": "caption",
        "model": shown_model(pipe.model_id),
        "image_size": list(image.size),
        "prompt": prompt,
        "max_new_tokens": int(max_new_tokens),
        "strategy": "greedy",
        "text": strategies[0]["text"],
        "steps": strategies[0]["steps"],
        "strategies": strategies,
        "attention": _attention_info(model.config.text_config, maps["greedy"], "text decoder -> image patches"),
    }
    return Explanation(record, image, maps, labels)


def _attention_info(config, maps: np.ndarray, what: str) -> dict:
    return {
        "what": what + " (cross-attention, averaged over heads)",
        "layers": int(maps.shape[0]),
        "heads": int(config.num_attention_heads),
        "grid": [int(maps.shape[-2]), int(maps.shape[-1])],
    }


# --- Visual question answering --------------------------------------------------


@torch.inference_mode()
def explain_vqa(
    pipe,
    image: Image.Image | str,
    question: str,
    candidates: str | list[str] | None = None,
    top_k: int = 5,
    max_new_tokens: int = 10,
    num_beams: int = 3,
    temperature: float = 1.0,
    top_p: float = 0.9,
    seed: int | None = None,
) -> Explanation:
    """Explain ``pipe``'s (the app's ``VQAPipeline``) answer to ``question``: decoding
    steps, the top ``top_k`` candidate answers with probabilities (or the given
    ``candidates`` scored), and attention maps over the image. A vision-language model
    (``VLMVQAPipeline``) is explained by explain/vlm.py."""
    if hasattr(pipe, "chat"):
        return vlm.explain_vqa(pipe, image, question, candidates, top_k, max_new_tokens, num_beams)
    image = load_image(image)
    question = check_text(question, "question", MAX_QUESTION_CHARS)
    top_k = TOP_K.check("top_k", top_k)
    candidates = parse_candidates(candidates)
    inputs = pipe.processor(images=image, text=question, return_tensors="pt", truncation=True).to(pipe.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(pipe.model.dtype)
    if pipe.model_type == "vilt":
        return _explain_vilt(pipe, image, question, inputs, candidates, top_k)
    VQA["max_new_tokens"].check("max_new_tokens", max_new_tokens)
    VQA["num_beams"].check("num_beams", num_beams)
    CAPTION["temperature"].check("temperature", temperature)  # sampling, as the Caption tab's
    CAPTION["top_p"].check("top_p", top_p)
    return _explain_blip_vqa(
        pipe,
        image,
        question,
        inputs,
        candidates,
        top_k,
        max_new_tokens,
        num_beams,
        temperature,
        top_p,
        check_seed(seed),
    )


def _question_tokens(tokenizer, input_ids: torch.Tensor) -> list[str]:
    return tokenizer.convert_ids_to_tokens(input_ids[0].tolist())


def _explain_blip_vqa(
    pipe, image, question, inputs, candidates, top_k, max_new_tokens, num_beams, temperature, top_p, seed
) -> Explanation:
    model, tokenizer = pipe.model, pipe.processor.tokenizer
    eos_id = model.config.text_config.sep_token_id

    # 1. The answer decoded three ways (the app answers with beam search)
    results = _strategies(model, tokenizer, inputs, 1, eos_id, max_new_tokens, num_beams, temperature, top_p, seed)

    # 2. Question encoder: question tokens cross-attend to the patches -> (L, Tq, g, g)
    image_embeds = model.vision_model(pixel_values=inputs["pixel_values"])[0]
    encoded = model.text_encoder(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=torch.ones(image_embeds.shape[:2], dtype=torch.long, device=image_embeds.device),
        output_attentions=True,
        return_dict=True,
    )
    question_states = encoded.last_hidden_state  # (1, Tq, D): what the answer decoder reads
    question_maps = _patch_grid(_stack(encoded.cross_attentions))
    question_labels = _question_tokens(tokenizer, inputs["input_ids"])

    # 3. Answer tokens: (answer -> question) averaged over decoder layers, composed with
    # (question -> patches) of each encoder layer: (L, Ta, g, g)
    maps, labels, to_question = {"question": question_maps}, {"question": question_labels}, {}
    for name, (decoded, _) in results.items():
        weights = _decoder_cross_attention(model, decoded["ids"], question_states).mean(0)  # (Ta, Tq)
        weights = weights[: len(decoded["steps"])].cpu().numpy()
        maps[name] = np.einsum("aq,lqhw->lahw", weights, question_maps)
        labels[name] = [s["token"] for s in decoded["steps"]]
        to_question[name] = [dict(zip(question_labels, map(float, row), strict=True)) for row in weights]

    # 4. Candidate answers, scored by the model: P(answer | image, question)
    if not candidates:
        candidates = _beam_candidates(pipe, inputs, top_k, max_new_tokens)
    answers = _score_answers(pipe, question_states, candidates)[: max(top_k, len(candidates))]

    strategies = [_strategy(tokenizer, decoded, name, **settings) for name, (decoded, settings) in results.items()]
    for strategy in strategies:
        strategy["attention_to_question"] = to_question[strategy["name"]]
    record = {
        "task": "vqa",
        "model": shown_model(pipe.model_id),
        "family": "blip",
        "image_size": list(image.size),
        "question": question,
        "question_tokens": question_labels,
        "strategy": "greedy",
        "answer": strategies[0]["text"],
        "steps": strategies[0]["steps"],
        "strategies": strategies,
        "answers": answers,
        "answers_scored_by": "P(answer | image, question): the product of the decoder's token probabilities",
        "attention": _attention_info(model.config.text_config, question_maps, "question encoder -> image patches"),
    }
    return Explanation(record, image, maps, labels)


def _beam_candidates(pipe, inputs, k: int, max_new_tokens: int) -> list[str]:
    """The ``k`` best distinct answers of a beam search as wide as ``k``."""
    k = max(int(k), 1)
    ids = pipe.model.generate(**inputs, max_new_tokens=int(max_new_tokens), num_beams=k, num_return_sequences=k)
    texts = [pipe.processor.decode(row, skip_special_tokens=True).strip() for row in ids]
    return list(dict.fromkeys(t for t in texts if t))


def _score_answers(pipe, question_states: torch.Tensor, answers: list[str]) -> list[dict]:
    """Teacher-forced log P(answer tokens + end | image, question) for each answer, best first."""
    if not answers:
        return []
    model, tokenizer = pipe.model, pipe.processor.tokenizer
    tokens = tokenizer(answers, padding=True, return_tensors="pt").to(pipe.device)
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    ids[:, 0] = model.decoder_start_token_id  # BLIP's answers start with [DEC], not [CLS]
    states = question_states.expand(len(answers), -1, -1)
    logits = model.text_decoder(
        input_ids=ids[:, :-1],
        attention_mask=mask[:, :-1],
        encoder_hidden_states=states,
        encoder_attention_mask=torch.ones(states.shape[:2], dtype=torch.long, device=states.device),
        return_dict=True,
    ).logits
    log_probs = logits.float().log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]  # (A, T - 1)
    totals = (log_probs * mask[:, 1:]).sum(-1)  # padding after [SEP] counts nothing
    scored = [{"answer": a, "probability": float(math.exp(t))} for a, t in zip(answers, totals.tolist(), strict=True)]
    return sorted(scored, key=lambda item: -item["probability"])


def _explain_vilt(pipe, image, question, inputs, candidates, top_k) -> Explanation:
    model, tokenizer = pipe.model, pipe.processor.tokenizer
    # 1. Embed the patches ourselves to learn where each one sits: ViLT shuffles them
    # (with their position embeddings, so its output doesn't depend on the order).
    embeddings = model.vilt.embeddings
    image_embeds, patch_mask, (patch_index, _) = embeddings.visual_embed(
        inputs["pixel_values"], inputs["pixel_mask"], max_image_length=model.config.max_image_length
    )  # (1, 1 + N, D), (1, 1 + N), (1, N, 2) rows and columns
    out = model(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        token_type_ids=inputs.get("token_type_ids"),
        image_embeds=image_embeds,
        pixel_mask=patch_mask,
        output_attentions=True,
        return_dict=True,
    )

    # 2. Answers: one sigmoid per answer (trained with binary cross-entropy on soft scores)
    scores = out.logits[0].float().sigmoid()  # (num_answers,)
    id2label = model.config.id2label
    order = scores.argsort(descending=True).tolist()
    best = order[0]
    if candidates:
        label2id = {label: i for i, label in id2label.items()}
        answers = [
            {"answer": c, "probability": float(scores[label2id[c]]) if c in label2id else None} for c in candidates
        ]
        answers.sort(key=lambda a: -(a["probability"] if a["probability"] is not None else -1))
    else:
        answers = [{"answer": id2label[i], "probability": float(scores[i])} for i in order[:top_k]]
    step = {
        "token": id2label[best],
        "token_id": best,
        "probability": float(scores[best]),
        "alternatives": [{"token": id2label[i], "probability": float(scores[i])} for i in order[:TOP_ALTERNATIVES]],
    }

    # 3. Attention of each text token over the patches, put back on the patch grid
    num_text = inputs["input_ids"].shape[1]
    attention = _stack(out.attentions)[:, :num_text, num_text + 1 :]  # (L, Tq, N); skip the image [CLS]
    rows, cols = patch_index[0, :, 0].tolist(), patch_index[0, :, 1].tolist()
    grid = np.zeros((*attention.shape[:2], max(rows) + 1, max(cols) + 1), np.float32)
    grid[:, :, rows, cols] = attention.cpu().numpy()
    question_labels = _question_tokens(tokenizer, inputs["input_ids"])
    maps = {"classifier": grid[:, :1], "question": grid}  # the classifier reads the text [CLS]
    labels = {"classifier": [step["token"]], "question": question_labels}

    strategy = {
        "name": "classifier",
        "text": step["token"],
        "sequence_probability": step["probability"],
        "steps": [step],
    }
    record = {
        "task": "vqa",
        "model": shown_model(pipe.model_id),
        "family": "vilt",
        "image_size": list(image.size),
        "question": question,
        "question_tokens": question_labels,
        "strategy": "classifier",
        "answer": step["token"],
        "steps": [step],
        "strategies": [strategy],
        "answers": answers,
        "answers_scored_by": f"sigmoid of ViLT's classifier over its {len(id2label)} answers (they need not sum to 1)",
        "attention": {
            "what": "text tokens -> image patches in ViLT's single transformer (self-attention, averaged over heads)",
            "layers": int(grid.shape[0]),
            "heads": int(model.config.num_attention_heads),
            "grid": [int(grid.shape[-2]), int(grid.shape[-1])],
        },
    }
    return Explanation(record, image, maps, labels)


# --- Drawing ------------------------------------------------------------------------


def layer_maps(maps: np.ndarray, layer: int = 0) -> np.ndarray:
    """(rows, h, w) maps of one layer (1-based), or averaged over all layers for 0."""
    layer = check_number("layer", layer, 0, maps.shape[0])
    return maps.mean(0) if layer == 0 else maps[layer - 1]


def heatmaps(explanation: Explanation, key: str, layer: int = 0, prefix: str = "") -> list[tuple[Image.Image, str]]:
    """One heatmap over the image per row of ``explanation.maps[key]``, captioned with its token."""
    if key not in explanation.maps:
        raise ValueError(f"Unknown attention view {key!r}; available = {sorted(explanation.maps)}")
    selected = layer_maps(explanation.maps[key], layer)
    return [
        (overlay(explanation.image, heat), f"{prefix}{i + 1}. {label}")
        for i, (heat, label) in enumerate(zip(selected, explanation.labels[key], strict=True))
    ]
