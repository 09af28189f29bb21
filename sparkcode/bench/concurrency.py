"""`sparkcode bench concurrency`: N streaming clients at once, sparkcode vs llama-server.

Each round starts N clients together, each streaming its own chat question through
`/v1/chat/completions` (greedy, the same `max_tokens`), and measures per stream the time to first
token and the gaps between content chunks, and for the round the aggregate completion tok/s
(every client's tokens over the round's wall time). Three servers, one at a time, same model, same
threads, same questions:

- sparkcode `--parallel 1`: today's FIFO, one generation after another (single-stream rate);
- sparkcode `--parallel P`: continuous batching in P KV slots (engine/batch.py);
- llama.cpp's `llama-server -np P` (continuous batching), built by `sparkcode bench llama-server`,
  when it is there.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from pathlib import Path

from .report import append_section, bar_chart, machine, markdown_table, median

QUESTIONS = [
    "Write a Python function that merges two sorted lists, with a docstring and comments.",
    "Explain how a hash map works, step by step, for a beginner.",
    "Write a JavaScript class for a to-do list with add, remove and toggle methods.",
    "Write a bash script that backs up a folder into a dated tar.gz file, with comments.",
    "Write a Python class for a bank account with deposit, withdraw and a history of transactions.",
    "Explain the difference between TCP and UDP with examples.",
    "Write a SQL schema for a small blog: users, posts, comments, with foreign keys.",
    "Write a Go function that counts the words in a text file and prints the top ten.",
]


def add_arguments(p) -> None:
    p.add_argument("--model", "-m", default="qwen2.5-coder-0.5b", help="model (default qwen2.5-coder-0.5b)")
    p.add_argument("--clients", default="1,2,4", help="comma list of concurrent client counts (default 1,2,4)")
    p.add_argument("--max-tokens", type=int, default=96, help="tokens per reply (default 96)")
    p.add_argument("--rounds", type=int, default=2, help="rounds per client count (default 2; medians)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-peer", action="store_true", help="skip llama-server even when it is built")
    p.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to append to ('-' = print only)")


def _stream(port: int, question: str, max_tokens: int, model: str, start: threading.Event, out: dict) -> None:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": question}], "stream": True,
                       "max_tokens": max_tokens, "temperature": 0, "stream_options": {"include_usage": True}})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start.wait()
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    stamps, tokens = [], 0
    for raw in r:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if chunk.get("choices") and chunk["choices"][0].get("delta", {}).get("content"):
            stamps.append(time.perf_counter() - t0)
        if chunk.get("usage"):
            tokens = chunk["usage"].get("completion_tokens", 0)
    conn.close()
    out.update(ttft=stamps[0] if stamps else float("nan"), end=time.perf_counter() - t0, tokens=tokens or len(stamps),
               gaps=[b - a for a, b in zip(stamps, stamps[1:])])


def _round(port: int, n: int, max_tokens: int, model: str) -> dict:
    start = threading.Event()
    outs = [{} for _ in range(n)]
    threads = [threading.Thread(target=_stream, args=(port, QUESTIONS[i % len(QUESTIONS)], max_tokens, model, start,
                                                      outs[i])) for i in range(n)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    gaps = sorted(g for o in outs for g in o.get("gaps", []))
    ttfts = sorted(o["ttft"] for o in outs)
    return {"agg_tps": sum(o["tokens"] for o in outs) / wall, "ttft_p50": statistics.median(ttfts),
            "ttft_p95": ttfts[min(len(ttfts) - 1, int(0.95 * len(ttfts)))],
            "itl_p50": statistics.median(gaps) if gaps else float("nan"),
            "itl_p95": gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))] if gaps else float("nan"),
            "min_tokens": min(o["tokens"] for o in outs)}


def _measure(port: int, counts: list[int], rounds: int, max_tokens: int, model: str, name: str) -> dict:
    _round(port, 1, 8, model)  # warm-up: first requests pay one-off costs
    res = {}
    for n in counts:
        runs = [_round(port, n, max_tokens, model) for _ in range(rounds)]
        res[n] = {k: median(r[k] for r in runs) for k in runs[0]}
        print(f"{name:26s} {n} client(s): {res[n]['agg_tps']:6.1f} tok/s aggregate, TTFT p50 "
              f"{res[n]['ttft_p50']:.2f} s p95 {res[n]['ttft_p95']:.2f} s, ITL p50 {res[n]['itl_p50'] * 1000:.0f} ms",
              flush=True)
    return res


def main(args) -> int:
    from .. import models
    from ..backends.local import LocalBackend
    from ..server import create_app
    from . import llama_server
    from .local_server import serving

    counts = [int(c) for c in str(args.clients).split(",") if c.strip()]
    slots = max(counts)
    backend = LocalBackend.load(args.model, n_ctx=8192, threads=args.threads, show_progress=False)
    engine = backend.engine
    results: dict[str, dict] = {}
    for parallel in (1, slots):
        name = f"sparkcode --parallel {parallel}"
        engine.reset()
        with serving(create_app(backend, parallel=parallel, max_queue=64, max_tokens_cap=max(args.max_tokens, 16))) as port:
            results[name] = _measure(port, counts, args.rounds, args.max_tokens, engine.model_name, name)
    peer = None
    if not args.no_peer and llama_server.binary().is_file():
        peer = f"llama-server -np {slots}"
        srv = llama_server.LlamaServer.start(Path(engine.model.path), engine.threads,
                                             ["-np", str(slots), "-c", str(8192 * slots)])
        try:
            results[peer] = _measure(srv.port, counts, args.rounds, args.max_tokens, "x", peer)
        finally:
            srv.stop()
    rows = [[name, n, r["agg_tps"], r["ttft_p50"], r["ttft_p95"], r["itl_p50"] * 1000, r["itl_p95"] * 1000,
             int(r["min_tokens"])] for name, res in results.items() for n, r in res.items()]
    body = markdown_table(["server", "clients", "aggregate tok/s", "TTFT p50 s", "TTFT p95 s", "ITL p50 ms",
                           "ITL p95 ms", "fewest tokens a client got"], rows)
    single = results["sparkcode --parallel 1"][counts[0]]["agg_tps"]
    batched = results[f"sparkcode --parallel {slots}"][slots]["agg_tps"]
    body += (f"\n\nAt {slots} clients, sparkcode batched gives **{batched:.1f} tok/s** aggregate, "
             f"{batched / single:.2f}x its single-stream rate ({single:.1f} tok/s at {counts[0]} client)")
    if peer:
        body += f"; llama-server -np {slots}: **{results[peer][slots]['agg_tps']:.1f} tok/s**"
    body += ".\n"
    png = None
    if args.out != "-":
        png = Path(args.out).resolve().parent / "bench-concurrency.png"
        bar_chart(png, f"aggregate tok/s by concurrent clients ({engine.model_name}, {engine.threads} threads)",
                  [f"{n} client(s)" for n in counts], {name: [res[n]["agg_tps"] for n in counts]
                                                        for name, res in results.items()}, "tok/s")
    spec = models.spec_for_path(engine.model.path)
    append_section(args.out, "Concurrency: N streaming clients, sparkcode vs llama-server", {
        "model": spec.title if spec else engine.model_name, "threads": engine.threads, "machine": machine(),
        "reply": f"{args.max_tokens} tokens at most, greedy (temperature 0), a different question per client",
        "rounds": f"{args.rounds} per client count, medians", "servers": ", ".join(results),
    }, body, png)
    return 0
