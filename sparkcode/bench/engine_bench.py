"""`sparkcode bench engine`: our engine beside llama-cpp-python's high-level `Llama`.

Same GGUF, same threads, same context, flash attention on in both, greedy decoding, the same
rendered prompt. Runs alternate between the two so drift hits both equally. Measures:
- prompt processing tok/s on a ~500-token prompt (cache cleared before each run);
- decode tok/s over a 128-token greedy generation ((n-1) tokens / time after the first);
- TTFT of a cold 1,000-token prompt vs a second request sharing that prefix (prefix cache).
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import models
from ..engine.core import Engine
from .report import append_section, bar_chart, machine, markdown_table, median

CODE = "\n".join(
    f"def handler_{i}(request, db):\n    user = db.get_user(request.user_id)\n"
    f"    if user is None:\n        return {{'status': 404, 'id': {i}}}\n    return {{'status': 200, 'name': user.name}}\n"
    for i in range(60)
)


def _prompt(engine: Engine, n_code_lines: int, question: str) -> str:
    code = "\n".join(CODE.splitlines()[:n_code_lines])
    return engine.render([{"role": "system", "content": "You review Python code.\n```python\n" + code + "\n```"},
                          {"role": "user", "content": question}])


def main(args) -> int:
    from llama_cpp import Llama

    engine = Engine(args.model, n_ctx=4096, threads=args.threads, prompt_cache=False)
    path = str(engine.model.path)
    peer = Llama(model_path=path, n_ctx=4096, n_batch=512, n_threads=engine.threads, n_threads_batch=engine.threads,
                 flash_attn=True, verbose=False)
    runs, n_gen = args.runs, args.gen_tokens
    pp_prompt = _prompt(engine, 70, "Summarise the code.")
    gen_prompt = engine.render([{"role": "user", "content": "Write a complete Python implementation of a linked list "
                                                            "class with insert, delete, find, reverse and __iter__, "
                                                            "with docstrings."}])
    pp_tokens = engine.tokenize_prompt(pp_prompt)
    long_a = _prompt(engine, 100, "Which handler has id 7?")
    long_b = _prompt(engine, 100, "What does a missing user return?")

    res: dict[str, list[float]] = {k: [] for k in ("pp_ours", "pp_peer", "tg_ours", "tg_peer", "cold_ours", "warm_ours",
                                                    "cold_peer", "warm_peer")}
    n_long = len(engine.tokenize_prompt(long_a))
    for r in range(runs + 1):  # run 0 warms caches and is discarded
        # prompt processing
        engine.reset()
        d = engine.generate(pp_prompt, max_tokens=1, speculate="off")
        pp_ours = len(pp_tokens) / d.stats.prefill_s
        peer.reset()
        t0 = time.perf_counter()
        peer.eval(pp_tokens)
        pp_peer = len(pp_tokens) / (time.perf_counter() - t0)
        # decode
        engine.reset()
        d = engine.generate(gen_prompt, max_tokens=n_gen, speculate="off")
        tg_ours = d.stats.decode_tps
        peer.reset()
        stamps = []
        for _ in peer.create_completion(gen_prompt, max_tokens=n_gen, temperature=0.0, stream=True):
            stamps.append(time.perf_counter())
        tg_peer = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
        # prefix cache: cold then warm second turn sharing ~1,000 tokens
        engine.reset()
        cold = engine.generate(long_a, max_tokens=1, speculate="off").stats.ttft_s
        warm = engine.generate(long_b, max_tokens=1, speculate="off").stats.ttft_s
        peer.reset()
        t0 = time.perf_counter()
        next(iter(peer.create_completion(long_a, max_tokens=1, temperature=0.0, stream=True)))
        cold_p = time.perf_counter() - t0
        t0 = time.perf_counter()
        next(iter(peer.create_completion(long_b, max_tokens=1, temperature=0.0, stream=True)))
        warm_p = time.perf_counter() - t0
        if r == 0:
            continue
        for k, v in zip(res, (pp_ours, pp_peer, tg_ours, tg_peer, cold, warm, cold_p, warm_p)):
            res[k].append(v)
        print(f"run {r}: pp {pp_ours:.1f}/{pp_peer:.1f} tok/s, decode {tg_ours:.2f}/{tg_peer:.2f} tok/s, "
              f"ttft cold {cold * 1000:.0f} warm {warm * 1000:.0f} ms (peer {cold_p * 1000:.0f}/{warm_p * 1000:.0f})")

    m = {k: median(v) for k, v in res.items()}
    rows = [
        ["prompt processing (tok/s)", m["pp_ours"], m["pp_peer"], m["pp_ours"] / m["pp_peer"]],
        ["decode (tok/s)", m["tg_ours"], m["tg_peer"], m["tg_ours"] / m["tg_peer"]],
        [f"TTFT cold, {n_long}-token prompt (ms)", m["cold_ours"] * 1000, m["cold_peer"] * 1000, m["cold_peer"] / m["cold_ours"]],
        ["TTFT second turn, shared prefix (ms)", m["warm_ours"] * 1000, m["warm_peer"] * 1000, m["warm_peer"] / m["warm_ours"]],
    ]
    body = markdown_table(["metric (median of %d runs)" % runs, "sparkcode engine", "llama-cpp-python Llama",
                           "ratio (higher = sparkcode better)"], rows)
    body += (f"\n\nSecond-turn TTFT / cold TTFT (sparkcode): **{m['warm_ours'] / m['cold_ours']:.3f}** "
             f"(target ≤ 0.1). Decode ratio: **{m['tg_ours'] / m['tg_peer']:.3f}** (target ≥ 0.97).")
    png = None
    if args.out != "-":
        png = Path(args.out).resolve().parent / "bench-engine.png"
        bar_chart(png, f"engine vs llama-cpp-python ({engine.model_name}, {engine.threads} threads)",
                  ["prompt tok/s", "decode tok/s", "TTFT cold (ms)", "TTFT 2nd turn (ms)"],
                  {"sparkcode": [m["pp_ours"], m["tg_ours"], m["cold_ours"] * 1000, m["warm_ours"] * 1000],
                   "llama-cpp-python": [m["pp_peer"], m["tg_peer"], m["cold_peer"] * 1000, m["warm_peer"] * 1000]})
    spec = models.spec_for_path(engine.model.path)
    append_section(args.out, "Engine vs llama-cpp-python", {
        "model": spec.title if spec else path, "threads": engine.threads, "n_ctx": 4096, "flash attention": "on (both)",
        "llama-cpp-python": _version(), "machine": machine(), "runs": runs, "generated tokens": n_gen,
    }, body, png)
    return 0


def _version() -> str:
    import llama_cpp

    return getattr(llama_cpp, "__version__", "?")
