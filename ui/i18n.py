"""Every UI string, in English and Simplified Chinese.

Components get a key (``_("caption.tab")``); the browser shows the string of its
language, English otherwise. Both tables must have the same keys (a test checks).
"""

from __future__ import annotations

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
    # --- Security and safety (#8) ---
    "safety.off": (
        "⚠️ **安全过滤已关闭**（`SAFETY_FILTER=off`）：不再用屏蔽词表检查提示词，也不再检查生成的图片是否含有不当内容。"
        "仅供研究使用，切勿用于儿童。"
    ),
    "safety.on": "🛡️ 安全过滤已开启：含屏蔽词的提示词会被拒绝，安全检查器标记的图片会被替换为提示图。",
}

I18N = gr.I18n(en=EN, **{"zh-CN": ZH})
_ = I18N
