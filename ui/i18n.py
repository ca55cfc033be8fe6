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
    "search.collection_info": "These are the images searched. Add your own: they are embedded once and kept.",
    "search.add_files": "Images to add",
    "search.add": "Add to the gallery",
    "search.classify_intro": "### Zero-shot classification\nType the labels to choose from; no training needed.",
    "search.labels": "Labels, separated by commas",
    "search.classify": "Classify",
    "search.confidences": "Confidence",
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
    "search.collection_info": "这些是被搜索的图片。可以添加你自己的图片：每张只计算一次嵌入并保存。",
    "search.add_files": "要添加的图片",
    "search.add": "添加到图库",
    "search.classify_intro": "### 零样本分类\n输入候选标签即可分类，无需训练。",
    "search.labels": "标签，用逗号分隔",
    "search.classify": "分类",
    "search.confidences": "置信度",
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
