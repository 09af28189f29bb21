"""`sparkcode bench restart`: what a new process pays before its first token.

Each run is a fresh `sparkcode run TASK --max-turns 1 --json` process (the model loaded anew, KV
memory empty), and the figure is its first turn's time to first token:

- ``cold``: the prompt cache on disk is empty (the first run after an install or an upgrade);
- ``warm``: the cache holds the agent's system prompt, saved by an earlier process;
- ``off``: ``SPARKCODE_PROMPT_CACHE_MB=0``, what every run paid before the cache existed.

The cache lives in a temporary ``SPARKCODE_HOME`` (its ``models`` folder linked to the real one),
so the user's own cache is neither read nor touched. Medians of `--runs`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import models
from .report import append_section, machine, markdown_table, median

TASK = "Write greet.py with greet(name) that returns 'Hello, ' + name + '!'."


def add_arguments(p) -> None:
    p.add_argument("--model", "-m", default=models.DEFAULT_MODEL, help="model (default: the default model)")
    p.add_argument("--runs", type=int, default=3, help="processes per condition (default 3)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads")
    p.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to append to ('-' = print only)")


def first_turn(home: Path, model: str, threads: int | None, cache: bool) -> dict:
    """One fresh process: its first turn's stats."""
    with tempfile.TemporaryDirectory() as ws:
        env = dict(os.environ, SPARKCODE_HOME=str(home))
        if not cache:
            env["SPARKCODE_PROMPT_CACHE_MB"] = "0"
        else:
            env.pop("SPARKCODE_PROMPT_CACHE_MB", None)
        cmd = [sys.executable, "-m", "sparkcode.cli", "run", TASK, "--workspace", ws, "--json", "--max-turns", "1",
               "--speculate", "off", "--model", model] + (["--threads", str(threads)] if threads else [])
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        try:
            return json.loads(r.stdout)["turns"][0]
        except (ValueError, KeyError, IndexError):
            raise RuntimeError(f"sparkcode run failed ({r.returncode}): {r.stderr[-800:]}") from None


def main(args) -> int:
    real = models.home_dir()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(real / "models", target_is_directory=True)
        results: dict[str, list[dict]] = {"cold": [], "warm": [], "off": []}
        for _ in range(args.runs):
            for label in ("off", "cold", "warm"):
                if label == "cold":
                    for f in (home / "prompt-cache").glob("*/*"):
                        f.unlink()
                results[label].append(first_turn(home, args.model, args.threads, cache=label != "off"))
    rows = []
    off = median(t["ttft_s"] for t in results["off"])
    for label, turns in results.items():
        ttft = median(t["ttft_s"] for t in turns)
        rows.append([label, turns[0]["prompt_tokens"], int(median(t["cached_tokens"] for t in turns)), round(ttft, 2),
                     f"{ttft / off:.2f}x"])
    body = markdown_table(["prompt cache on disk", "prompt tokens", "cached tokens (median)", "first-turn TTFT s (median)",
                           "÷ off"], rows)
    append_section(args.out, "Restart: first-turn TTFT of a new `sparkcode run` process",
                   {"machine": machine(), "model": args.model, "threads": args.threads or "default (physical cores)",
                    "runs": f"{args.runs} fresh processes per condition, interleaved off, cold, warm",
                    "task": f"`{TASK}` (`--max-turns 1 --speculate off`)"}, body)
    return 0
