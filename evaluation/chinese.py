"""The probe set in Chinese: reference captions and questions for the synthetic scenes
(written from the same scene data as the English ones, so both say the same thing),
hand-written ones for the photos, and how Chinese answers are compared.

A Chinese answer is normalised before it is compared with the accepted answers, as
the VQA evaluation normalises English ones (``evaluation.metrics.normalize_answer``):
full-width letters and digits as ASCII, punctuation and spaces dropped, a leading 在
and a trailing 的 dropped ("在左边的" is "左边"), numbers as digits whether written as
digits or in Chinese numerals, with or without a measure word ("三只", "3个" and "三"
are all "3"; numerals are read with ``cn2an``), and yes and no however said (是, 是的,
对, 有, yes -> 是; 不是, 否, 没有, 不, no -> 否).
"""

from __future__ import annotations

import random
import re

from labs.scenes import COLORS, RELATIONS, SHAPES, Scene
from runtime.inputs import half_width

COLOR_ZH = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色", "orange": "橙色", "purple": "紫色"}
SHAPE_ZH = {"circle": "圆形", "square": "正方形", "triangle": "三角形", "star": "星形"}
NUMBER_ZH = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五"}
# relation -> (A 在 B 的...: the phrase, and the one-word answer)
RELATION_ZH = {
    "left": ("左边", "左边"),
    "right": ("右边", "右边"),
    "above": ("上方", "上面"),
    "below": ("下方", "下面"),
}
# Accepted answers: a colour with or without 色, a shape with or without 形, a side in its common words.
COLOR_ANSWERS = {c: [z, z.removesuffix("色")] for c, z in COLOR_ZH.items()}
SHAPE_ANSWERS = {
    "circle": ["圆形", "圆"],
    "square": ["正方形", "方形", "方块"],
    "triangle": ["三角形", "三角"],
    "star": ["星形", "星星", "五角星"],
}
RELATION_ANSWERS = {
    "left": ["左边", "左", "左侧"],
    "right": ["右边", "右", "右侧"],
    "above": ["上面", "上方", "上边"],
    "below": ["下面", "下方", "下边"],
}

assert set(COLOR_ZH) == set(COLORS) and set(SHAPE_ZH) == set(SHAPES) and set(RELATION_ZH) == set(RELATIONS)


def _name(color: str, shape: str) -> str:
    return f"{COLOR_ZH[color]}{SHAPE_ZH[shape]}"  # 红色圆形


def describe_zh(scene: Scene) -> list[str]:
    """Chinese reference captions for a synthetic scene."""
    if scene.kind == "count":
        s, n = scene.shapes[0], len(scene.shapes)
        what = f"{NUMBER_ZH[n]}个{_name(s.color, s.shape)}"
        return [f"白色背景上的{what}", f"一张{what}的图片", f"画着{what}的图"]
    if scene.kind == "pair":
        a, b = scene.shapes
        phrase, _ = RELATION_ZH[scene.relation]
        opposite, _ = RELATION_ZH[RELATIONS[scene.relation][1]]
        first, second = _name(a.color, a.shape), _name(b.color, b.shape)
        return [f"{first}在{second}的{phrase}", f"{second}在{first}的{opposite}", f"白色背景上的{first}和{second}"]
    if scene.kind == "word":
        return [f"写着英文单词“{scene.word}”的图片", f"白底黑字写着{scene.word}", f"单词{scene.word}"]
    raise ValueError(f"Unknown scene kind {scene.kind!r}; available kinds = ['count', 'pair', 'word']")


def _qa(question: str, answers: list[str] | str | int, ability: str) -> dict:
    answers = [str(a) for a in answers] if isinstance(answers, list) else [str(answers)]
    return {"question": question, "answers": answers, "ability": ability, "language": "zh"}


def questions_zh(scene: Scene, rng: random.Random) -> list[dict]:
    """Chinese questions with accepted answers, tagged by ability as the English ones."""
    if scene.kind == "count":
        s, n = scene.shapes[0], len(scene.shapes)
        other = rng.choice([c for c in COLORS if c != s.color])
        shape = SHAPE_ZH[s.shape]
        return [
            _qa(f"图中有几个{shape}？", n, "count"),
            _qa(f"{shape}是什么颜色的？", COLOR_ANSWERS[s.color], "color"),
            _qa(f"{COLOR_ZH[s.color]}的物体是什么形状？", SHAPE_ANSWERS[s.shape], "shape"),
            _qa(f"图中有{_name(s.color, s.shape)}吗？", "是", "yes/no"),
            _qa(f"图中有{_name(other, s.shape)}吗？", "否", "yes/no"),
        ]
    if scene.kind == "pair":
        a, b = scene.shapes
        first, second = _name(a.color, a.shape), _name(b.color, b.shape)
        stated = rng.choice([scene.relation, RELATIONS[scene.relation][1]])
        horizontal = scene.relation in ("left", "right")
        return [
            _qa(
                f"{first}在{second}的{'左边还是右边' if horizontal else '上面还是下面'}？",
                RELATION_ANSWERS[scene.relation],
                "position",
            ),
            _qa(
                f"{first}在{second}的{RELATION_ZH[stated][0]}吗？",
                "是" if stated == scene.relation else "否",
                "position",
            ),
            _qa(f"{SHAPE_ZH[a.shape]}是什么颜色的？", COLOR_ANSWERS[a.color], "color"),
            _qa(f"{COLOR_ZH[b.color]}的物体是什么形状？", SHAPE_ANSWERS[b.shape], "shape"),
        ]
    if scene.kind == "word":
        return [_qa("图中写的是什么单词？", scene.word, "reading"), _qa("图中有文字吗？", "是", "yes/no")]
    raise ValueError(f"Unknown scene kind {scene.kind!r}; available kinds = ['count', 'pair', 'word']")


# The photos in Chinese: references and questions written for this probe set.
PHOTOS_ZH = {
    "astronaut.jpg": (
        ["一位穿着橙色宇航服的女宇航员", "宇航员在美国国旗和航天飞机模型旁微笑", "一位女宇航员的肖像"],
        [("她的衣服是什么颜色的？", ["橙色", "橙"], "color"), ("这个人在笑吗？", ["是"], "yes/no")],
    ),
    "brick.jpg": (
        ["一面灰色的砖墙", "墙上一排排的砖", "砖墙的特写"],
        [("这面墙是用什么做的？", ["砖", "砖头", "砖块"], "object")],
    ),
    "camera.jpg": (
        ["一张黑白照片：一个男人和三脚架上的相机", "穿外套的男人在田野里用相机取景", "一个正在拍照的男人"],
        [("图中有几个人？", ["1"], "count"), ("这是黑白照片吗？", ["是"], "yes/no")],
    ),
    "cat.jpg": (
        ["一只虎斑猫的特写", "一只绿眼睛的棕色虎斑猫看着镜头", "一只猫的照片"],
        [
            ("这是什么动物？", ["猫", "小猫", "猫咪"], "object"),
            ("这是一只狗吗？", ["否"], "yes/no"),
            ("图中有几只猫？", ["1"], "count"),
        ],
    ),
    "clock.jpg": (
        ["灰色墙上一个模糊的钟", "一个因运动而模糊的挂钟", "墙上的一个圆形挂钟"],
        [("钟是什么形状的？", ["圆形", "圆"], "shape")],
    ),
    "coffee.jpg": (
        ["红色碟子上的一杯咖啡", "木桌上红色杯子里的一杯浓缩咖啡和一把勺子", "一杯热咖啡"],
        [("杯子里是什么？", ["咖啡", "浓缩咖啡"], "object"), ("杯子是什么颜色的？", ["红色", "红", "橙色"], "color")],
    ),
    "coins.jpg": (
        ["黑色背景上的一组古老硬币", "一排排古代银币", "许多古老的银币"],
        [("这些是什么？", ["硬币", "钱币", "古钱币"], "object")],
    ),
    "grace_hopper.jpg": (
        ["一位穿海军制服戴帽子的老年女性", "格蕾丝·霍珀身穿制服站在美国国旗前的肖像", "一位戴眼镜的海军军官"],
        [("这位女士戴眼镜吗？", ["是"], "yes/no"), ("图中有几个人？", ["1"], "count")],
    ),
    "grass.jpg": (["草的特写", "一张草地的黑白照片", "一片草地"], [("这是什么？", ["草", "草地"], "object")]),
    "horse.jpg": (
        ["白色背景上一匹马的黑色剪影", "一匹站着的马的剪影", "一匹马的黑色轮廓"],
        [("这是什么动物？", ["马"], "object"), ("马是什么颜色的？", ["黑色", "黑"], "color")],
    ),
    "hubble_deep_field.jpg": (
        ["深空中的一片星系", "黑色天空中许多彩色的星系和恒星", "哈勃望远镜拍摄的深空照片"],
        [("这是一张太空的照片吗？", ["是"], "yes/no")],
    ),
    "retina.jpg": (
        ["人眼视网膜的照片", "带有红色血管的橙色视网膜", "眼底照片"],
        [("背景是什么颜色的？", ["黑色", "黑"], "color")],
    ),
    "rocket.jpg": (
        ["夜晚发射台上的一枚火箭", "黄昏时竖立在发射台上的猎鹰9号火箭", "一枚准备发射的火箭"],
        [("图片中间是什么？", ["火箭"], "object"), ("火箭是什么颜色的？", ["白色", "白"], "color")],
    ),
    "text.jpg": (
        ["一张纸上的手写文字", "一张写着数学公式的纸的黑白照片", "纸上手写的数学"],
        [("图中有文字吗？", ["是"], "yes/no")],
    ),
}


# --- Normalising Chinese answers --------------------------------------------------------

YES = {"是", "是的", "对", "对的", "有", "是啊", "yes", "yeah", "y"}
NO = {"否", "不是", "不", "没有", "不对", "无", "no", "n"}
_PUNCTUATION = re.compile(r"[\s。，、；：？！“”‘’（）《》【】…—·,.;:?!'\"()\[\]<>-]+")
# Measure words that follow a number in an answer: 三个, 两只, 4枚, 一张.
_MEASURE = "个只张枚颗块条辆匹头位人件座本"
_COUNT = re.compile(rf"^([0-9]+|[零〇一二两三四五六七八九十百千万]+)[{_MEASURE}]?$")
_ENGLISH_NUMBERS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}


def normalize_answer_zh(answer: str) -> str:
    """A Chinese (or English) answer in the form the accepted answers are compared in."""
    text = _PUNCTUATION.sub("", half_width(str(answer)).lower())
    if text in YES:
        return "是"
    if text in NO:
        return "否"
    if text in _ENGLISH_NUMBERS:
        return str(_ENGLISH_NUMBERS[text])
    text = text.removeprefix("在").removesuffix("的")
    match = _COUNT.match(text)
    if match:
        number = match.group(1)
        if not number.isdigit():
            import cn2an

            try:
                number = str(cn2an.cn2an(number.replace("两", "二"), "smart"))
            except ValueError:  # not a well-formed numeral: compared as written
                return text
        return str(int(number))
    return text
