"""`sparkcode bench candidates`: what several first attempts cost, decoded together in one batch
(`LocalBackend.complete_many`, what the agent does at the start of an attempt) beside the same
replies decoded one after another (what an agent without batching pays for them).

For each k: k replies of `--tokens` tokens to the agent's own first prompt (the terse system
prompt and the README's snake task), sampled at the candidates' temperature with their own seeds.
The prompt is evaluated before the clock starts in both conditions (it is read once either way),
so the figures are decode time. Medians of `--runs`.
"""

from __future__ import annotations

import time

from .. import models
from .report import append_section, bar_chart, machine, markdown_table, median

TASK = "build a snake game in one HTML file"


def add_arguments(p) -> None:
    p.add_argument("--model", "-m", default=models.DEFAULT_MODEL, help="model (default: the default model)")
    p.add_argument("--max-k", type=int, default=4, help="the most replies decoded together (default 4)")
    p.add_argument("--tokens", type=int, default=256, help="tokens per reply (default 256)")
    p.add_argument("--runs", type=int, default=2, help="runs per condition (default 2)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads")
    p.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to append to ('-' = print only)")


def main(args) -> int:
    from ..agent import prompts
    from ..agent.candidates import CANDIDATE_TEMPERATURE
    from ..backends.base import ChatRequest
    from ..backends.local import LocalBackend
    from ..engine.sampling import SamplingParams

    backend = LocalBackend.load(args.model, threads=args.threads, show_progress=False, prompt_cache=False)
    messages = [{"role": "system", "content": prompts.system_prompt("terse")},
                {"role": "user", "content": prompts.first_message(TASK, "./  (the workspace root: 0 files, 0 B)\n  (empty)")}]

    def decode(k: int, seed: int) -> tuple[float, int]:
        """(seconds, tokens) of k replies decoded together, the prompt already read."""
        requests = [ChatRequest(messages, max_tokens=args.tokens,
                                sampling=SamplingParams(temperature=CANDIDATE_TEMPERATURE, top_p=0.95, seed=seed + i))
                    for i in range(k)]
        backend.engine.reset()
        backend.engine.prefill(backend.engine.tokenize_prompt(messages))  # read before the clock, as said above
        t = time.perf_counter()
        dones = backend.complete_many(requests)
        wall = time.perf_counter() - t
        return wall - max(d.stats.prefill_s for d in dones), sum(d.stats.decode_tokens for d in dones)

    together: dict[int, list[tuple[float, int]]] = {}
    for run in range(args.runs):
        for k in range(1, args.max_k + 1):
            together.setdefault(k, []).append(decode(k, 1000 * run + 10 * k))
    one = median(s for s, _ in together[1])
    one_tokens = median(n for _, n in together[1])
    rows, series = [], {"together": [], "one after another": []}
    for k, runs in together.items():
        s, n = median(x for x, _ in runs), median(y for _, y in runs)
        rows.append([k, int(n), round(s, 1), round(n / s, 1), f"{s / one:.2f}x", round(one * k, 1), f"{one * k / s:.2f}x"])
        series["together"].append(s)
        series["one after another"].append(one * k)
    body = markdown_table(["replies k", "tokens (median)", "decoded together s", "aggregate tok/s", "÷ one reply",
                           "one after another s (k × one)", "together is faster by"], rows)
    png = None
    if args.out != "-":
        from pathlib import Path

        png = Path(args.out).resolve().parent / f"bench-candidates-{time.strftime('%Y%m%d-%H%M')}.png"
        bar_chart(png, f"{args.model}: k candidate replies, decode seconds (lower is better)",
                  [f"k={k}" for k in together], series, ylabel="s")
    backend.engine.close()
    append_section(args.out, "Candidates: k first attempts decoded together vs one after another",
                   {"machine": machine(), "model": args.model, "threads": args.threads or "default (physical cores)",
                    "prompt": f"the agent's terse system prompt + `{TASK}`",
                    "replies": f"{args.tokens} tokens each at most (median {int(one_tokens)} for one), temperature "
                               f"{CANDIDATE_TEMPERATURE}, top-p 0.95, own seeds; prompt read before the clock",
                    "runs": f"{args.runs} per k, median"}, body, png)
    return 0
