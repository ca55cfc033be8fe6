"""The first screen's guide names every tab of the page, in each language as its tab bar does."""

import pytest

from ui.demo import TABS, _tab_id
from ui.i18n import t


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_the_guide_names_every_tab(locale):
    guide = t("app.guide", locale)
    for tab in TABS:
        assert f"**{t(f'{_tab_id(tab)}.tab', locale)}**" in guide, _tab_id(tab)
    for panel in ("explain.how_title", "explain.code_title"):  # where the explain panels are
        assert t(panel, locale).split(" ", 1)[1] in guide
