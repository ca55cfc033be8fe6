"""The optional second image check (SAFETY_NUDENET=on, issue 36 finding 8): NudeNet's
detector beside the safety checker, loaded on first use, refused before any work when its
package is missing, and measured for false positives on the images the app ships."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from pipelines import safety
from runtime import settings
from tests.conftest import ROOT

SHIPPED = sorted((ROOT / "assets" / "images").glob("*.jpg")) + sorted((ROOT / "docs").glob("*.png"))


class Fake:
    """Stands for NudeNet's detector: finds what it is told to in every image."""

    def __init__(self, found: list[dict]):
        self.found = found

    def detect(self, array):
        assert array.ndim == 3 and array.shape[2] == 4  # RGBA, which NudeNet converts to its BGR
        return self.found


@pytest.fixture
def detector_on(monkeypatch):
    monkeypatch.setattr(settings, "SAFETY_NUDENET", "on")
    loader = safety.nudity_detector  # a test may replace it
    loader.cache_clear()
    yield
    loader.cache_clear()


def test_no_shipped_image_is_flagged_and_the_detector_really_runs():
    """The false-positive count on the bundled images (and the docs' screenshots): 0 of 17.
    The model runs: it finds the faces in the astronaut's and Grace Hopper's portraits."""
    pytest.importorskip("nudenet")
    detector = safety.NudityDetector.load(threshold=0.5)
    flagged = [path.name for path in SHIPPED if detector([Image.open(path).convert("RGB")])[0]]
    assert len(SHIPPED) >= 17 and flagged == []
    for portrait in ("astronaut.jpg", "grace_hopper.jpg"):
        found = detector.found(Image.open(ROOT / "assets" / "images" / portrait))
        assert any(d["class"] == "FACE_FEMALE" and d["score"] > 0.5 for d in found), found


@pytest.mark.parametrize(
    "found, flagged",
    [
        ([{"class": "FEMALE_BREAST_EXPOSED", "score": 0.9, "box": [0, 0, 8, 8]}], True),
        ([{"class": "FEMALE_BREAST_EXPOSED", "score": 0.3, "box": [0, 0, 8, 8]}], False),  # under the threshold
        ([{"class": "FACE_FEMALE", "score": 0.9, "box": [0, 0, 8, 8]}], False),  # not nudity
        ([], False),
    ],
)
def test_only_exposed_classes_over_the_threshold_flag(found, flagged):
    detector = safety.NudityDetector(Fake(found), threshold=0.5)
    assert detector([Image.new("RGB", (64, 64))]) == [flagged]


def test_what_the_detector_flags_is_hidden_by_the_pipeline(models, detector_on, monkeypatch):
    pipe = models.get("text_to_image").pipeline
    exposed = safety.NudityDetector(Fake([{"class": "BUTTOCKS_EXPOSED", "score": 0.8, "box": [0, 0, 4, 4]}]))
    monkeypatch.setattr(safety, "nudity_detector", lambda: exposed)
    images = pipe("a red fox", seed=1, width=64, height=64, num_images=2)
    assert [safety.is_hidden(image) for image in images] == [True, True]
    monkeypatch.setattr(settings, "SAFETY_NUDENET", "off")  # off: the checker alone, which passes these
    assert not any(safety.is_hidden(image) for image in pipe("a red fox", seed=1, width=64, height=64))


def test_asked_for_without_its_package_it_refuses_before_any_work(models, detector_on, monkeypatch):
    monkeypatch.setitem(sys.modules, "nudenet", None)  # as if not installed
    pipe = models.get("text_to_image").pipeline
    steps = []
    with pytest.raises(RuntimeError, match=r"pip install nudenet==3\.4\.2"):
        pipe("a red fox", seed=1, width=64, height=64, callback=lambda step, total: steps.append(step))
    assert steps == []


def test_nothing_is_loaded_at_import_or_when_off(monkeypatch):
    code = "import sys, pipelines.safety; print('nudenet' in sys.modules, 'onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    monkeypatch.setattr(settings, "SAFETY_NUDENET", "off")
    safety.nudity_detector.cache_clear()
    safety.SafetyFilter(on=True, checker=lambda on_load=None: None).checker()
    assert safety.nudity_detector.cache_info().currsize == 0
