"""The probe set: a versioned data file (``evaluation/data/probes_v2.json``) of images
with reference captions, tagged question-answer pairs and text-to-image prompts, in
English and (from version 2) Chinese.

Its images are of two kinds:

- *synthetic scenes* (``scene-000`` ...), stored as the plain data ``labs.scenes``
  draws them from, with the sha256 of the drawn pixels, so anyone can check that they
  see the very images the file was made with;
- *photos* (``photo-cat`` ...): the app's example images in ``assets/images``, with
  hand-written reference captions and question-answer pairs.

The synthetic part is generated from the file's seed; ``build_probes`` re-creates it
(and a test checks that the file and the generator agree). To change the probe set,
write a new version instead of editing one that results were reported on:

    python -m evaluation.probes --seed 1 --out evaluation/data/probes_v3.json

Version 2 is version 1 (the same seed, scenes, photos and English items) plus Chinese
items (``evaluation/chinese.py``): a Chinese caption item per image, whose references
retrieval also ranks, and Chinese questions. It was written with

    python -m evaluation.probes --seed 0 --version 2 --photos-from evaluation/data/probes_v1.json \
        --out evaluation/data/probes_v2.json

Every item of version 2 carries its ``language`` ("en" or "zh"; version 1's items are
English); results are reported per language.

Task items and their ids (what ``--predictions`` files refer to):

- caption: ``caption/<image>`` (``caption/<image>/zh`` in Chinese): the image's references;
- vqa: ``vqa/<image>/<n>`` (``vqa/<image>/zh/<n>``): a question, its accepted answers and its ability;
- retrieval: every image with every one of its references: an image query is
  ``retrieval/<image>`` (answered by a ranking of text ids), a text query is
  ``retrieval/<image>/<n>`` (``retrieval/<image>/zh/<n>``; answered by a ranking of image ids);
- text_to_image: ``t2i/<prompt>``: a prompt and the questions that check its picture.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from evaluation.chinese import PHOTOS_ZH, describe_zh, questions_zh
from labs.scenes import Scene, describe, generate_prompts, generate_scenes, image_digest, questions, render_scene
from runtime import settings
from runtime.files import atomic_write_text
from runtime.inputs import load_image

DATA_DIR = Path(__file__).resolve().parent / "data"
PHOTOS_DIR = settings.EXAMPLE_IMAGES_DIR
LATEST = 2
TASKS = ("caption", "vqa", "retrieval", "text_to_image")
LANGUAGES = ("en", "zh")
# The abilities a question can probe: the synthetic scenes' six, and object recognition
# on the photos.
ABILITIES = ("color", "count", "shape", "position", "reading", "yes/no", "object")


@dataclass
class ProbeSet:
    version: int
    seed: int
    images: dict[str, dict]  # id -> {"source": "synthetic", "scene": {...}} | {"source": "photo", "file": ...}
    captions: list[dict]  # {id, image, references}
    vqa: list[dict]  # {id, image, question, answers, ability}
    text_to_image: list[dict]  # {id, prompt, questions: [{question, answers, ability}]}
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def image(self, image_id: str) -> Image.Image:
        """The image ``image_id`` as an RGB PIL image (drawn or read once, then cached)."""
        if image_id not in self.images:
            raise ValueError(f"Unknown probe image {image_id!r}; the probe set has {len(self.images)} images.")
        if image_id not in self._cache:
            self._cache[image_id] = draw(self.images[image_id])
        return self._cache[image_id].copy()

    def source(self, image_id: str) -> str:
        return self.images[image_id]["source"]

    @property
    def retrieval(self) -> tuple[list[str], list[dict]]:
        """(image ids, texts): each text {id, image, text, language} belongs to exactly one image."""
        texts = [
            {
                "id": f"retrieval/{item['image']}{'' if language(item) == 'en' else '/' + language(item)}/{n}",
                "image": item["image"],
                "text": text,
                "language": language(item),
            }
            for item in self.captions
            for n, text in enumerate(item["references"])
        ]
        return list(dict.fromkeys(item["image"] for item in self.captions)), texts

    @property
    def languages(self) -> list[str]:
        """The languages of its items, English first."""
        found = {language(item) for item in self.captions + self.vqa}
        return [code for code in LANGUAGES if code in found] + sorted(found - set(LANGUAGES))

    def ids(self, task: str) -> list[str]:
        """Every id a prediction for ``task`` may carry."""
        if task == "retrieval":
            images, texts = self.retrieval
            return [f"retrieval/{i}" for i in images] + [t["id"] for t in texts]
        return [item["id"] for item in self.items(task)]

    def items(self, task: str) -> list[dict]:
        if task == "retrieval":
            return self.captions  # the pool: each image with its references
        if task not in TASKS:
            raise ValueError(f"Unknown task {task!r}; available tasks = {list(TASKS)}")
        return getattr(self, "captions" if task == "caption" else task)

    def verify(self) -> list[str]:
        """The images whose pixels differ from the digests in the file (e.g. drawn by a
        different Pillow or FreeType, or a changed photo); empty when all match."""
        return [i for i, meta in self.images.items() if image_digest(self.image(i)) != meta["sha256"]]

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "seed": self.seed,
            "images": self.images,
            "captions": self.captions,
            "vqa": self.vqa,
            "text_to_image": self.text_to_image,
        }


def language(item: dict) -> str:
    """The language of a probe item: "en" unless it says otherwise (version 1 says nothing)."""
    return item.get("language", "en")


def draw(meta: dict) -> Image.Image:
    """The picture an entry of ``images`` stands for: a drawn scene or a photo."""
    if meta["source"] == "synthetic":
        return render_scene(Scene.from_dict(meta["scene"]))
    return load_image(PHOTOS_DIR / meta["file"])


def probe_path(version: int = LATEST) -> Path:
    return DATA_DIR / f"probes_v{version}.json"


def load_probes(source: int | str | Path = LATEST) -> ProbeSet:
    """The probe set of a version number (``evaluation/data/probes_v<N>.json``) or a path."""
    path = probe_path(source) if isinstance(source, int) else Path(source)
    if not path.is_file():
        known = sorted(p.name for p in DATA_DIR.glob("probes_v*.json"))
        raise ValueError(f"No probe set at {path.name!r}; available = {known}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        probes = ProbeSet(**{key: data[key] for key in ProbeSet.__dataclass_fields__ if not key.startswith("_")})
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path.name} is not a valid probe set ({type(error).__name__}: {error}).") from None
    for item in probes.captions + probes.vqa:
        if item["image"] not in probes.images:
            raise ValueError(f"{path.name}: item {item['id']!r} refers to an unknown image {item['image']!r}.")
    return probes


def build_probes(
    seed: int = 0,
    photos: list[dict] = (),
    version: int = LATEST,
    sizes: dict | None = None,
    chinese: bool | None = None,
) -> ProbeSet:
    """A probe set: synthetic scenes and prompts generated from ``seed``, plus ``photos``
    ({file, references, questions}) from ``assets/images``; with ``chinese`` (from
    version 2 when None) also the Chinese items of ``evaluation/chinese.py``."""
    chinese = version >= 2 if chinese is None else chinese
    sizes = {"n_count": 10, "n_pair": 8, "n_word": 6, "n_prompts": 9, **(sizes or {})}
    scenes = generate_scenes(seed, sizes["n_count"], sizes["n_pair"], sizes["n_word"])
    rng = random.Random(f"questions-{seed}")  # distractors in questions, apart from the scene stream
    rng_zh = random.Random(f"questions-zh-{seed}")  # the Chinese ones' own, so the English stay as they were
    images, captions, vqa = {}, [], []
    tag = {"language": "en"} if chinese else {}

    def add(image_id: str, meta: dict, references: list[str], qas: list[dict]) -> None:
        images[image_id] = {**meta, "sha256": image_digest(draw(meta))}
        captions.append({"id": f"caption/{image_id}", "image": image_id, "references": list(references), **tag})
        vqa.extend({"id": f"vqa/{image_id}/{n}", "image": image_id, **qa, **tag} for n, qa in enumerate(qas))

    def add_chinese(image_id: str, references: list[str], qas: list[dict]) -> None:
        captions.append(
            {"id": f"caption/{image_id}/zh", "image": image_id, "references": list(references), "language": "zh"}
        )
        vqa.extend(
            {"id": f"vqa/{image_id}/zh/{n}", "image": image_id, **qa, "language": "zh"} for n, qa in enumerate(qas)
        )

    for scene in scenes:
        add(scene.id, {"source": "synthetic", "scene": scene.to_dict()}, describe(scene), questions(scene, rng))
    for photo in photos:
        if not (PHOTOS_DIR / photo["file"]).is_file():
            raise ValueError(f"Photo {photo['file']!r} is not in assets/images.")
        image_id = "photo-" + Path(photo["file"]).stem.replace("_", "-")
        add(image_id, {"source": "photo", "file": photo["file"]}, photo["references"], photo["questions"])
    if chinese:
        for scene in scenes:
            add_chinese(
                scene.id,
                describe_zh(scene),
                [{k: v for k, v in qa.items() if k != "language"} for qa in questions_zh(scene, rng_zh)],
            )
        for photo in photos:
            if photo["file"] in PHOTOS_ZH:
                references, qas = PHOTOS_ZH[photo["file"]]
                image_id = "photo-" + Path(photo["file"]).stem.replace("_", "-")
                add_chinese(
                    image_id, references, [{"question": q, "answers": a, "ability": ability} for q, a, ability in qas]
                )
    prompts = [
        {"id": f"t2i/{p.id}", "prompt": p.prompt, "questions": p.questions}
        for p in generate_prompts(seed, sizes["n_prompts"])
    ]
    return ProbeSet(version, seed, images, captions, vqa, prompts)


def photos_of(probes: ProbeSet) -> list[dict]:
    """The hand-written English part of a probe set, in the form ``build_probes`` takes
    (the Chinese part is in ``evaluation/chinese.py``)."""
    by_image = {item["image"]: item for item in probes.captions if language(item) == "en"}
    return [
        {
            "file": meta["file"],
            "references": by_image[image_id]["references"],
            "questions": [
                {k: qa[k] for k in ("question", "answers", "ability")}
                for qa in probes.vqa
                if qa["image"] == image_id and language(qa) == "en"
            ],
        }
        for image_id, meta in probes.images.items()
        if meta["source"] == "photo"
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a probe set: synthetic scenes from a seed plus the photos.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", type=int, default=LATEST + 1)
    parser.add_argument("--photos-from", default=str(probe_path(LATEST)), help="probe set whose photos to keep")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    args = parser.parse_args(argv)
    photos = photos_of(load_probes(args.photos_from))
    probes = build_probes(args.seed, photos, args.version)
    atomic_write_text(Path(args.out), json.dumps(probes.to_dict(), indent=1, ensure_ascii=False) + "\n")
    print(
        f"wrote {args.out}: {len(probes.images)} images, {len(probes.vqa)} questions, {len(probes.text_to_image)} prompts"
    )


if __name__ == "__main__":
    main()
