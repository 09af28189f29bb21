"""`sparkcode bench speed`: speculative decoding modes side by side, with peers.

For each workload (edit, fresh, agent) and run, every mode generates the same greedy answer
from the same prompt on one engine, interleaved so machine drift hits all modes alike. Reports
decode tok/s (tokens after the first / time after the first), acceptance, mean accepted length,
and whether the output is token-identical to plain decoding. Peer: llama-cpp-python's
`LlamaPromptLookupDecoding` on the same model, prompt and threads (and llama.cpp's own
`llama-server` when `--peers` names it and it has been built, see `llama_server.py`).
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import models
from ..engine.core import Engine
from .report import append_section, bar_chart, machine, markdown_table, median
from .workloads import WORKLOADS


def _peer_prompt_lookup(path: str, threads: int):
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    # the peer needs logits for every position (its scores array is n_ctx x vocab floats)
    return Llama(model_path=path, n_ctx=4096, n_batch=512, n_threads=threads, n_threads_batch=threads, flash_attn=True, logits_all=True,
                 verbose=False, draft_model=LlamaPromptLookupDecoding(num_pred_tokens=10))


def _peer_tps(llm, prompt: str, max_tokens: int) -> float:
    stamps = []  # no reset: Llama reuses the cached prompt prefix, like our engine does
    for _ in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stream=True):
        stamps.append(time.perf_counter())
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


def main(args) -> int:
    model = args.model or models.DEFAULT_MODEL
    from ..engine.speculative import default_draft_for

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    draft = default_draft_for(model) if any(m in ("draft", "auto") for m in modes) else None
    if "draft" in modes and draft is None:
        modes.remove("draft")
        print(f"no draft model known for {model}: skipping the draft mode")
    engine = Engine(model, n_ctx=8192, threads=args.threads, draft_model=draft, prompt_cache=False)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    peers = [p.strip() for p in (getattr(args, "peers", "") or "prompt-lookup").split(",") if p.strip()]
    peer = _peer_prompt_lookup(str(engine.model.path), engine.threads) if "prompt-lookup" in peers else None
    server_peers = _llama_server_peers(peers, engine, draft)

    results: dict[tuple[str, str], dict] = {}
    for w in workloads:
        msgs = WORKLOADS[w]()
        prompt = engine.render(msgs)
        # warm-up, untimed: draft model load, first touch of the weights, and the verify-cost
        # calibration of every context bucket the timed runs will cross (a full-length auto run)
        for m in modes:
            engine.generate(msgs, max_tokens=args.max_tokens if m == "auto" else 8, speculate=m)
        for r in range(args.runs):
            ref = None
            for m in modes:
                engine.prefill(engine.tokenize_prompt(msgs))  # prompt (re)cached: measure decoding only
                d = engine.generate(msgs, max_tokens=args.max_tokens, speculate=m)
                if m == "off":
                    ref = d.tokens
                row = results.setdefault((w, m), {"tps": [], "acc": [], "len": [], "same": []})
                row["tps"].append(d.stats.decode_tps)
                row["acc"].append(d.stats.acceptance)
                steps = max(1, d.stats.decode_tokens - d.stats.accepted)
                row["len"].append(d.stats.accepted / steps)
                row["same"].append(None if ref is None else d.tokens == ref)
                print(f"{w} run {r + 1} {m:>6}: {d.stats.decode_tps:6.2f} tok/s, {d.stats.decode_tokens} tokens, "
                      f"accepted {d.stats.accepted}/{d.stats.drafted}", flush=True)
            if peer is not None:
                tps = _peer_tps(peer, prompt, args.max_tokens)
                results.setdefault((w, "peer: prompt-lookup"), {"tps": [], "acc": [], "len": [], "same": []})["tps"].append(tps)
                print(f"{w} run {r + 1} peer prompt-lookup: {tps:6.2f} tok/s", flush=True)
            for name, srv in server_peers.items():
                tps = srv.decode_tps(prompt, args.max_tokens)
                results.setdefault((w, f"peer: {name}"), {"tps": [], "acc": [], "len": [], "same": []})["tps"].append(tps)
                print(f"{w} run {r + 1} peer {name}: {tps:6.2f} tok/s", flush=True)
    for srv in server_peers.values():
        srv.stop()

    rows, series = [], {}
    columns = modes + [k for k in dict.fromkeys(m for (_, m) in results) if k.startswith("peer")]
    for w in workloads:
        base = median(results[(w, "off")]["tps"]) if (w, "off") in results else float("nan")
        for m in columns:
            r = results.get((w, m))
            if r is None:
                continue
            tps = median(r["tps"])
            same = [s for s in r["same"] if s is not None]
            rows.append([w, m, tps, tps / base, f"{median(r['acc']):.2f}" if r["acc"] else "-",
                         f"{median(r['len']):.2f}" if r["len"] else "-",
                         ("yes" if all(same) else f"{sum(same)}/{len(same)}") if same else "-"])
            series.setdefault(m, []).append(tps)
    body = markdown_table(["workload", "mode", f"decode tok/s (median of {args.runs})", "vs plain", "acceptance",
                           "mean accepted / step", "same tokens as plain"], rows)
    body += ("\n\n`off` = plain greedy decoding with the prefix cache; prompt processing is excluded (the prompt is "
             "cached before each timed run). Peers run the same rendered prompt, model and threads.")
    png = None
    if args.out != "-":
        png = Path(args.out).resolve().parent / f"bench-speed-{time.strftime('%Y%m%d-%H%M')}.png"
        bar_chart(png, f"decode tok/s by workload ({engine.model_name}, {engine.threads} threads)", workloads, series)
    append_section(args.out, "Speculative decoding", {
        "model": engine.model_name, "draft model": draft or "-", "threads": engine.threads, "machine": machine(),
        "runs": args.runs, "max tokens": args.max_tokens,
    }, body, png)
    return 0


def _llama_server_peers(peers: list[str], engine: Engine, draft: str | None) -> dict:
    wanted = [p for p in peers if p.startswith("llama-server")]
    if not wanted:
        return {}
    from .llama_server import LlamaServer

    out = {}
    if "llama-server-ngram" in wanted or "llama-server" in wanted:
        out["llama-server ngram-simple"] = LlamaServer.start(engine.model.path, engine.threads, ["--spec-type", "ngram-simple"])
    if ("llama-server-draft" in wanted or "llama-server" in wanted) and draft:
        out["llama-server draft"] = LlamaServer.start(engine.model.path, engine.threads,
                                                      ["--model-draft", str(models.resolve(draft, show_progress=False))])
    return out
