"""Charts and tables that can be read: probability bars on an axis that shows their
differences and says so, category labels short enough not to be cut off, and the CLIP
lab's numbers in compact cells that never wrap."""

import re

import pandas as pd

from ui import panels
from ui.tabs.search import matrix_table


def bars(*probabilities):
    return panels.probability_bars(
        pd.DataFrame({panels.STEP_LABEL: list("abc"[: len(probabilities)]), panels.PROB: probabilities})
    )


def test_small_probabilities_get_a_zoomed_axis_that_says_so():
    assert bars(0.9, 0.1).y_lim == [0, 1]  # a large one: the whole 0-1 scale
    small = bars(0.0056, 0.0051, 0.0059)
    assert small.y_lim[1] == 0.0068 and "0.0068" in small.y_title and "zoomed" in small.y_title
    assert small.y_axis_format == ".1e"  # ticks of 0.005 would otherwise read 0.00
    tiny = bars(2.1e-31, 1.1e-31)
    assert 2.1e-31 < tiny.y_lim[1] < 3e-31 and tiny.y_axis_format == ".1e"


def test_long_labels_are_shortened_not_cut():
    assert panels.short("a cat") == "a cat"
    assert panels.short("##w (` ` a near 8 c to building", 12) == "##w (` ` a …" and len(panels.short("x" * 40)) == 18


def test_the_similarity_matrix_table_has_compact_numbers():
    record = {
        "images": ["cat.jpg", "coins.jpg"],
        "texts": ["a photo of a cat.", "a photo of coins."],
        "cosine": [[0.31, 0.02], [0.05, 0.29]],
        "temperature": 0.01,
    }
    table = matrix_table(record)
    cells = re.findall(r"<td>(.*?)</td>", table)
    assert len(cells) == 4 and "<b>0.310</b>" in cells[0] and "100%" in cells[0]
    assert "&lt;0.1%" in cells[1] or "<0.1%" in cells[1]  # e^-29: not 2.01e-13
    assert not re.search(r"\de-\d", table) and 'class="matrix-table"' in table
