"""The built docs site: strict build, pictures where the pages promise them, code and tables that fit the column.

The site is built once for the module (a few seconds). Widths are checked against the theme's CSS arithmetic
(Material for MkDocs plus docs/stylesheets/extra.css) for a 1280px-wide window, since no browser runs here.
"""

from __future__ import annotations

import html
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRE = re.compile(r"<pre(?P<attrs>[^>]*)>(?P<body>.*?)</pre>", re.DOTALL)
TABLE = re.compile(r"<table>(?P<body>.*?)</table>", re.DOTALL)
ROW = re.compile(r"<tr>(.*?)</tr>", re.DOTALL)
CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.DOTALL)
CODE = re.compile(r"<code[^>]*>.*?</code>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
IMG = re.compile(r"<img [^>]*src=\"(?P<src>[^\"]+)\"")
MERMAID = '<pre class="mermaid">'

# The theme's geometry in CSS pixels: the root font is 20px (125 %) below 1600px-wide windows; the two sidebars
# take 12.1rem each and the content 1.2rem of margin on each side; code is 0.85 x 0.8rem Roboto Mono (0.6em a
# character) with 1.1765em of padding each side; table text is 0.64rem.
WINDOW = 1280
ROOT_PX = 20
GRID_REM = float(
    re.search(
        r"\.md-grid\s*\{\s*max-width:\s*([\d.]+)rem", (ROOT / "docs/stylesheets/extra.css").read_text()
    ).group(1)  # type: ignore[union-attr]
)
COLUMN_PX = min(WINDOW, GRID_REM * ROOT_PX) - 2 * 12.1 * ROOT_PX - 2 * 1.2 * ROOT_PX
CODE_FONT_PX = 0.85 * 0.8 * ROOT_PX
CODE_CHARS = int((COLUMN_PX - 2 * 1.1765 * CODE_FONT_PX) // (0.6 * CODE_FONT_PX))
TABLE_FONT_PX = 0.64 * ROOT_PX
CELL_PADDING_PX = 2 * 0.9 * TABLE_FONT_PX  # extra.css: 0.6em 0.9em
HEADER_MIN_PX = 3 * ROOT_PX  # extra.css: th min-width 3rem
CHAR_PX = 0.58 * TABLE_FONT_PX  # Roboto, a wide average (digits are 0.56em)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("index.html") if "assets" not in p.parts)


def text_of(fragment: str) -> str:
    return html.unescape(TAG.sub("", fragment))


def test_site_builds_strictly(site: Path) -> None:
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "LixSemanticCache" in api and "calibrate" in api  # the reference really came from the docstrings


@pytest.mark.parametrize(
    ("page", "diagrams", "images"),
    [
        ("index.html", 1, 0),
        ("semantic/index.html", 1, 1),
        ("benchmarks/index.html", 0, 9),
        ("notebooks/threshold_tuning/index.html", 0, 1),
    ],
)
def test_pages_have_their_pictures(site: Path, page: str, diagrams: int, images: int) -> None:
    """Issue 21: an architecture diagram on the home page, the lookup flowchart and the precision/hit-rate plot
    on the semantic page, a chart per benchmark; every image the page shows exists in the site."""
    built = site / page
    text = built.read_text(encoding="utf-8")
    found = IMG.findall(text)
    assert text.count(MERMAID) >= diagrams, f"{page}: {text.count(MERMAID)} diagrams"
    assert len(found) >= images, f"{page}: {found}"
    for src in found:
        assert (built.parent / src).resolve().is_file(), f"{page} shows {src}, which the site lacks"


def test_every_notebook_is_a_page_with_its_outputs(site: Path) -> None:
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = site / "notebooks" / notebook.stem / "index.html"
        assert page.is_file(), f"{notebook.name} is not rendered (docs/hooks/notebooks.py, mkdocs.yml's nav)"
        shown = page.read_text(encoding="utf-8")
        assert '<span class="filename">Output</span>' in shown, f"{notebook.name}'s page shows no output"


def test_every_benchmark_result_is_charted_on_the_benchmarks_page(site: Path) -> None:
    shown = set(IMG.findall((site / "benchmarks" / "index.html").read_text(encoding="utf-8")))
    for data_file in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        assert f"../img/bench-{data_file.stem}.svg" in shown, f"no chart of {data_file.name} on benchmarks.md"


def test_every_benchmark_section_has_a_chart() -> None:
    """docs/benchmarks.md: a section that gives a command (**Command.**) shows a chart of what it measured."""
    sections = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8").split("\n## ")[1:]
    measured = [section for section in sections if "**Command.**" in section]
    assert len(measured) >= 9
    for section in measured:
        assert "](img/bench-" in section, f"no chart in the section {section.splitlines()[0]!r}"


def test_charts_are_drawn_from_the_current_figures() -> None:
    charts = runpy.run_path(str(ROOT / "scripts" / "benchmark_charts.py"))
    assert charts["stale_charts"]() == [], "run scripts/benchmark_charts.py and commit docs/img"


def test_code_lines_fit_the_column(site: Path) -> None:
    """No code block scrolls sideways in a 1280px-wide window (the API pages' signatures and docstrings too)."""
    assert CODE_CHARS >= 80, CODE_CHARS  # the CSS still widens the column
    too_long = []
    for page in pages(site):
        for block in PRE.finditer(page.read_text(encoding="utf-8")):
            if 'class="mermaid"' in block.group("attrs"):
                continue  # a diagram, drawn by the browser
            for line in text_of(block.group("body")).splitlines():
                if len(line) > CODE_CHARS:
                    too_long.append(f"{page.parent.relative_to(site)}: {len(line)}: {line}")
    assert not too_long, f"{len(too_long)} code lines over {CODE_CHARS} characters:\n" + "\n".join(too_long)


def test_tables_fit_the_column(site: Path) -> None:
    """Each table's narrowest layout (cells wrapped at spaces; inline code breaks anywhere) fits the column."""
    too_wide = []
    for page in pages(site):
        for table in TABLE.finditer(page.read_text(encoding="utf-8")):
            widths: dict[int, float] = {}
            for row in ROW.findall(table.group("body")):
                for column, cell in enumerate(CELL.findall(row)):
                    words = text_of(CODE.sub(" ", cell)).split()
                    need = max((len(w) for w in words), default=0) * CHAR_PX
                    widths[column] = max(widths.get(column, HEADER_MIN_PX), need)
            total = sum(widths.values()) + CELL_PADDING_PX * len(widths)
            if total > COLUMN_PX:
                first = text_of(ROW.findall(table.group("body"))[0]).split()
                too_wide.append(
                    f"{page.parent.relative_to(site)}: {total:.0f}px > {COLUMN_PX:.0f}px: {first}"
                )
    assert not too_wide, "\n".join(too_wide)


HEADING = re.compile(r'<h(?P<level>[1-6]) id="(?P<id>[^"]+)"')
RAW_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|data|obj|const|type):(?=`|\S)")


def test_api_pages_show_no_raw_roles_or_private_names(site: Path) -> None:
    """Docstrings are Google style Markdown: scripts/convert_docstring_roles.py rewrites Sphinx roles (run it
    after adding code that uses them), and no private name is shown."""
    for page in pages(site):
        if "api" not in page.parent.relative_to(site).parts:
            continue
        text = text_of(re.sub(r"<script.*?</script>", "", page.read_text(encoding="utf-8"), flags=re.DOTALL))
        roles = sorted({line.strip()[:120] for line in text.splitlines() if RAW_ROLE.search(line)})
        assert not roles, f"raw Sphinx roles (run scripts/convert_docstring_roles.py): {roles[:10]}"
        assert not re.findall(r"(?<![\w.])_[A-Z]\w+", text), "private names shown"


def test_api_pages_show_no_private_base_classes(site: Path) -> None:
    """docs/hooks/griffe_private_bases.py shows a private base's members under the public class instead."""
    text = text_of((site / "api" / "index.html").read_text(encoding="utf-8"))
    assert not re.search(r"Bases:[^\n]*\b_[A-Za-z]", text), re.findall(r"Bases:[^\n]*", text)[:5]
    assert "SemanticAPI.lookup" in (site / "api" / "index.html").read_text(encoding="utf-8")


def test_api_reference_has_one_heading_per_object_under_its_section(site: Path) -> None:
    html_text = (site / "api" / "index.html").read_text(encoding="utf-8")
    headings = [(int(m.group("level")), m.group("id")) for m in HEADING.finditer(html_text)]
    objects = [h for h in headings if h[1].startswith("lix_integrations")]
    ids = [i for _, i in objects]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert objects and all(level >= 3 for level, _ in objects), "an object heading at the sections' level"
    assert sum(1 for level, _ in headings if level == 2) >= 5  # the sections: Engine, LangChain, ...
