"""Chinese texts in the explain views' figures draw with a CJK font, not as empty boxes."""

import warnings

import pytest

from explain.heatmaps import CJK_FONTS
from tests.conftest import IMAGES


def _installed():
    from matplotlib import font_manager

    return {f.name for f in font_manager.fontManager.ttflist} & set(CJK_FONTS)


@pytest.mark.skipif(not _installed(), reason="no CJK font installed (apt-get install fonts-noto-cjk)")
def test_the_clip_lab_matrix_draws_chinese_texts(models):
    from explain import clip as explain_clip

    pipe = models.get("retrieval", "tiny-chinese-clip").pipeline
    record, images = explain_clip.similarity_matrix(pipe, [str(IMAGES / "cat.jpg")], "一张猫的照片。\n一杯咖啡")
    assert record["texts"] == ["一张猫的照片。", "一杯咖啡"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        picture = explain_clip.matrix_figure(record, images)
    assert picture.size[0] > 100
