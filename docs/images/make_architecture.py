"""Draws docs/images/architecture.png: the layers and the flow of one architecture."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch


def box(ax, x, y, text, w=3.3, h=0.8, color="#dfe9f5"):
    ax.add_patch(
        FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05", fc=color, ec="0.3")
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def arrow(ax, a, b, text="", curve=0.0):
    ax.annotate(
        "",
        xy=b,
        xytext=a,
        arrowprops={"arrowstyle": "->", "color": "0.25", "connectionstyle": f"arc3,rad={curve}"},
    )
    if text:
        ax.text((a[0] + b[0]) / 2 + 0.1, (a[1] + b[1]) / 2, text, fontsize=7, color="0.3")


def main() -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.2))
    for ax in (left, right):
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 10)
        ax.axis("off")
    left.set_title("layers (imports point down only)", fontsize=10)
    box(left, 5, 9, "cli  (segevo.cli: click, rich)")
    box(left, 5, 7, "engine  (anyio actors, zarr, TCP)")
    box(left, 2.6, 5, "surrogates  (predictors)")
    box(left, 7.4, 5, "devices  (latency, LUTs)")
    box(left, 5, 3, "nets  (spaces, supernet, plugins)")
    box(left, 5, 1, "_core  (C++: sort, LUT, K-S)", color="#f5e6d3")
    arrow(left, (5, 8.6), (5, 7.4))
    arrow(left, (4.4, 6.6), (3.4, 5.4))
    arrow(left, (5.6, 6.6), (6.6, 5.4))
    arrow(left, (3.4, 4.6), (4.4, 3.4))
    arrow(left, (6.6, 4.6), (5.6, 3.4))
    arrow(left, (5, 6.6), (5, 3.4))
    arrow(left, (5, 2.6), (5, 1.4))

    right.set_title("one architecture through the actors (one way)", fontsize=10)
    box(right, 2.5, 9, "Proposer\nstrategy.propose", color="#e3f2e1")
    box(right, 2.5, 7.2, "pre-screen\n(K-S subset)", color="#e3f2e1")
    box(right, 2.5, 5.4, "TaskBook\nids, exactly-once")
    box(right, 2.5, 3.6, "Dispatcher\nqueue, leases")
    box(right, 2.5, 1.6, "Evaluators\nlocal / TCP / fleet", color="#f5e6d3")
    box(right, 7.5, 1.6, "Archive actor\nsingle writer, zarr")
    box(right, 7.5, 4.2, "ArchiveRows\nthe one read model")
    box(right, 7.5, 7.2, "Surrogate actor\nstrategy.fit_model", color="#e3f2e1")
    arrow(right, (2.5, 8.6), (2.5, 7.6), "candidates")
    arrow(right, (2.5, 6.8), (2.5, 5.8), "k chosen")
    arrow(right, (2.5, 5.0), (2.5, 4.0), "tasks (state saved)")
    arrow(right, (2.5, 3.2), (2.5, 2.0), "lease")
    arrow(right, (3.8, 1.6), (6.2, 1.6), "result")
    arrow(right, (7.5, 2.0), (7.5, 3.8), "commit")
    arrow(right, (7.5, 4.6), (7.5, 6.8), "new rows")
    arrow(right, (6.2, 7.4), (3.8, 8.8), "model")
    arrow(right, (6.2, 4.4), (3.8, 8.6), "rows, front", curve=0.2)
    fig.tight_layout()
    out = Path(__file__).with_name("architecture.png")
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
