"""`sparkcode bench structured`: do structured outputs always parse and validate, and what does the
grammar cost per token?

The fifty requests of `structured_cases.py` (varied JSON schemas) go to an in-process server with
a real model, `POST /v1/chat/completions`, greedy, each twice:

- ``schema``: ``response_format`` ``json_schema`` (strict) with the request's ``speculate`` mode
  (default ``auto``): the reply must parse and validate against its schema (jsonschema);
- ``free``: the same messages with no response format (the system prompt still asks for JSON
  only), the same speculation: the model alone, validated the same way, for comparison.

Decode speed is the engine's (decode tokens / decode seconds, from the response's stats); the
figures are medians over the cases; the grammar's cost is the constrained median against the free
one. Modes alternate per case, so a slow stretch of the machine hits both.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from pathlib import Path

from .report import append_section, bar_chart, machine, markdown_table, median
from .local_server import serving, wait_idle
from .structured_cases import CASES, SYSTEM

MODES = ("schema", "free")


@dataclass
class Reply:
    mode: str
    case: int
    parsed: bool
    valid: bool
    finish: str
    tokens: int
    decode_tps: float
    drafted: int
    accepted: int
    error: str = ""


def _ask(port: int, ask: str, schema: dict | None, i: int, speculate: str, max_tokens: int) -> dict:
    body = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ask}],
            "max_tokens": max_tokens, "temperature": 0, "speculate": speculate}
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": f"case{i}", "schema": schema,
                                                                          "strict": True}}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read())
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"case {i}: HTTP {resp.status}: {json.dumps(data)[:300]}")
    return data


def judge(text: str, schema: dict) -> tuple[bool, bool, str]:
    """(parses as JSON, validates against the schema, why not)."""
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError as e:
        return False, False, f"not JSON: {e}"
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as e:
        return True, False, f"invalid: {e.message[:120]}"
    return True, True, ""


def run_case(port: int, i: int, mode: str, speculate: str, max_tokens: int) -> Reply:
    ask, schema = CASES[i]
    data = _ask(port, ask, schema if mode == "schema" else None, i, speculate, max_tokens)
    text = data["choices"][0]["message"]["content"] or ""
    parsed, valid, why = judge(text, schema)
    s = data["sparkcode"]
    return Reply(mode, i, parsed, valid, data["choices"][0]["finish_reason"], s["decode_tokens"], s["decode_tps"],
                 s["drafted"], s["accepted"], why)


def add_arguments(p) -> None:
    p.add_argument("--model", "-m", default="qwen2.5-coder-1.5b", help="model to serve (default qwen2.5-coder-1.5b)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    p.add_argument("--cases", type=int, default=len(CASES), help=f"how many of the {len(CASES)} cases (default all)")
    p.add_argument("--speculate", default="auto", help="speculation mode of every request (default auto)")
    p.add_argument("--max-tokens", type=int, default=128, help="reply budget (default 128)")
    p.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to append to ('-' = print only)")


def main(args) -> int:
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        raise SystemExit("bench structured validates with jsonschema: pip install jsonschema") from None
    from .. import models
    from ..backends.local import LocalBackend
    from ..server import create_app

    n = max(1, min(int(args.cases), len(CASES)))
    backend = LocalBackend.load(args.model, threads=args.threads, show_progress=False)
    engine = backend.engine
    replies: list[Reply] = []
    with serving(create_app(backend, max_tokens_cap=max(args.max_tokens, 16))) as port:
        wait_idle(port)
        run_case(port, 0, "free", args.speculate, 8)  # warm-up: one-off costs
        for i in range(n):
            for mode in (MODES if i % 2 == 0 else MODES[::-1]):
                r = run_case(port, i, mode, args.speculate, args.max_tokens)
                replies.append(r)
                print(f"case {i + 1:2d} {mode:6s} valid={r.valid!s:5s} {r.tokens:3d} tok {r.decode_tps:6.2f} tok/s "
                      f"{r.error}", flush=True)

    def of(mode):
        return [r for r in replies if r.mode == mode]

    rows = []
    for mode in MODES:
        rs = of(mode)
        rows.append([mode, len(rs), sum(r.parsed for r in rs), sum(r.valid for r in rs),
                     f"{100 * sum(r.valid for r in rs) / len(rs):.0f}%", sum(r.finish == "length" for r in rs),
                     median(r.tokens for r in rs), median(r.decode_tps for r in rs),
                     sum(r.accepted for r in rs), sum(r.drafted for r in rs)])
    body = markdown_table(["mode", "requests", "parse", "validate", "valid %", "cut by max_tokens", "median tokens",
                           "median decode tok/s", "accepted", "drafted"], rows)
    tps = {m: median(r.decode_tps for r in of(m)) for m in MODES}
    cost = 1 - tps["schema"] / tps["free"] if tps["free"] else 0.0
    failed = [r for r in of("schema") if not r.valid]
    body += (f"\n\nWith the schema enforced, **{sum(r.valid for r in of('schema'))} of {n}** replies parse and "
             f"validate; without it, {sum(r.valid for r in of('free'))} of {n}. Median decode speed "
             f"{tps['schema']:.2f} tok/s constrained vs {tps['free']:.2f} free: the grammar costs "
             f"**{100 * cost:.0f}%** per token here.")
    if failed:
        body += "\n\nConstrained replies that failed: " + "; ".join(f"case {r.case + 1}: {r.error}" for r in failed)
    png = None
    if args.out != "-":
        png = Path(args.out).resolve().parent / "bench-structured.png"
        bar_chart(png, f"structured outputs ({engine.model_name}, {engine.threads} threads)",
                  ["valid %", "median decode tok/s"],
                  {m: [100 * sum(r.valid for r in of(m)) / n, tps[m]] for m in MODES})
    spec = models.spec_for_path(engine.model.path)
    append_section(args.out, "Structured outputs: fifty JSON schemas, enforced vs free", {
        "model": spec.title if spec else engine.model_name, "threads": engine.threads, "machine": machine(),
        "requests": f"{n} cases x 2 modes, greedy, max_tokens {args.max_tokens}, speculate {args.speculate}",
        "server": "in-process uvicorn on 127.0.0.1, POST /v1/chat/completions",
    }, body, png)
    return 0
