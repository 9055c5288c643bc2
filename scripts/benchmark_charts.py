"""Draw docs/img/bench-<name>.svg from each benchmarks/results/<name>.json (the figures docs/benchmarks.md shows).

Run from the repository root after changing a results file (matplotlib is in the test extra):

    .venv/bin/python scripts/benchmark_charts.py            # redraw every chart whose data changed
    .venv/bin/python scripts/benchmark_charts.py --check    # exit 1 naming the charts that are stale

A results file holds what a benchmark printed, not a drawing: a chart is redrawn from it, never edited by hand.
To chart a new benchmark, add ``benchmarks/results/<name>.json`` and ``![...](img/bench-<name>.svg)`` on the
page, then run this script. The format (one or more panels side by side, each a horizontal bar chart)::

    {
      "title": "what is measured",
      "command": "the command that measured it",
      "measured": "date, commit, machine",
      "panels": [
        {
          "title": "unit (lower is better)",
          "log": false,                      # optional: logarithmic axis for figures spanning decades
          "groups": ["1k", "10k"],           # optional: one cluster of bars per group
          "series": [
            {"label": "lix SQLite", "ours": true, "values": [0.16, 0.22]},   # one value per group
            {"label": "a peer", "values": [0.2, 0.9]}
          ]
        }
      ]
    }

Each SVG records the SHA-256 of the data it was drawn from, so the test suite can tell a stale chart
(tests/unit/test_docs_site.py) without depending on matplotlib's exact output.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IMAGES = ROOT / "docs" / "img"
# Ours in blues, peers in warm colours and greys, in the order a panel lists them.
OURS = ["#1f5fa8", "#5b9bd5", "#9cc3e6", "#0b3d6e"]
PEERS = ["#d9822b", "#8c8c8c", "#e3b448", "#5e5e5e", "#c45b5b"]
DIGEST = re.compile(r"lix-data-sha256:([0-9a-f]{64})")


def chart_path(data_file: Path) -> Path:
    return IMAGES / f"bench-{data_file.stem}.svg"


def digest(data_file: Path) -> str:
    return hashlib.sha256(data_file.read_bytes()).hexdigest()


def stale_charts() -> list[str]:
    """Names of the results files whose chart is missing or was drawn from other figures."""
    stale = []
    for data_file in sorted(RESULTS.glob("*.json")):
        chart = chart_path(data_file)
        found = DIGEST.search(chart.read_text(encoding="utf-8")) if chart.exists() else None
        if found is None or found.group(1) != digest(data_file):
            stale.append(data_file.name)
    return stale


def _format(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _draw_panel(ax: Any, panel: dict[str, Any]) -> None:
    groups: list[str] = panel.get("groups") or [""]
    series: list[dict[str, Any]] = panel["series"]
    if len(groups) > 1:  # a colour per series, told apart by the legend
        ours, peers = itertools.cycle(OURS), itertools.cycle(PEERS)
        colours = [next(ours) if s.get("ours") else next(peers) for s in series]
    else:  # one bar per label: the colour only says ours or a peer
        colours = [OURS[0] if s.get("ours") else PEERS[1] for s in series]
    height = 1.0 if len(groups) > 1 else 0.7
    rows: list[tuple[float, str]] = []
    for g, group in enumerate(groups):
        for s, item in enumerate(series):
            value = float(item["values"][g])
            y = g * (len(series) + 0.8) + s if len(groups) > 1 else float(s)
            ax.barh(y, value, height=height * 0.92, color=colours[s], label=item["label"] if g == 0 else None)
            ax.annotate(
                _format(value), (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8
            )
            if len(groups) == 1:
                rows.append((y, item["label"]))
        if len(groups) > 1:
            rows.append((g * (len(series) + 0.8) + (len(series) - 1) / 2, group))
    ax.set_yticks([y for y, _ in rows], [label for _, label in rows], fontsize=9)
    ax.invert_yaxis()
    if panel.get("log"):
        ax.set_xscale("log")
    low, high = ax.get_xlim()
    ax.set_xlim(low if panel.get("log") else 0, high * (3 if panel.get("log") else 1.18))
    ax.set_title(panel["title"], fontsize=10, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelsize=8)
    if len(groups) > 1:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def draw(data_file: Path, out: Path | None = None) -> Path:
    """Draw one results file into its SVG chart (or into ``out``, e.g. a PNG preview)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Text as paths: the chart looks the same whatever fonts the reader has (labels never overflow).
    plt.rcParams.update({"svg.fonttype": "path", "svg.hashsalt": "lix", "font.size": 9})
    data = json.loads(data_file.read_text(encoding="utf-8"))
    panels = data["panels"]
    # Panels stacked, each as tall as its bars need: the page's column is narrow, a chart may be long.
    heights = [0.55 + 0.2 * len(p["series"]) * len(p.get("groups") or [""]) for p in panels]
    figure, axes = plt.subplots(
        len(panels),
        1,
        figsize=(9, 0.45 + sum(heights)),
        squeeze=False,
        layout="constrained",
        gridspec_kw={"height_ratios": heights},
    )
    for ax, panel in zip(axes[:, 0], panels):
        _draw_panel(ax, panel)
    figure.suptitle(data["title"], fontsize=11, x=0.01, ha="left")
    out = out or chart_path(data_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".svg":
        description = f"lix-data-sha256:{digest(data_file)}; {data['command']}"
        figure.savefig(out, metadata={"Date": None, "Description": description})
    else:
        figure.savefig(out, dpi=80)
    plt.close(figure)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale charts (exit 1 if any)")
    parser.add_argument("--all", action="store_true", help="redraw every chart, stale or not")
    parser.add_argument("--preview", type=Path, metavar="DIR", help="also write PNG previews into DIR")
    args = parser.parse_args(argv)
    if args.preview:
        for data_file in sorted(RESULTS.glob("*.json")):
            draw(data_file, args.preview / f"bench-{data_file.stem}.png")
    stale = stale_charts()
    if args.check:
        for name in stale:
            print(f"stale chart: {name} (run scripts/benchmark_charts.py)")
        return 1 if stale else 0
    for data_file in sorted(RESULTS.glob("*.json")):
        if args.all or data_file.name in stale:
            print(f"drew {draw(data_file).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
