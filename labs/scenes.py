"""Synthetic scenes: shapes of known colours, counts and positions, and rendered
words, drawn with Pillow from a seed, each with exact ground truth. The one place that
draws them: the evaluation probe set (``evaluation/probes.py``) and the Fusion lab's
pictures (``labs/fusion.py``, one shape each on a tinted canvas) both render here.

A scene is plain data (``Scene``: what is where); ``render_scene`` draws it, and
``describe`` / ``questions`` write its reference captions and its question-answer
pairs, tagged by the ability they probe. Because the ground truth is computed from
the same data the picture is drawn from, it is exact: a scene of three red circles
*has* three red circles.

    from labs.scenes import generate_scenes, render_scene
    scenes = generate_scenes(seed=0)          # the same seed always gives the same scenes
    image = render_scene(scenes[0])           # a 384x384 RGB PIL image, identical every time

Three kinds of scene:

- ``count``: 1-5 shapes of one kind and colour, scattered without overlapping
  (count, colour, shape and yes/no questions);
- ``pair``: two shapes of different kinds and colours, one left of, right of, above or
  below the other (position, colour and shape questions);
- ``word``: a short word in large black letters (reading and yes/no questions).

``generate_prompts`` makes text-to-image probes from the same vocabulary: a prompt
("three red circles on a white background") and the questions that check an image
drawn for it ("How many circles are there?" -> "3").
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
IMAGE_SIZE = 384  # BLIP's input size; CLIP and ViLT resize from it
SUPERSAMPLE = 2  # draw at 2x and downscale: smooth edges without anti-aliased primitives
BACKGROUND = (255, 255, 255)
TEXT_COLOR = (20, 20, 20)

# Saturated, well-separated colours that every captioning dataset names the same way.
COLORS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 205, 20),
    "orange": (250, 130, 20),
    "purple": (130, 50, 180),
}
SHAPES = ("circle", "square", "triangle", "star")
# Short, common words that a sign could carry and a VQA vocabulary knows.
WORDS = ("stop", "open", "exit", "milk", "taxi", "hotel", "pizza", "sale", "bus", "park", "cafe", "hello")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
RELATIONS = {  # relation -> (phrase, opposite)
    "left": ("to the left of", "right"),
    "right": ("to the right of", "left"),
    "above": ("above", "below"),
    "below": ("below", "above"),
}
ABILITIES = ("color", "count", "shape", "position", "reading", "yes/no")


@dataclass(frozen=True)
class Shape:
    shape: str  # one of SHAPES
    color: str  # one of COLORS
    x: int  # centre, in pixels of the IMAGE_SIZE canvas
    y: int
    r: int  # radius of the circle the shape fits in

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    id: str
    kind: str  # count, pair or word
    shapes: tuple[Shape, ...] = ()
    word: str = ""
    relation: str = ""  # pair scenes: where shapes[0] is relative to shapes[1]
    size: int = IMAGE_SIZE

    def to_dict(self) -> dict:
        data = asdict(self)
        data["shapes"] = [asdict(s) for s in self.shapes]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Scene:
        return cls(**{**data, "shapes": tuple(Shape(**s) for s in data.get("shapes", ()))})


@dataclass(frozen=True)
class Prompt:
    """A text-to-image probe: the prompt and the questions that check an image drawn for it."""

    id: str
    prompt: str
    questions: list[dict] = field(default_factory=list)  # {question, answers, ability}


# --- Words ---------------------------------------------------------------------


def plural(shape: str) -> str:
    return shape + "s"


def article(noun_phrase: str) -> str:
    """'a red circle', 'an orange star'."""
    return ("an " if noun_phrase[0] in "aeiou" else "a ") + noun_phrase


def counted(n: int, color: str, shape: str) -> str:
    """'a red circle', 'three red circles'."""
    return article(f"{color} {shape}") if n == 1 else f"{NUMBER_WORDS[n]} {color} {plural(shape)}"


def describe(scene: Scene) -> list[str]:
    """Reference captions: several ways a person would say what the scene shows."""
    if scene.kind == "count":
        s = scene.shapes[0]
        what = counted(len(scene.shapes), s.color, s.shape)
        single = len(scene.shapes) == 1
        return [
            f"{what} on a white background",
            f"a picture of {what}",
            f"a drawing of {what}",
            f"a single {s.color} {s.shape}" if single else f"{what} scattered on white",
        ]
    if scene.kind == "pair":
        first, second = scene.shapes
        phrase, opposite = RELATIONS[scene.relation]
        return [
            f"{article(first.name)} {phrase} {article(second.name)}",
            f"{article(second.name)} {RELATIONS[opposite][0]} {article(first.name)}",
            f"{article(first.name)} and {article(second.name)} on a white background",
            f"a drawing of {article(first.name)} and {article(second.name)}",
        ]
    if scene.kind == "word":
        return [
            f'the word "{scene.word}" written in black letters',
            f"black text that says {scene.word} on a white background",
            f"the word {scene.word}",
            f"a white sign with the word {scene.word}",
        ]
    raise ValueError(f"Unknown scene kind {scene.kind!r}; available kinds = ['count', 'pair', 'word']")


def _qa(question: str, answer: str | int, ability: str) -> dict:
    return {"question": question, "answers": [str(answer)], "ability": ability}


def questions(scene: Scene, rng: random.Random) -> list[dict]:
    """Question-answer pairs with exact answers, each tagged by the ability it probes.
    ``rng`` picks distractors (the colour a "no" question asks about, the relation a
    yes/no position question states), so the answers are balanced and not guessable."""
    if scene.kind == "count":
        s, n = scene.shapes[0], len(scene.shapes)
        other = rng.choice([c for c in COLORS if c != s.color])
        be, noun = ("is", s.shape) if n == 1 else ("are", plural(s.shape))
        return [
            _qa(f"How many {plural(s.shape)} are there?", n, "count"),
            _qa(f"What color {be} the {noun}?", s.color, "color"),
            _qa(f"What shape {be} the {s.color} {'object' if n == 1 else 'objects'}?", s.shape, "shape"),
            _qa(f"Is there {article(s.name)} in the image?", "yes", "yes/no"),
            _qa(f"Is there {article(f'{other} {s.shape}')} in the image?", "no", "yes/no"),
            _qa("Is there any text in the image?", "no", "yes/no"),
        ]
    if scene.kind == "pair":
        a, b = scene.shapes
        axis = "left or right of" if scene.relation in ("left", "right") else "above or below"
        stated = rng.choice([scene.relation, RELATIONS[scene.relation][1]])
        return [
            _qa(f"Is the {a.name} {axis} the {b.name}?", scene.relation, "position"),
            _qa(
                f"Is the {a.name} {RELATIONS[stated][0]} the {b.name}?",
                "yes" if stated == scene.relation else "no",
                "position",
            ),
            _qa(f"What color is the {a.shape}?", a.color, "color"),
            _qa(f"What shape is the {b.color} object?", b.shape, "shape"),
        ]
    if scene.kind == "word":
        shape, color = rng.choice(SHAPES), rng.choice(list(COLORS))
        return [
            _qa("What word is written in the image?", scene.word, "reading"),
            _qa("Is there any text in the image?", "yes", "yes/no"),
            _qa(f"Is there {article(f'{color} {shape}')} in the image?", "no", "yes/no"),
        ]
    raise ValueError(f"Unknown scene kind {scene.kind!r}; available kinds = ['count', 'pair', 'word']")


# --- Generating ----------------------------------------------------------------


def _scatter(rng: random.Random, n: int, r: int, size: int) -> list[tuple[int, int]]:
    """n centres for shapes of radius r, inside the canvas and at least a gap apart.
    Rejection sampling from ``rng``; deterministic for a given state."""
    margin, gap = r + 12, 2 * r + 16
    for _ in range(1000):
        points: list[tuple[int, int]] = []
        for _ in range(500):
            p = (rng.randint(margin, size - margin), rng.randint(margin, size - margin))
            if all(math.dist(p, q) >= gap for q in points):
                points.append(p)
                if len(points) == n:
                    return points
    raise RuntimeError(f"Can't place {n} shapes of radius {r} on a {size}px canvas.")


def _pair(rng: random.Random, relation: str, size: int) -> tuple[tuple[int, int], tuple[int, int], int]:
    """Centres for shapes A and B with A ``relation`` B, clearly apart on that axis and
    roughly aligned on the other, so left/right (or above/below) is unambiguous."""
    r = rng.randint(40, 56)
    near, far = rng.randint(r + 16, size // 2 - r - 8), rng.randint(size // 2 + r + 8, size - r - 16)
    across = [rng.randint(size // 2 - 40, size // 2 + 40) for _ in range(2)]
    first, second = (near, far) if relation in ("left", "above") else (far, near)
    if relation in ("left", "right"):
        return (first, across[0]), (second, across[1]), r
    return (across[0], first), (across[1], second), r


def generate_scenes(seed: int = 0, n_count: int = 10, n_pair: int = 8, n_word: int = 6) -> list[Scene]:
    """The synthetic scenes for ``seed``: ``n_count`` count scenes, ``n_pair`` pair scenes
    and ``n_word`` word scenes. The same arguments always give the same scenes.

    Within one call no two scenes share a caption: count scenes differ in shape and
    colour, pair scenes in the two shapes they show, word scenes in their word, so a
    caption names exactly one image (retrieval relies on it)."""
    rng = random.Random(seed)
    combos = [(shape, color) for shape in SHAPES for color in COLORS]
    if n_count > len(combos) or n_word > len(WORDS):
        raise ValueError(f"At most {len(combos)} count scenes and {len(WORDS)} word scenes; got {n_count}, {n_word}.")
    scenes = []
    for i, (shape, color) in enumerate(rng.sample(combos, n_count)):
        n = 1 + i % 5  # every count from 1 to 5, equally often
        r = rng.randint(26, 44) if n > 2 else rng.randint(40, 64)
        points = _scatter(rng, n, r, IMAGE_SIZE)
        scenes.append(
            Scene(f"scene-{len(scenes):03d}", "count", tuple(Shape(shape, color, x, y, r) for x, y in points))
        )
    seen: set[frozenset] = set()
    while sum(s.kind == "pair" for s in scenes) < n_pair:
        shape_a, shape_b = rng.sample(SHAPES, 2)
        color_a, color_b = rng.sample(list(COLORS), 2)
        key = frozenset([(shape_a, color_a), (shape_b, color_b)])
        if key in seen:
            continue
        seen.add(key)
        relation = list(RELATIONS)[sum(s.kind == "pair" for s in scenes) % 4]  # each relation equally often
        (xa, ya), (xb, yb), r = _pair(rng, relation, IMAGE_SIZE)
        shapes = (Shape(shape_a, color_a, xa, ya, r), Shape(shape_b, color_b, xb, yb, r))
        scenes.append(Scene(f"scene-{len(scenes):03d}", "pair", shapes, relation=relation))
    for word in rng.sample(WORDS, n_word):
        scenes.append(Scene(f"scene-{len(scenes):03d}", "word", word=word))
    return scenes


def generate_prompts(seed: int = 0, n: int = 9) -> list[Prompt]:
    """Text-to-image probes for ``seed``: count prompts ("three red circles on a white
    background"), position prompts ("a red circle to the left of a blue square") and
    reading prompts ('a sign that says "open"'), in turn, each with the questions
    that check the picture."""
    rng = random.Random(f"prompts-{seed}")
    prompts = []
    for i in range(n):
        pid = f"prompt-{i:03d}"
        kind = ("count", "pair", "word")[i % 3]
        if kind == "count":
            shape, color, count = rng.choice(SHAPES), rng.choice(list(COLORS)), rng.randint(1, 4)
            be, noun = ("is", shape) if count == 1 else ("are", plural(shape))
            qs = [
                _qa(f"How many {plural(shape)} are there?", count, "count"),
                _qa(f"What color {be} the {noun}?", color, "color"),
                _qa(f"What shape {be} the {color} {'object' if count == 1 else 'objects'}?", shape, "shape"),
            ]
            prompts.append(Prompt(pid, f"{counted(count, color, shape)} on a white background", qs))
        elif kind == "pair":
            (shape_a, shape_b), (color_a, color_b) = rng.sample(SHAPES, 2), rng.sample(list(COLORS), 2)
            relation = rng.choice(list(RELATIONS))
            a, b = f"{color_a} {shape_a}", f"{color_b} {shape_b}"
            axis = "left or right of" if relation in ("left", "right") else "above or below"
            qs = [
                _qa(f"Is the {a} {axis} the {b}?", relation, "position"),
                _qa(f"What color is the {shape_a}?", color_a, "color"),
            ]
            prompts.append(Prompt(pid, f"{article(a)} {RELATIONS[relation][0]} {article(b)} on a white background", qs))
        else:
            word = rng.choice(WORDS)
            qs = [_qa("What word is written on the sign?", word, "reading")]
            prompts.append(Prompt(pid, f'a sign that says "{word}"', qs))
    return prompts


# --- Drawing -------------------------------------------------------------------


def _star(x: float, y: float, r: float) -> list[tuple[float, float]]:
    """A five-pointed star: outer points on radius r, inner ones on 0.45 r, one point up."""
    return [
        (
            x + (r if k % 2 == 0 else 0.45 * r) * math.sin(k * math.pi / 5),
            y - (r if k % 2 == 0 else 0.45 * r) * math.cos(k * math.pi / 5),
        )
        for k in range(10)
    ]


def _draw_shape(draw: ImageDraw.ImageDraw, s: Shape, scale: int, palette: Mapping[str, RGB]) -> None:
    x, y, r, fill = s.x * scale, s.y * scale, s.r * scale, palette[s.color]
    if s.shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    elif s.shape == "square":
        half = r * 0.8  # a square of side 1.6 r looks as big as a circle of radius r
        draw.rectangle((x - half, y - half, x + half, y + half), fill=fill)
    elif s.shape == "triangle":
        # Centred on its centroid, one vertex up.
        draw.regular_polygon((x, y + r * 0.15, r * 1.1), 3, fill=fill)
    elif s.shape == "star":
        draw.polygon(_star(x, y, r * 1.1), fill=fill)
    else:
        raise ValueError(f"Unknown shape {s.shape!r}; available shapes = {list(SHAPES)}")


def render_scene(scene: Scene, palette: Mapping[str, RGB] = COLORS, background: RGB = BACKGROUND) -> Image.Image:
    """Draw ``scene`` as a ``scene.size`` x ``scene.size`` RGB image. Pure: the same
    scene gives the same pixels (with the same Pillow and FreeType).

    ``palette`` (colour name -> RGB) and ``background`` are for pictures that vary
    their tints, as the Fusion lab's do; the probe set keeps the defaults, which its
    recorded image digests depend on."""
    big = scene.size * SUPERSAMPLE
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    for s in scene.shapes:
        _draw_shape(draw, s, SUPERSAMPLE, palette)
    if scene.word:
        # Pillow's bundled font (Aileron), so no font file is needed; as wide as fits.
        font_size = min(150, int(big * 0.8 / (0.6 * len(scene.word))))
        font = ImageFont.load_default(size=font_size)
        draw.text((big / 2, big / 2), scene.word.upper(), font=font, fill=TEXT_COLOR, anchor="mm")
    return image.resize((scene.size, scene.size), Image.Resampling.LANCZOS)


def image_digest(image: Image.Image) -> str:
    """sha256 of the pixels (not of an encoded file, whose bytes depend on the encoder)."""
    return hashlib.sha256(image.tobytes()).hexdigest()
