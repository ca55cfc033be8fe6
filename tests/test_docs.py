"""The READMEs and docs/ hold together.

- every docs/*.md page has its other-language twin (x.md <-> x.zh-CN.md), and every page links to it;
- every relative link in README.md, README.zh-CN.md and docs/*.md names a file that exists, and every
  #anchor (in the page or file.md#anchor) matches a heading of the target, as GitHub makes anchors;
- README.md stays short (at most 320 lines) with its "Code map" section in its first 120 lines;
- README.md and README.zh-CN.md have the same number of ## sections.

Links to http(s) addresses are not checked. Code blocks and inline code are not read for links or headings.
"""

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "README.zh-CN.md", *DOCS]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)")
ZH = ".zh-CN.md"


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def twin(path: Path) -> Path:
    """x.md <-> x.zh-CN.md, in the same folder."""
    if path.name.endswith(ZH):
        return path.with_name(path.name.removesuffix(ZH) + ".md")
    return path.with_name(path.name.removesuffix(".md") + ZH)


def prose(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(re.sub(r"(`+).*?\1", "", line))
    return lines


def anchor(heading: str) -> str:
    """GitHub's anchor: lower case, punctuation dropped (not hyphens or underscores), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    seen, found = Counter(), set()
    for line in prose(path):
        if match := re.match(r"#{1,6} (.+)", line):
            base = anchor(match.group(1))
            found.add(f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
    return found


def links(path: Path) -> list[str]:
    """The page's relative link targets (http(s) and mailto links left out)."""
    targets = [target for line in prose(path) for target in LINK.findall(line)]
    return [t for t in targets if not re.match(r"(https?|mailto):", t)]


def test_every_docs_page_has_its_twin():
    missing = [name(twin(page)) for page in DOCS if not twin(page).exists()]
    assert DOCS and not missing, f"pages without their other-language twin: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_page_links_to_its_twin(page):
    assert twin(page).name in {Path(unquote(t.split("#")[0])).name for t in links(page)}


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_names_a_file_that_exists(page):
    broken = [t for t in links(page) if not (page.parent / unquote(t.split("#")[0])).exists()]
    assert not broken, f"{name(page)} links to missing files: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_anchor_matches_a_heading(page):
    broken = []
    for target in links(page):
        file, _, fragment = unquote(target).partition("#")
        goal = page.parent / file if file else page
        if fragment and goal.suffix == ".md" and goal.exists() and fragment not in anchors(goal):
            broken.append(target)
    assert not broken, f"{name(page)} links to headings that don't exist: {broken}"


def test_readme_is_short_with_the_code_map_near_the_top():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 320, f"README.md has {len(lines)} lines; move long sections to docs/"
    assert "## Code map" in lines[:120], "README.md's '## Code map' section must start in its first 120 lines"


def test_both_readmes_have_the_same_sections():
    def sections(page):
        return [line for line in prose(ROOT / page) if line.startswith("## ")]

    english, chinese = sections("README.md"), sections("README.zh-CN.md")
    assert len(english) == len(chinese), f"{english} against {chinese}"


def test_readme_lines_are_short_so_its_line_cap_means_something():
    for page in ("README.md", "README.zh-CN.md"):
        long = [
            n for n, line in enumerate((ROOT / page).read_text(encoding="utf-8").splitlines(), 1) if len(line) > 120
        ]
        assert not long, f"{page}: lines over 120 characters: {long}"


def test_readmes_name_every_profile_default_the_registry_has():
    """The profiles table and the Spaces front matter follow runtime/registry.py: a default
    that changes there and not here fails (the README once named a chat default that had gone)."""
    import yaml

    from runtime import registry

    english = (ROOT / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    front = set(yaml.safe_load(english.split("---")[1])["models"])
    for profile in ("cpu", "gpu"):
        for task, key in registry.DEFAULTS[profile].items():
            repo = registry.CHECKPOINTS[key].repo_id
            assert f"https://huggingface.co/{repo}" in english, f"README.md lacks the {profile} {task} default {repo}"
            assert f"https://huggingface.co/{repo}" in chinese, (
                f"README.zh-CN.md lacks the {profile} {task} default {repo}"
            )
            assert repo in front, f"the Spaces front matter's models lack {repo}"
