"""Writing benchmark results: a markdown section and a PNG bar chart per run."""

from __future__ import annotations

import platform
import shlex
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path


def median(xs) -> float:
    xs = list(xs)
    return statistics.median(xs) if xs else float("nan")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


def command_line() -> str:
    return "sparkcode " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def markdown_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def bar_chart(png: Path, title: str, groups: list[str], series: dict[str, list[float]], ylabel: str = "") -> None:
    """One small panel per group (each with its own scale), one bar per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(series)
    colors = [f"C{i}" for i in range(len(names))]
    fig, axes = plt.subplots(1, len(groups), figsize=(2.3 * len(groups) + 1, 3.4), squeeze=False)
    for g, ax in enumerate(axes[0]):
        vals = [series[n][g] for n in names]
        bars = ax.bar(range(len(names)), vals, color=colors)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_title(groups[g], fontsize=9)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
        ax.margins(y=0.15)
    axes[0][0].set_ylabel(ylabel)
    fig.legend([plt.Rectangle((0, 0), 1, 1, color=c) for c in colors], names, loc="lower center",
               ncol=len(names), fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def append_section(out: str, title: str, meta: dict, body: str, png: Path | None = None) -> None:
    """Append a section to the markdown file (or print it when out is '-')."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## {title} — {when}", "", f"Command: `{command_line()}`", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", body, ""]
    if png is not None and out != "-":
        rel = png.relative_to(Path(out).resolve().parent) if png.is_absolute() else png
        lines += [f"![{title}]({rel.as_posix()})", ""]
    text = "\n".join(lines) + "\n"
    if out == "-":
        print(text)
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("# Benchmarks\n\nEvery figure here was written by the command shown above it, on the machine "
                        "described, with nothing else running. Medians of several runs; ratios measured side by side "
                        "in the same run.\n\n")
    with open(path, "a") as f:
        f.write(text)
    print(text)
