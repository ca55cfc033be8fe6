"""Every UI string, in English and Simplified Chinese.

Components get a key (``_("caption.tab")``); the browser shows the string of its
language, English otherwise. Both tables must have the same keys (a test checks).
"""

from __future__ import annotations

import html

import gradio as gr

EN = {
    "app.title": "Multimodal Playground",
    "app.intro": (
        "# 🧪 Multimodal Playground\n"
        "Caption images, ask questions about them, create images from text and search pictures with words, "
        "with real Hugging Face models running on your own machine. Models load the first time a tab uses them."
    ),
    "banner.tiny": (
        "⚠️ **Tiny profile.** Every model here is a tiny random network built on this machine: the app works end to "
        "end, but its outputs are meaningless. Start the app with `--profile cpu` or `--profile auto` for real models."
    ),
    "common.image": "Image",
    "common.model": "Model",
    "common.model_info": "Bigger models are better and slower; each loads on first use.",
    "common.advanced": "Advanced settings",
    "common.examples": "Examples",
    "common.seed": "Seed",
    "common.seed_info": "-1 picks a random seed. The same seed and settings give the same result.",
    "caption.tab": "Caption",
    "caption.intro": "Upload an image (or pick an example) and the model writes a sentence about it.",
    "caption.prompt": "Start of the caption (optional)",
    "caption.prompt_info": "The model continues this text, e.g. 'a photography of'.",
    "caption.max_new_tokens": "Maximum length (tokens)",
    "caption.num_beams": "Beams",
    "caption.num_beams_info": "Beam search keeps this many candidate captions at each step.",
    "caption.do_sample": "Sample instead of searching",
    "caption.do_sample_info": "Picks words at random by their probability: more varied, less safe.",
    "caption.temperature": "Temperature",
    "caption.top_p": "Top-p",
    "caption.button": "Write a caption",
    "caption.output": "Caption",
    "caption.seed_drawn": "Sampled with seed {seed}: enter it as the seed to get this caption again.",
    "ask.tab": "Ask",
    "ask.intro": "Upload an image and ask a question about it in English; the model answers in a word or a few.",
    "ask.question": "Question",
    "ask.placeholder": "What is the cat doing?",
    "ask.button": "Ask",
    "ask.answer": "Answer",
    "create.tab": "Create",
    "create.intro": "Describe an image and the model paints it, starting from noise and removing it step by step.",
    "create.prompt": "Prompt",
    "create.negative_prompt": "Negative prompt",
    "create.negative_prompt_info": "What the image should not show. Used only when guidance is above 1.",
    "create.steps": "Denoising steps",
    "create.guidance": "Guidance scale",
    "create.guidance_info": "How strongly to follow the prompt. Turbo models use 0.",
    "create.width": "Width",
    "create.height": "Height",
    "create.num_images": "Number of images",
    "create.button": "Create",
    "create.output": "Images",
    "search.tab": "Search",
    "search.intro": "Search the gallery with words or with an example image. The model puts images and texts in one space, "
    "where matching pairs lie close together.",
    "search.query": "Search text",
    "search.by_text": "Search by text",
    "search.query_image": "Or search with an image",
    "search.by_image": "Search by image",
    "search.top_k": "Number of results",
    "search.results": "Results (similarity · file)",
    "search.collection": "The gallery",
    "search.collection_info": "The images searched: the bundled gallery and the ones you add. Add images, a folder or zip files; files that are not images are skipped and listed. Each image is embedded once and kept.",
    "search.add_files": "Images or zip files to add",
    "search.add": "Add to the gallery",
    "search.classify_intro": "### Zero-shot classification\nType the labels to choose from; no training needed.",
    "search.labels": "Labels, separated by commas",
    "search.classify": "Classify",
    "search.confidences": "Confidence",
    # --- Search your own collection (issue 3) ---
    "search.both": "Search by image + text",
    "search.text_weight": "Text weight (image + text)",
    "search.text_weight_info": "With both an image and a text, how much the text changes the image: 0 is the image alone, 1 the text alone.",
    "search.selected": "Selected result",
    "search.selected_info": "Click a result to choose it.",
    "search.more_like_this": "More like this",
    "search.remove": "Remove from the collection",
    "search.add_folder": "Or a whole folder",
    "search.classify_collection_intro": "### Sort the whole collection\nType labels and every image goes to the one it matches best: a count per label, and the clearest examples.",
    "search.classify_collection": "Sort the collection",
    "search.examples_per_label": "Examples per label",
    "search.counts": "Images per label",
    "search.label_examples": "Examples (label · probability · file)",
    "search.details": "Details (JSON)",
    # --- explain views (issue #4) ---
    "explain.how_title": "📖 How it works",
    "explain.code_title": "🧑‍💻 Show the code",
    "explain.code_intro": (
        "A short Python program that reproduces the result above with transformers or diffusers directly: the same "
        "model and revision, dtype, seed and every parameter. Paste it into a notebook; the JSON record has the same "
        "facts for your notes."
    ),
    "explain.code": "Python",
    "explain.record": "JSON record",
    "explain.json": "The explanation as JSON (what the API returns)",
    "explain.greedy": "Greedy",
    "explain.beam": "Beam search",
    "explain.sampling": "Sampling",
    "explain.classifier": "Classifier",
    "explain.strategy": "Decoding to show",
    "explain.strategy_info": "The table, the chart and the maps follow this strategy.",
    "explain.layer": "Attention layer",
    "explain.layer_info": "0 = the average over all layers; 1 = the first layer.",
    "explain.steps": "Each step: chosen token, its probability, the five most probable tokens",
    "explain.chart": "Probability of the chosen token at each step",
    "explain.maps": "Where the model looked, one map per token (bright = more attention)",
    "explain.caption_title": "🔍 Explain: how the caption was written",
    "explain.caption_intro": (
        "Decodes the caption three ways on the same image: **greedy** (always the most probable next token), **beam "
        "search** (keeps several candidate sentences) and **sampling** (draws each token at random, with the seed "
        "shown). For every step you see the chosen token with its probability and the five most probable tokens, and "
        "a heatmap of where the text decoder looked: its cross-attention over the image patches, averaged over heads. "
        "It uses the Advanced settings above (beams, temperature, top-p, seed)."
    ),
    "explain.caption_button": "Explain the caption",
    "explain.vqa_title": "🔍 Explain: how the answer was found",
    "explain.vqa_intro": (
        "The most likely answers with their probabilities; for BLIP the answer decoded greedy, with beam search and by "
        "sampling, step by step. Maps: for each answer token where in the image it looked (through the question "
        "words), then each question word's attention over the image (marked Q). ViLT picks from a fixed list of "
        "answers, so it has one step."
    ),
    "explain.vqa_button": "Explain the answer",
    "explain.candidates": "Candidate answers to score (optional)",
    "explain.candidates_info": "Comma-separated. Empty: the model's own top answers.",
    "explain.top_k": "Number of answers",
    "explain.answers": "Candidate answers and their probabilities",
    "explain.decoder": "Decoder",
    "explain.decoder_info": "TAESD is a tiny decoder: much faster, slightly softer images.",
    "explain.decoder_vae": "VAE (full quality)",
    "explain.decoder_taesd": "TAESD (fast)",
    "explain.timeline": "Add the denoising timeline",
    "explain.timeline_info": "After the images, previews of the first image every few steps ('step k/N').",
    "explain.create_title": "🔍 Explain: watch the image form",
    "explain.create_intro": (
        "Makes one image with the settings above and shows it as it forms, every few steps; then the noise level σ "
        "the scheduler removes at each step, and for each word of the prompt where the UNet's cross-attention put it "
        "in the image (summed over layers and steps). Use several steps (e.g. 4-25) to see a timeline."
    ),
    "explain.preview": "Preview",
    "explain.preview_info": "How the timeline turns latents into pictures.",
    "explain.preview_latent": "Linear latent → RGB (instant)",
    "explain.preview_taesd": "TAESD (sharper)",
    "explain.create_button": "Explain: generate step by step",
    "explain.timeline_gallery": "Denoising timeline (live while generating)",
    "explain.sigmas": "Noise level σ per step",
    "explain.word_chart": "Attention each word received",
    "explain.words": "Where each word went (per-word cross-attention)",
    "explain.clip_title": "🔍 CLIP lab: similarity matrix, temperature and the embedding map",
    "explain.clip_intro": (
        "Compare a few images with a few texts: CLIP puts both in one space, and the cosine similarity of each "
        "image-text pair is a number between -1 and 1. Per image, a softmax over the texts turns similarities into "
        "zero-shot probabilities; the temperature τ decides how sharp they are (CLIP learned τ = 0.01)."
    ),
    "explain.matrix_images": "Images (up to 16)",
    "explain.matrix_examples": "Use four example images",
    "explain.matrix_texts": "Texts, one per line (up to 16)",
    "explain.matrix_texts_info": "A prompt such as 'a photo of a cat.' works better than a bare word.",
    "explain.matrix_button": "Compute the similarity matrix",
    "explain.temperature": "Softmax temperature τ",
    "explain.temperature_info": "Starts at the model's learned value. Lower = sharper, higher = flatter.",
    "explain.matrix": "Cosine similarities and probabilities",
    "explain.map_intro": (
        "**The embedding map.** The gallery's image embeddings projected onto their two main directions (PCA), with "
        "your search text or image placed on the map and linked to its nearest images. A text query often lands apart "
        "from the images: CLIP's image and text embeddings fill two separate regions (the modality gap)."
    ),
    "explain.map_button": "Map the gallery with my query",
    "explain.map": "PCA map of the gallery",
    "explain.caption_how": (
        "### How it works: BLIP captioning\n"
        "**Architecture.** A Vision Transformer (ViT-B/16 in BLIP base, ViT-L/16 in BLIP large) cuts the image, "
        "resized to a square of 384 × 384 pixels, into 16 × 16-pixel patches (24 × 24 = 576 of them), adds a [CLS] "
        "token and turns each into a vector. A text decoder, a 12-layer BERT-style transformer, then writes the "
        "caption one token (word piece) at a time. In every layer each text position attends to the tokens before it "
        "(causal self-attention), then to all image patches (cross-attention); a final linear layer scores every "
        "token of the vocabulary.\n\n"
        "**Attention.** With queries $Q$ from the text and keys $K$ and values $V$ from the image patches:\n"
        r"$$\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V$$"
        "\n"
        "Each row of the softmax is a probability distribution over the patches: the heatmaps show it, averaged "
        "over the heads.\n\n"
        r"**Next-token probabilities.** From the decoder's last state $h_t$: $p(w_t \mid w_{<t}, I) = "
        r"\mathrm{softmax}(W h_t + b)$."
        "\n"
        r"- Greedy: $w_t = \arg\max_w p(w \mid w_{<t}, I)$."
        "\n"
        r"- Beam search keeps the $B$ prefixes with the highest $\sum_t \log p(w_t \mid w_{<t}, I)$."
        "\n"
        r"- Sampling draws $w_t$ with $p_i \propto \exp(z_i / T)$ (temperature $T$), among the fewest tokens whose "
        "probabilities add up to top-p.\n\n"
        "**Training.** BLIP (Li et al., 2022) is pre-trained on image-text pairs with three losses (image-text "
        "contrastive, image-text matching, language modelling) and cleans its web captions by bootstrapping "
        r"(CapFilt); captioning is fine-tuned on COCO with the language-modelling loss $-\sum_t \log p(w_t \mid "
        r"w_{<t}, I)$."
    ),
    "explain.vqa_how": (
        "### How it works: visual question answering\n"
        "**BLIP VQA** (Li et al., 2022) has three parts: a ViT encodes the image into patch vectors; a question "
        "encoder (BERT-style) reads the question and cross-attends to the patches; an answer decoder generates the "
        "answer token by token while cross-attending to the question encoder's output. So the image reaches the "
        "answer through the question, and an answer token's map composes the two hops:\n"
        r"$$A_{\text{answer}\to\text{image}} = A_{\text{answer}\to\text{question}}\;A_{\text{question}\to\text{image}}$$"
        "\n"
        r"A candidate answer $a$ is scored by the model itself: $P(a \mid I, q) = \prod_t p(a_t \mid a_{<t}, I, q)$."
        "\n\n"
        "**ViLT** (Kim et al., 2021) is one transformer over the question's word embeddings and the image's "
        "32 × 32-pixel patch embeddings together: no separate image encoder, no convolutions. Every layer is "
        r"self-attention $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$ over words and patches at once. The [CLS] token's "
        "final state goes through a small MLP that scores the 3,129 most frequent VQAv2 answers. It is trained with "
        r"binary cross-entropy against soft answer scores, so each answer gets its own $\sigma(z_a)$ and the "
        "probabilities need not add up to 1. Its maps show how much each question token attends to each patch."
    ),
    "explain.create_how": (
        "### How it works: latent diffusion\n"
        "1. **Text encoder.** CLIP's text transformer turns the prompt into 77 token vectors $c$ (SDXL uses two text "
        "encoders side by side).\n"
        "2. **UNet.** Starting from random noise in a small latent space (4 channels, 1/8 of the width and height), a "
        r"UNet predicts the noise $\epsilon_\theta(x_t, t, c)$ at every step. Its ResNet blocks process the latent; "
        "its transformer blocks attend to the latent itself (self-attention) and to the prompt (cross-attention: each "
        "latent pixel's query against the 77 token keys). The per-word maps add up these cross-attention "
        "probabilities.\n"
        r"3. **Scheduler.** It sets the noise levels $\sigma_t$ and takes the steps. With $x_t = x_0 + \sigma_t "
        r"\epsilon$ (Euler, as in SD-Turbo), the model's guess of the clean latent is $\hat{x}_0 = x_t - \sigma_t "
        r"\epsilon_\theta(x_t, t, c)$ and one Euler step is"
        "\n"
        r"$$x_{t-1} = x_t + (\sigma_{t-1} - \sigma_t)\,\frac{x_t - \hat{x}_0}{\sigma_t}$$"
        "\n"
        r"In DDPM's notation $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$, and "
        r"$\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}$."
        "\n"
        r"4. **Classifier-free guidance** (scale $s > 1$): $\hat\epsilon = \epsilon_\theta(x_t, t, \varnothing) + "
        r"s\,(\epsilon_\theta(x_t, t, c) - \epsilon_\theta(x_t, t, \varnothing))$; a negative prompt takes the place "
        r"of $\varnothing$."
        "\n"
        "5. **VAE decoder.** It turns the final latent into pixels, 8 times larger. TAESD is a much smaller decoder "
        "distilled to do the same, for fast previews.\n\n"
        r"Training minimises $\mathbb{E}\,\lVert \epsilon - \epsilon_\theta(x_t, t, c)\rVert^2$ (Rombach et al., "
        "2022). The turbo models are distilled with adversarial diffusion distillation (Sauer et al., 2023), so 1-4 "
        "steps without guidance are enough."
    ),
    "explain.search_how": (
        "### How it works: CLIP\n"
        "Two encoders trained together on 400 million image-text pairs (Radford et al., 2021): a Vision Transformer "
        "for images and a text transformer for captions, each followed by a linear projection into one shared space "
        "(512 dimensions for ViT-B/32, 768 for ViT-L/14). The match between an image $x$ and a text $y$ is the cosine "
        r"similarity $s(x, y) = \frac{f(x)\cdot g(y)}{\lVert f(x)\rVert\,\lVert g(y)\rVert}$."
        "\n\n"
        r"**Contrastive loss.** In a batch of $N$ pairs, with $\ell_{ij} = s(x_i, y_j)/\tau$, each image must pick its "
        "own text and each text its own image:\n"
        r"$$\mathcal{L} = -\frac{1}{2N}\sum_{i=1}^{N}\left[\log\frac{e^{\ell_{ii}}}{\sum_{j} e^{\ell_{ij}}} + "
        r"\log\frac{e^{\ell_{ii}}}{\sum_{j} e^{\ell_{ji}}}\right]$$"
        "\n"
        r"The temperature $\tau$ is learned; CLIP's ends at 0.01 (a logit scale of 100)."
        "\n\n"
        "**Search** ranks the gallery's images by $s$ with the query. **Zero-shot classification** turns each label "
        r"into 'a photo of a {label}.' and takes $p(y_k \mid x) = \mathrm{softmax}_k\big(s(x, y_k)/\tau\big)$."
    ),
    # --- Evaluate tab ---
    "evaluate.tab": "Evaluate",
    "evaluate.intro": (
        "Measure what the models can do. They answer a bundled probe set: drawn scenes with known colours, counts, "
        "positions and words, and the example photos with hand-written captions. Scores are given per ability. "
        "Pick a second model to compare side by side."
    ),
    "evaluate.tasks": "Tasks",
    "evaluate.tasks_info": "Text-to-image draws an image per prompt, then asks the VQA model about it: the slowest task.",
    "evaluate.task.caption": "Caption",
    "evaluate.task.vqa": "Ask (VQA)",
    "evaluate.task.retrieval": "Search (retrieval)",
    "evaluate.task.text_to_image": "Create (text-to-image)",
    "evaluate.limit": "Items per task",
    "evaluate.limit_info": "Taken in turn from every ability. Fewer is faster; the full set has about 150 questions.",
    "evaluate.models_a": "### Model A",
    "evaluate.models_b": "### Compare with model B (optional)",
    "evaluate.none": "— none —",
    "evaluate.button": "Run the evaluation",
    "evaluate.table": "Scores (accuracy, BLEU-4 and recall from 0 to 1; CIDEr 0-10; CLIPScore 0-100; mean rank: lower is better)",
    "evaluate.chart": "Scores per ability",
    "evaluate.downloads": "Downloads: results.json, report.md, chart.png",
    "evaluate.items": "Every item: what the model said",
    "evaluate.round_trip": "Text-to-image round trip: prompt → answer (expected)",
    "evaluate.probes": "The probe set",
    "evaluate.probes_info": (
        "The drawn scenes come from a seed: the same seed always draws the same images, and the answers are exact. "
        "The photos have several hand-written captions each. The command line runs the same evaluation: "
        "`python -m evaluation --help`."
    ),
    "evaluate.show_probes": "Show the probe images",
    # --- Speech (Listen tab, voice input, read aloud) ---
    "speech.voice": "Or ask by voice (in English)",
    "speech.read_aloud": "🔊 Read aloud",
    "speech.player": "Spoken",
    "listen.tab": "Listen",
    "listen.intro": (
        "### Speech to text\n"
        "Record or upload a clip and Whisper writes down what is said, with a timestamp for each "
        "segment. Clips longer than 30 seconds are heard in 30-second windows, each starting where the last sentence "
        "ended."
    ),
    "listen.audio": "Speech",
    "listen.language": "Language",
    "listen.language_info": "Detected from the first 30 seconds when automatic; type any Whisper language code.",
    "listen.auto": "Detect automatically",
    "listen.task": "Task",
    "listen.task_info": "Whisper can also translate speech in any language into English text.",
    "listen.transcribe": "Transcribe",
    "listen.translate": "Translate into English",
    "listen.button": "Transcribe",
    "listen.transcript": "Transcript",
    "listen.segments": "Timestamps",
    "speak.intro": "### Text to speech\nType a text and a VITS voice reads it aloud; numbers are spelled out first.",
    "speak.text": "Text to read aloud",
    "speak.rate": "Speaking rate",
    "speak.rate_info": "1 is the voice's own pace; 2 is twice as fast.",
    "speak.button": "Speak",
    "speak.output": "Speech",
    # --- Language switch, fusion lab and classroom mode (issue 9) ---
    "app.language": "Language · 语言",
    "fusion.tab": "Fusion lab",
    "fusion.intro": (
        "### Train a fusion model\n"
        "A picture and a caption: does the caption describe the picture? The app's CLIP model turns both into "
        "feature vectors and stays frozen; you train a small model on top that *fuses* the two. Half of the captions "
        "are wrong in one word (**a blue circle** under a red circle), so the model has to look at both. Pick a "
        "strategy, train it, and compare the strategies on pictures the model never saw.\n\n"
        "- **Early fusion** joins the two feature vectors first; then one network looks at both.\n"
        "- **Late fusion** gives each modality its own network and combines their outputs only at the end.\n"
        "- **Hybrid fusion** lets caption words and image patches attend to each other (cross-attention) "
        "before a network decides."
    ),
    "fusion.strategy": "Strategy",
    "fusion.strategy_info": "How the picture and the caption are combined.",
    "fusion.early": "Early fusion",
    "fusion.late": "Late fusion",
    "fusion.hybrid": "Hybrid fusion",
    "fusion.hidden_size": "Hidden size",
    "fusion.hidden_size_info": "Width of the model's layers: wider can learn more, and overfit more.",
    "fusion.epochs": "Epochs",
    "fusion.epochs_info": "Passes over the training pairs.",
    "fusion.optimizer": "Optimiser",
    "fusion.optimizer_adam": "Adam",
    "fusion.optimizer_sgd": "SGD (momentum 0.9)",
    "fusion.learning_rate": "Learning rate",
    "fusion.learning_rate_info": "Size of each update step. Too high: the loss jumps or explodes. Too low: little is learned.",
    "fusion.seed_info": "Sets the starting weights and the order of the pairs: the same seed and settings train the same model.",
    "fusion.data": "Data and features",
    "fusion.split": "Held-out pictures",
    "fusion.split_info": "Which pictures are kept aside to test the model.",
    "fusion.split_instances": "new pictures of known concepts",
    "fusion.split_combinations": "new colour-shape combinations",
    "fusion.negatives": "A wrong caption changes",
    "fusion.negatives_info": "Which word of the true caption a wrong caption replaces.",
    "fusion.negatives_either": "the colour or the shape",
    "fusion.negatives_colour": "the colour",
    "fusion.negatives_shape": "the shape",
    "fusion.examples": "The pictures (one per concept)",
    "fusion.train": "Train",
    "fusion.compare": "Train all three and compare",
    "fusion.summary_empty": "Press **Train** to start. Training takes a few seconds; the curves grow as it runs.",
    "fusion.summary_running": "**{strategy}**: epoch {epoch}/{epochs} · held-out accuracy {test} · training accuracy {train}",
    "fusion.summary_done": (
        "**{strategy}**: held-out accuracy **{test}** (guessing: 50%) · training accuracy {train} · "
        "AUROC {auroc} · {parameters} parameters · {seconds} s"
    ),
    "fusion.loss": "Loss",
    "fusion.accuracy": "Accuracy",
    "fusion.epoch": "Epoch",
    "fusion.series_train": "training pairs",
    "fusion.series_test": "held-out pairs",
    "fusion.pairs": "Pairs",
    "fusion.confusion_title": "Confusion matrix on the {pairs} held-out pairs",
    "fusion.confusion_corner": "true ↓ · predicted →",
    "fusion.match": "match",
    "fusion.mismatch": "mismatch",
    "fusion.mistakes": "Held-out mistakes, most confident first",
    "fusion.mistake": "“{caption}”: truly {truth}, P(match) = {p}",
    "fusion.table_title": (
        "### Your runs, compared on the held-out pairs\n"
        "Every finished run of this session; the best held-out accuracy is highlighted. "
        "The same settings and seed always give the same result."
    ),
    "fusion.table_empty": "No runs yet.",
    "fusion.clear": "Clear the table",
    "fusion.raw": "Raw result (what the /train_fusion API returns)",
    "fusion.col_run": "#",
    "fusion.col_strategy": "Strategy",
    "fusion.col_hidden": "Hidden",
    "fusion.col_lr": "Learning rate",
    "fusion.col_epochs": "Epochs",
    "fusion.col_optimizer": "Optimiser",
    "fusion.col_seed": "Seed",
    "fusion.col_data": "Held out · wrong captions",
    "fusion.col_train": "Training acc.",
    "fusion.col_test": "Held-out acc.",
    "fusion.col_auroc": "AUROC",
    "fusion.col_parameters": "Parameters",
    "fusion.col_seconds": "Seconds",
    "classroom.banner": "🏫 **Classroom mode.** Your teacher has set up this app for the lesson: some tabs, models and settings are fixed.",
    "app.profile_line": "Profile: **{profile}** ({setting}) · device: **{device}**",
    "common.loads_on_first_use": "loads on first use",
    "common.loaded_in": "loaded in {seconds} s",
    "common.loading": "Loading {model}…",
    "fusion.progress_encoding": "Encoding the pictures with CLIP",
    "classroom.prompt_log": "📝 Your teacher keeps a log of the text you type here (prompts, questions and searches), with your name.",
    # --- Models panel (issue #7) ---
    "models.title": "Models and memory",
    "models.intro": (
        "The models loaded on this machine, the memory each takes and the precision it runs in. When a new "
        "model would not fit in the memory budget, the least recently used one is unloaded first. Unloading "
        "frees the memory now; the model loads again the next time a tab uses it."
    ),
    "models.pick": "Loaded model",
    "models.unload": "Unload",
    "models.unload_all": "Unload all",
    "models.bf16_native": "native bfloat16 (AVX512-BF16/AMX)",
    "models.bf16_missing": "no native bfloat16 on this CPU",
    "models.fast_on": "fast path on",
    "models.fast_off": "fast path off",
    "models.tiny_float32": "tiny models always run in float32",
    "models.threads": "{count} threads",
    "models.loads_in": "new models load in",
    "models.budget": "memory budget",
    "models.budget_of": "{budget} of {total}",
    "models.no_limit": "no limit",
    "models.none_loaded": "No model is loaded yet: each loads the first time a tab uses it.",
    "models.col_task": "task",
    "models.col_model": "model",
    "models.col_device": "device",
    "models.col_precision": "precision",
    "models.col_memory": "memory",
    "models.col_last_used": "last used",
    "models.offloaded": "offloaded to the CPU",
    "models.total": "Total",
    "models.view_only": "This public app only lists its models: unloading them and the fast-path switch would act for every visitor (`MODELS_PANEL=view`).",
    "models.refresh": "Refresh",
    "models.fast_path": "Fast path (bfloat16 and int8 where this CPU runs them natively)",
    "models.fast_path_info": (
        "Off: every model runs in float32 on the CPU, for comparing outputs. Switching unloads all models; "
        "they reload in the new precision."
    ),
    # --- Security and safety (#8) ---
    "safety.off": (
        "⚠️ **The safety filter is off** (`SAFETY_FILTER=off`): prompts are not checked against the blocklist and "
        "generated images are not checked for unsafe content. Use this only for research, never with children."
    ),
    "safety.on": (
        "🛡️ A safety filter is on: prompts with blocked words are refused, and images the safety checker flags "
        "are replaced by a notice."
    ),
}

ZH = {
    "app.title": "多模态游乐场",
    "app.intro": (
        "# 🧪 多模态游乐场\n"
        "为图片写描述、就图片提问、用文字生成图片、用文字搜索图片——真实的 Hugging Face 模型在你自己的电脑上运行。"
        "每个标签页第一次使用时才加载模型。"
    ),
    "banner.tiny": (
        "⚠️ **Tiny 配置。** 这里的每个模型都是在本机生成的微型随机网络：应用可以完整运行，但输出没有意义。"
        "使用 `--profile cpu` 或 `--profile auto` 启动即可使用真实模型。"
    ),
    "common.image": "图片",
    "common.model": "模型",
    "common.model_info": "模型越大效果越好、速度越慢；首次使用时加载。",
    "common.advanced": "高级设置",
    "common.examples": "示例",
    "common.seed": "随机种子",
    "common.seed_info": "-1 表示随机选择。相同的种子和设置得到相同的结果。",
    "caption.tab": "图片描述",
    "caption.intro": "上传一张图片（或选择示例），模型会用一句话描述它。",
    "caption.prompt": "描述的开头（可选）",
    "caption.prompt_info": "模型会接着这段文字往下写，例如 'a photography of'。",
    "caption.max_new_tokens": "最大长度（词元）",
    "caption.num_beams": "束宽",
    "caption.num_beams_info": "束搜索在每一步保留这么多候选描述。",
    "caption.do_sample": "采样而不是搜索",
    "caption.do_sample_info": "按概率随机选词：结果更多样，但不一定更准确。",
    "caption.temperature": "温度",
    "caption.top_p": "Top-p",
    "caption.button": "生成描述",
    "caption.output": "描述",
    "caption.seed_drawn": "本次采样的随机种子是 {seed}：把它填入“随机种子”即可再次得到这条描述。",
    "ask.tab": "提问",
    "ask.intro": "上传一张图片并用英文提问，模型会用一个或几个词回答。",
    "ask.question": "问题",
    "ask.placeholder": "What is the cat doing?",
    "ask.button": "提问",
    "ask.answer": "回答",
    "create.tab": "生成图片",
    "create.intro": "描述一幅画面，模型从噪声出发，一步步去噪把它画出来。",
    "create.prompt": "提示词",
    "create.negative_prompt": "反向提示词",
    "create.negative_prompt_info": "图片中不应出现的内容。仅在引导系数大于 1 时生效。",
    "create.steps": "去噪步数",
    "create.guidance": "引导系数",
    "create.guidance_info": "遵循提示词的程度。Turbo 模型使用 0。",
    "create.width": "宽度",
    "create.height": "高度",
    "create.num_images": "图片数量",
    "create.button": "生成",
    "create.output": "图片",
    "search.tab": "搜索",
    "search.intro": "用文字或示例图片搜索图库。模型把图片和文字放进同一个空间，相互匹配的会靠得很近。",
    "search.query": "搜索文字",
    "search.by_text": "按文字搜索",
    "search.query_image": "或者用图片搜索",
    "search.by_image": "按图片搜索",
    "search.top_k": "结果数量",
    "search.results": "结果（相似度 · 文件）",
    "search.collection": "图库",
    "search.collection_info": "被搜索的图片：自带图库和你添加的图片。可以添加图片、文件夹或 zip 文件；不是图片的文件会被跳过并列出。每张图片只计算一次嵌入并保存。",
    "search.add_files": "要添加的图片或 zip 文件",
    "search.add": "添加到图库",
    "search.classify_intro": "### 零样本分类\n输入候选标签即可分类，无需训练。",
    "search.labels": "标签，用逗号分隔",
    "search.classify": "分类",
    "search.confidences": "置信度",
    # --- Search your own collection (issue 3) ---
    "search.both": "按图片 + 文字搜索",
    "search.text_weight": "文字权重（图片 + 文字）",
    "search.text_weight_info": "同时给出图片和文字时，文字对图片的改变程度：0 表示只用图片，1 表示只用文字。",
    "search.selected": "选中的结果",
    "search.selected_info": "点击一个结果来选中它。",
    "search.more_like_this": "查找相似图片",
    "search.remove": "从图库中移除",
    "search.add_folder": "或者整个文件夹",
    "search.classify_collection_intro": "### 整理整个图库\n输入标签，每张图片会归入最匹配的标签：显示每个标签的数量和最典型的例子。",
    "search.classify_collection": "整理图库",
    "search.examples_per_label": "每个标签的示例数",
    "search.counts": "每个标签的图片数",
    "search.label_examples": "示例（标签 · 概率 · 文件）",
    "search.details": "详细信息（JSON）",
    # --- explain views (issue #4) ---
    "explain.how_title": "📖 原理",
    "explain.code_title": "🧑‍💻 显示代码",
    "explain.code_intro": (
        "一段简短的 Python 程序，直接用 transformers 或 diffusers 复现上面的结果：相同的模型和版本、数据类型、随机种子和所有参数。"
        "把它粘贴到 notebook 中即可运行；JSON 记录包含同样的信息，方便做笔记。"
    ),
    "explain.code": "Python",
    "explain.record": "JSON 记录",
    "explain.json": "JSON 格式的解释（即 API 的返回值）",
    "explain.greedy": "贪心解码",
    "explain.beam": "束搜索",
    "explain.sampling": "采样",
    "explain.classifier": "分类器",
    "explain.strategy": "要显示的解码方式",
    "explain.strategy_info": "表格、图表和热力图都对应这种方式。",
    "explain.layer": "注意力层",
    "explain.layer_info": "0 = 所有层的平均；1 = 第一层。",
    "explain.steps": "每一步：选中的词元、它的概率、概率最高的五个词元",
    "explain.chart": "每一步所选词元的概率",
    "explain.maps": "模型看向哪里，每个词元一张图（越亮注意力越多）",
    "explain.caption_title": "🔍 解释：描述是怎样写出来的",
    "explain.caption_intro": (
        "在同一张图片上用三种方式解码描述：**贪心解码**（每一步都选概率最高的词元）、**束搜索**（同时保留几个候选句子）和"
        "**采样**（按概率随机抽取每个词元，并显示随机种子）。每一步都能看到所选词元及其概率、概率最高的五个词元，"
        "以及一张热力图，显示文本解码器看向了图片的哪里：它对图像块的交叉注意力，在各个注意力头上取平均。"
        "这里使用上面的高级设置（束宽、温度、top-p、随机种子）。"
    ),
    "explain.caption_button": "解释这条描述",
    "explain.vqa_title": "🔍 解释：答案是怎样得到的",
    "explain.vqa_intro": (
        "最可能的答案及其概率；对于 BLIP，还有用贪心解码、束搜索和采样逐步生成答案的过程。热力图：先是每个答案词元"
        "（经由问题中的词）看向图片的哪里，然后是问题中每个词对图片的注意力（标记为 Q）。ViLT 从固定的答案列表中选择，"
        "因此只有一步。"
    ),
    "explain.vqa_button": "解释这个答案",
    "explain.candidates": "要打分的候选答案（可选）",
    "explain.candidates_info": "用逗号分隔。留空则显示模型自己的最佳答案。",
    "explain.top_k": "答案数量",
    "explain.answers": "候选答案及其概率",
    "explain.decoder": "解码器",
    "explain.decoder_info": "TAESD 是一个很小的解码器：快得多，图片略微柔和。",
    "explain.decoder_vae": "VAE（完整质量）",
    "explain.decoder_taesd": "TAESD（快速）",
    "explain.timeline": "附上去噪时间线",
    "explain.timeline_info": "在图片之后附上第一张图片每隔几步的预览（'step k/N'）。",
    "explain.create_title": "🔍 解释：看着图片成形",
    "explain.create_intro": (
        "用上面的设置生成一张图片，并每隔几步显示它成形的过程；然后是调度器在每一步去除的噪声水平 σ，"
        "以及提示词中的每个词被 UNet 的交叉注意力放在了图片的哪里（对各层和各步求和）。"
        "要看到时间线，请使用多个步数（例如 4-25）。"
    ),
    "explain.preview": "预览方式",
    "explain.preview_info": "时间线如何把潜变量变成图片。",
    "explain.preview_latent": "线性 潜变量 → RGB（即时）",
    "explain.preview_taesd": "TAESD（更清晰）",
    "explain.create_button": "解释：逐步生成",
    "explain.timeline_gallery": "去噪时间线（生成时实时显示）",
    "explain.sigmas": "每一步的噪声水平 σ",
    "explain.word_chart": "每个词得到的注意力",
    "explain.words": "每个词去了哪里（逐词交叉注意力）",
    "explain.clip_title": "🔍 CLIP 实验室：相似度矩阵、温度和嵌入地图",
    "explain.clip_intro": (
        "比较几张图片和几段文字：CLIP 把两者放进同一个空间，每一对图片和文字的余弦相似度是 -1 到 1 之间的一个数。"
        "对每张图片，在文字上做 softmax 就把相似度变成零样本概率；温度 τ 决定概率有多尖锐（CLIP 学到的 τ = 0.01）。"
    ),
    "explain.matrix_images": "图片（最多 16 张）",
    "explain.matrix_examples": "使用四张示例图片",
    "explain.matrix_texts": "文字，每行一条（最多 16 条）",
    "explain.matrix_texts_info": "像 'a photo of a cat.' 这样的提示比单个词效果更好。",
    "explain.matrix_button": "计算相似度矩阵",
    "explain.temperature": "Softmax 温度 τ",
    "explain.temperature_info": "初始值是模型学到的温度。越低越尖锐，越高越平缓。",
    "explain.matrix": "余弦相似度和概率",
    "explain.map_intro": (
        "**嵌入地图。** 把图库中图片的嵌入投影到它们的两个主方向上（PCA），并把你的搜索文字或图片放到地图上，"
        "连线到离它最近的图片。文字查询常常落在图片之外：CLIP 的图片嵌入和文字嵌入分布在两个分开的区域（模态间隙）。"
    ),
    "explain.map_button": "用我的查询绘制图库地图",
    "explain.map": "图库的 PCA 地图",
    "explain.caption_how": (
        "### 原理：BLIP 图片描述\n"
        "**结构。** 视觉 Transformer（BLIP base 用 ViT-B/16，BLIP large 用 ViT-L/16）把缩放成 384 × 384 正方形的图片切成 "
        "16 × 16 像素的图像块（共 24 × 24 = 576 块），加上一个 [CLS] 词元，把每一块变成一个向量。然后文本解码器"
        "（一个 12 层、BERT 风格的 Transformer）一次写出一个词元（词片）。在每一层中，每个文本位置先关注它之前的词元"
        "（因果自注意力），再关注所有图像块（交叉注意力）；最后一个线性层给词表中的每个词元打分。\n\n"
        "**注意力。** 查询 $Q$ 来自文本，键 $K$ 和值 $V$ 来自图像块：\n"
        r"$$\mathrm{Attention}(Q,K,V)=\mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V$$"
        "\n"
        "softmax 的每一行都是图像块上的一个概率分布：热力图显示的就是它，在各个注意力头上取平均。\n\n"
        r"**下一个词元的概率。** 由解码器最后的状态 $h_t$ 得到：$p(w_t \mid w_{<t}, I) = \mathrm{softmax}(W h_t + b)$。"
        "\n"
        r"- 贪心解码：$w_t = \arg\max_w p(w \mid w_{<t}, I)$。"
        "\n"
        r"- 束搜索保留 $\sum_t \log p(w_t \mid w_{<t}, I)$ 最高的 $B$ 个前缀。"
        "\n"
        r"- 采样按 $p_i \propto \exp(z_i / T)$（温度 $T$）抽取 $w_t$，只在概率累计达到 top-p 的最少词元中抽取。"
        "\n\n"
        "**训练。** BLIP（Li 等，2022）在图文对上用三个损失预训练（图文对比、图文匹配、语言建模），并通过自举（CapFilt）"
        r"清洗网络上的描述；图片描述模型再在 COCO 上用语言建模损失 $-\sum_t \log p(w_t \mid w_{<t}, I)$ 微调。"
    ),
    "explain.vqa_how": (
        "### 原理：视觉问答\n"
        "**BLIP VQA**（Li 等，2022）有三部分：ViT 把图片编码成图像块向量；问题编码器（BERT 风格）读取问题并对图像块做交叉"
        "注意力；答案解码器逐个生成答案词元，同时对问题编码器的输出做交叉注意力。因此图片是经由问题到达答案的，"
        "答案词元的热力图由两跳组合而成：\n"
        r"$$A_{\text{answer}\to\text{image}} = A_{\text{answer}\to\text{question}}\;A_{\text{question}\to\text{image}}$$"
        "\n"
        r"候选答案 $a$ 由模型自己打分：$P(a \mid I, q) = \prod_t p(a_t \mid a_{<t}, I, q)$。"
        "\n\n"
        "**ViLT**（Kim 等，2021）是一个同时处理问题的词嵌入和图片 32 × 32 像素图像块嵌入的 Transformer："
        r"没有单独的图像编码器，也没有卷积。每一层都是对词和图像块同时做的自注意力 $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$。"
        "[CLS] 词元的最终状态经过一个小型 MLP，给 VQAv2 中最常见的 3,129 个答案打分。它用二元交叉熵对软答案分数训练，"
        r"所以每个答案有自己的 $\sigma(z_a)$，这些概率之和不必等于 1。它的热力图显示每个问题词元对每个图像块的注意力。"
    ),
    "explain.create_how": (
        "### 原理：潜在扩散\n"
        "1. **文本编码器。** CLIP 的文本 Transformer 把提示词变成 77 个词元向量 $c$（SDXL 并列使用两个文本编码器）。\n"
        "2. **UNet。** 从一个小的潜在空间（4 个通道，宽高为图片的 1/8）中的随机噪声出发，UNet 在每一步预测噪声 "
        r"$\epsilon_\theta(x_t, t, c)$。它的 ResNet 块处理潜变量；它的 Transformer 块关注潜变量自身（自注意力）和提示词"
        "（交叉注意力：每个潜变量像素的查询对 77 个词元的键）。逐词热力图就是把这些交叉注意力概率加起来。\n"
        r"3. **调度器。** 它设定噪声水平 $\sigma_t$ 并执行每一步。在 $x_t = x_0 + \sigma_t \epsilon$ 的形式下（Euler，"
        r"与 SD-Turbo 相同），模型对干净潜变量的估计是 $\hat{x}_0 = x_t - \sigma_t \epsilon_\theta(x_t, t, c)$，"
        "一步 Euler 更新为\n"
        r"$$x_{t-1} = x_t + (\sigma_{t-1} - \sigma_t)\,\frac{x_t - \hat{x}_0}{\sigma_t}$$"
        "\n"
        r"用 DDPM 的记号，$x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$，"
        r"且 $\sigma_t = \sqrt{(1-\bar\alpha_t)/\bar\alpha_t}$。"
        "\n"
        r"4. **无分类器引导**（系数 $s > 1$）：$\hat\epsilon = \epsilon_\theta(x_t, t, \varnothing) + "
        r"s\,(\epsilon_\theta(x_t, t, c) - \epsilon_\theta(x_t, t, \varnothing))$；反向提示词取代 $\varnothing$。"
        "\n"
        "5. **VAE 解码器。** 它把最终的潜变量变成像素，放大 8 倍。TAESD 是蒸馏出来做同样事情的小得多的解码器，用于快速预览。\n\n"
        r"训练时最小化 $\mathbb{E}\,\lVert \epsilon - \epsilon_\theta(x_t, t, c)\rVert^2$（Rombach 等，2022）。"
        "Turbo 模型用对抗扩散蒸馏（Sauer 等，2023）训练，因此不用引导、1-4 步就足够。"
    ),
    "explain.search_how": (
        "### 原理：CLIP\n"
        "两个编码器在 4 亿个图文对上一起训练（Radford 等，2021）：图片用视觉 Transformer，文字用文本 Transformer，"
        "各自再经过一个线性投影进入同一个共享空间（ViT-B/32 为 512 维，ViT-L/14 为 768 维）。图片 $x$ 和文字 $y$ 的匹配程度"
        r"是余弦相似度 $s(x, y) = \frac{f(x)\cdot g(y)}{\lVert f(x)\rVert\,\lVert g(y)\rVert}$。"
        "\n\n"
        r"**对比损失。** 在一批 $N$ 个图文对中，令 $\ell_{ij} = s(x_i, y_j)/\tau$，每张图片要选出自己的文字，"
        "每段文字要选出自己的图片：\n"
        r"$$\mathcal{L} = -\frac{1}{2N}\sum_{i=1}^{N}\left[\log\frac{e^{\ell_{ii}}}{\sum_{j} e^{\ell_{ij}}} + "
        r"\log\frac{e^{\ell_{ii}}}{\sum_{j} e^{\ell_{ji}}}\right]$$"
        "\n"
        r"温度 $\tau$ 是学出来的；CLIP 最终为 0.01（logit 缩放为 100）。"
        "\n\n"
        "**搜索** 按与查询的 $s$ 对图库图片排序。**零样本分类** 把每个标签变成 'a photo of a {label}.'，"
        r"并取 $p(y_k \mid x) = \mathrm{softmax}_k\big(s(x, y_k)/\tau\big)$。"
    ),
    # --- Evaluate tab ---
    "evaluate.tab": "评测",
    "evaluate.intro": (
        "衡量模型的能力。模型回答一套内置的探测题：颜色、数量、位置和文字都已知的合成图片，以及带有人工撰写描述的示例照片。"
        "按能力分别给出分数。再选一个模型即可并排比较。"
    ),
    "evaluate.tasks": "任务",
    "evaluate.tasks_info": "文生图会为每条提示词生成一张图，再让问答模型回答关于它的问题：这是最慢的任务。",
    "evaluate.task.caption": "图片描述",
    "evaluate.task.vqa": "提问（视觉问答）",
    "evaluate.task.retrieval": "搜索（图文检索）",
    "evaluate.task.text_to_image": "生成图片（文生图）",
    "evaluate.limit": "每个任务的题目数",
    "evaluate.limit_info": "从每种能力中轮流选取。越少越快；完整题集约有 150 个问题。",
    "evaluate.models_a": "### 模型 A",
    "evaluate.models_b": "### 与模型 B 比较（可选）",
    "evaluate.none": "— 不比较 —",
    "evaluate.button": "开始评测",
    "evaluate.table": "分数（准确率、BLEU-4 和召回率为 0 到 1；CIDEr 为 0-10；CLIPScore 为 0-100；平均排名越低越好）",
    "evaluate.chart": "各项能力的分数",
    "evaluate.downloads": "下载：results.json、report.md、chart.png",
    "evaluate.items": "逐题查看：模型的回答",
    "evaluate.round_trip": "文生图往返检验：提示词 → 回答（正确答案）",
    "evaluate.probes": "探测题集",
    "evaluate.probes_info": (
        "合成图片由随机种子生成：相同的种子总是画出相同的图片，答案完全准确。每张照片都有多条人工撰写的描述。"
        "命令行运行同样的评测：`python -m evaluation --help`。"
    ),
    "evaluate.show_probes": "显示探测图片",
    # --- Speech (Listen tab, voice input, read aloud) ---
    "speech.voice": "或者用语音提问（英文）",
    "speech.read_aloud": "🔊 朗读",
    "speech.player": "朗读音频",
    "listen.tab": "听写",
    "listen.intro": (
        "### 语音转文字\n"
        "录制或上传一段音频，Whisper 会写下其中说的话，并为每一段标注时间。"
        "超过 30 秒的音频按 30 秒的窗口逐段识别，每个窗口从上一句结束的地方开始。"
    ),
    "listen.audio": "语音",
    "listen.language": "语言",
    "listen.language_info": "自动时根据前 30 秒识别语言；也可以输入任意 Whisper 语言代码。",
    "listen.auto": "自动识别",
    "listen.task": "任务",
    "listen.task_info": "Whisper 还可以把任何语言的语音翻译成英文文字。",
    "listen.transcribe": "转写",
    "listen.translate": "翻译成英文",
    "listen.button": "转写",
    "listen.transcript": "文字稿",
    "listen.segments": "时间戳",
    "speak.intro": "### 文字转语音\n输入一段文字，VITS 语音模型会把它读出来；数字会先转换成英文单词。",
    "speak.text": "要朗读的文字",
    "speak.rate": "语速",
    "speak.rate_info": "1 是该声音本来的语速；2 是两倍速。",
    "speak.button": "开始朗读",
    "speak.output": "语音",
    # --- Language switch, fusion lab and classroom mode (issue 9) ---
    "app.language": "语言 · Language",
    "fusion.tab": "融合实验室",
    "fusion.intro": (
        "### 训练一个融合模型\n"
        "给定一张图片和一句描述：这句描述说的是这张图片吗？应用中的 CLIP 模型把两者都变成特征向量，并保持冻结；"
        "你在它上面训练一个小模型，把两种模态*融合*起来。一半的描述错了一个词（红色圆形配上 **a blue circle**），"
        "所以模型必须同时看图片和文字。选一种策略训练，再在模型从未见过的图片上比较各种策略。\n\n"
        "- **早期融合**先把两个特征向量拼接起来，再由一个网络同时处理两者。\n"
        "- **晚期融合**给每种模态各自一个网络，只在最后把它们的输出结合起来。\n"
        "- **混合融合**让描述中的词和图片的小块互相注意（交叉注意力），然后再由一个网络做判断。"
    ),
    "fusion.strategy": "融合策略",
    "fusion.strategy_info": "图片和描述如何结合。",
    "fusion.early": "早期融合",
    "fusion.late": "晚期融合",
    "fusion.hybrid": "混合融合",
    "fusion.hidden_size": "隐藏层大小",
    "fusion.hidden_size_info": "模型各层的宽度：越宽能学到的越多，也越容易过拟合。",
    "fusion.epochs": "训练轮数",
    "fusion.epochs_info": "遍历全部训练样本对的次数。",
    "fusion.optimizer": "优化器",
    "fusion.optimizer_adam": "Adam",
    "fusion.optimizer_sgd": "SGD（动量 0.9）",
    "fusion.learning_rate": "学习率",
    "fusion.learning_rate_info": "每次更新的步长。太大：损失会跳动甚至发散；太小：几乎学不到东西。",
    "fusion.seed_info": "决定初始权重和样本对的顺序：相同的种子和设置训练出相同的模型。",
    "fusion.data": "数据与特征",
    "fusion.split": "留出的图片",
    "fusion.split_info": "哪些图片留作测试。",
    "fusion.split_instances": "已知概念的新图片",
    "fusion.split_combinations": "新的颜色与形状组合",
    "fusion.negatives": "错误描述替换的是",
    "fusion.negatives_info": "错误描述把正确描述中的哪个词换掉了。",
    "fusion.negatives_either": "颜色或形状",
    "fusion.negatives_colour": "颜色",
    "fusion.negatives_shape": "形状",
    "fusion.examples": "图片（每个概念一张）",
    "fusion.train": "训练",
    "fusion.compare": "训练全部三种并比较",
    "fusion.summary_empty": "点击**训练**开始。训练只需几秒钟，曲线会随训练实时增长。",
    "fusion.summary_running": "**{strategy}**：第 {epoch}/{epochs} 轮 · 留出集准确率 {test} · 训练集准确率 {train}",
    "fusion.summary_done": (
        "**{strategy}**：留出集准确率 **{test}**（随机猜测：50%）· 训练集准确率 {train} · "
        "AUROC {auroc} · {parameters} 个参数 · {seconds} 秒"
    ),
    "fusion.loss": "损失",
    "fusion.accuracy": "准确率",
    "fusion.epoch": "轮次",
    "fusion.series_train": "训练样本对",
    "fusion.series_test": "留出样本对",
    "fusion.pairs": "样本对",
    "fusion.confusion_title": "{pairs} 个留出样本对上的混淆矩阵",
    "fusion.confusion_corner": "真实 ↓ · 预测 →",
    "fusion.match": "匹配",
    "fusion.mismatch": "不匹配",
    "fusion.mistakes": "留出集上的错误（最有把握的排在前面）",
    "fusion.mistake": "“{caption}”：实际{truth}，P(匹配) = {p}",
    "fusion.table_title": (
        "### 你的训练记录（在留出样本对上比较）\n"
        "本次会话中每一次完成的训练；留出集准确率最高的一行会高亮显示。相同的设置和种子总是得到相同的结果。"
    ),
    "fusion.table_empty": "还没有训练记录。",
    "fusion.clear": "清空表格",
    "fusion.raw": "原始结果（/train_fusion API 的返回值）",
    "fusion.col_run": "#",
    "fusion.col_strategy": "策略",
    "fusion.col_hidden": "隐藏层",
    "fusion.col_lr": "学习率",
    "fusion.col_epochs": "轮数",
    "fusion.col_optimizer": "优化器",
    "fusion.col_seed": "种子",
    "fusion.col_data": "留出方式 · 错误描述",
    "fusion.col_train": "训练准确率",
    "fusion.col_test": "留出准确率",
    "fusion.col_auroc": "AUROC",
    "fusion.col_parameters": "参数量",
    "fusion.col_seconds": "秒",
    "classroom.banner": "🏫 **课堂模式。** 老师已为这节课设置好本应用：部分标签页、模型和参数是固定的。",
    "app.profile_line": "配置：**{profile}**（{setting}）· 设备：**{device}**",
    "common.loads_on_first_use": "首次使用时加载",
    "common.loaded_in": "加载用时 {seconds} 秒",
    "common.loading": "正在加载 {model}…",
    "fusion.progress_encoding": "正在用 CLIP 编码图片",
    "classroom.prompt_log": "📝 老师会记录你在这里输入的文字（提示词、问题和搜索词）以及你的名字。",
    # --- Models panel (issue #7) ---
    "models.title": "模型与内存",
    "models.intro": (
        "本机已加载的模型、每个模型占用的内存以及运行精度。新模型放不进内存预算时，会先卸载最久未使用的模型。"
        "卸载会立即释放内存；下次使用该标签页时模型会重新加载。"
    ),
    "models.pick": "已加载的模型",
    "models.unload": "卸载",
    "models.unload_all": "全部卸载",
    "models.bf16_native": "原生 bfloat16（AVX512-BF16/AMX）",
    "models.bf16_missing": "本机 CPU 没有原生 bfloat16",
    "models.fast_on": "快速路径已开启",
    "models.fast_off": "快速路径已关闭",
    "models.tiny_float32": "微型模型总是以 float32 运行",
    "models.threads": "{count} 个线程",
    "models.loads_in": "新加载的模型使用",
    "models.budget": "内存预算",
    "models.budget_of": "{total} 中的 {budget}",
    "models.no_limit": "无限制",
    "models.none_loaded": "尚未加载任何模型：每个模型在标签页第一次使用时加载。",
    "models.col_task": "任务",
    "models.col_model": "模型",
    "models.col_device": "设备",
    "models.col_precision": "精度",
    "models.col_memory": "内存",
    "models.col_last_used": "上次使用",
    "models.offloaded": "已移到 CPU",
    "models.total": "合计",
    "models.view_only": "这个公开的应用只列出它的模型：卸载模型和快速路径开关会影响所有访客（`MODELS_PANEL=view`）。",
    "models.refresh": "刷新",
    "models.fast_path": "快速路径（在本机 CPU 原生支持时使用 bfloat16 和 int8）",
    "models.fast_path_info": "关闭后所有模型在 CPU 上以 float32 运行，便于对比输出。切换会卸载所有模型，之后以新精度重新加载。",
    # --- Security and safety (#8) ---
    "safety.off": (
        "⚠️ **安全过滤已关闭**（`SAFETY_FILTER=off`）：不再用屏蔽词表检查提示词，也不再检查生成的图片是否含有不当内容。"
        "仅供研究使用，切勿用于儿童。"
    ),
    "safety.on": "🛡️ 安全过滤已开启：含屏蔽词的提示词会被拒绝，安全检查器标记的图片会被替换为提示图。",
}

I18N = gr.I18n(en=EN, **{"zh-CN": ZH})
_ = I18N


def t(key: str, locale: str | None) -> str:
    """The string for ``key`` in ``locale`` ("zh-CN" or "zh" for Chinese, English otherwise),
    for text the server writes itself (tables, plot legends), where ``_`` can't reach."""
    return (ZH if (locale or "").lower().startswith("zh") else EN)[key]


def both(key: str, **values) -> str:
    """``key`` in both languages, as inline HTML for Markdown the server writes (status
    lines): CSS shows the one matching the page's language (see ``CSS``), so it follows
    a language switch at once, with no request to the server."""
    return "".join(
        f'<span class="i18n-{lang}">{html.escape(table[key].format(**values), quote=False)}</span>'
        for lang, table in (("en", EN), ("zh", ZH))
    )


def bilingual(key: str, **values) -> str:
    """``key`` in English and Chinese, as plain text, for the few places that can show
    neither HTML nor ``_``: progress messages."""
    return " · ".join(table[key].format(**values) for table in (EN, ZH))


# Hides the other language's half of ``both``; <html lang> is set by Gradio's i18n.
CSS = 'html[lang^="zh"] .i18n-en, html:not([lang^="zh"]) .i18n-zh { display: none; }\n'

# The language switch. Switching a running page (Gradio's changeLocale, which its
# Settings panel calls) leaves inactive tabs and some component texts in the old
# language, so the switch stores the choice and reloads; ``LanguageScript`` puts a script
# at the top of the page that, before Gradio starts, makes the browser report that
# language (or the one in the address, ?lang=zh-CN), and Gradio renders it throughout.
STORAGE_KEY = "playground-locale"
LANGUAGE_SCRIPT = (
    "<script>(() => {\n"
    '  let locale = new URLSearchParams(location.search).get("lang");\n'
    f'  try {{ locale = locale || localStorage.getItem("{STORAGE_KEY}"); }} catch (e) {{}}\n'
    '  if (locale !== "en" && locale !== "zh-CN") return;\n'
    '  for (const [name, value] of [["language", locale], ["languages", [locale]]])\n'
    "    Object.defineProperty(navigator, name, { get: () => value, configurable: true });\n"
    "})();</script>"
)
# The page's language as the switch names it.
LOCALE_JS = "() => ((document.documentElement.lang || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en')"
SWITCH_LOCALE_JS = f"""(locale) => {{
  const url = new URL(location.href);
  url.searchParams.delete("lang");
  try {{ localStorage.setItem("{STORAGE_KEY}", locale); }} catch (e) {{ url.searchParams.set("lang", locale); }}
  location.replace(url.href);
  return locale;
}}"""


class LanguageScript:
    """ASGI middleware adding ``LANGUAGE_SCRIPT`` to the top of the app's page (the HTML
    that holds ``window.gradio_config``); every other response passes untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        start: dict | None = None
        chunks: list[bytes] = []

        async def rewrite(message):
            nonlocal start
            if message["type"] == "http.response.start":
                if b"text/html" in dict(message.get("headers", [])).get(b"content-type", b""):
                    start = message  # held back until the body is complete
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                if b"window.gradio_config" in body:
                    body = body.replace(b"<head>", b"<head>" + LANGUAGE_SCRIPT.encode(), 1)
                headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                return await send({"type": "http.response.body", "body": body})
            await send(message)

        await self.app(scope, receive, rewrite)
