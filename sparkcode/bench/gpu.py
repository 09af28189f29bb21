"""GPU measurements on a machine the model weights cannot reach (random weights, same shape).

A lent GPU machine takes 64 MiB from here, not a 1 GB GGUF. So the shape travels instead:
- `template MODEL OUT.json` (here): every metadata key of the real GGUF (architecture, sizes,
  tokenizer, chat template) and every tensor's name, shape and type;
- `random-gguf SHAPE.json OUT.gguf` (there): a GGUF with that metadata and random F16/F32
  tensors of those shapes (norm weights 1, others N(0, 0.02)); llama.cpp's `llama-quantize`
  then gives it the real file's quantisation. Speed does not depend on the values, acceptance
  of speculative guesses does: acceptance is measured on the CPU with real weights;
- `engine MODEL.gguf` (there): our engine's own decode loop and batch verify cost with all
  layers offloaded (`Engine(gpu_layers=...)`), to set beside `llama-bench` on the same file.

`gguf` (gguf-py) is imported from `--gguf-py`, the folder in llama.cpp's source tree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _gguf(path: str | None):
    if path:
        sys.path.insert(0, path)
    import gguf

    return gguf


def template(model: str, out: Path, gguf) -> dict:
    r = gguf.GGUFReader(model)
    kv = []
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or not f.types:
            continue  # the reader's own header fields
        types = [t.name for t in f.types]
        kv.append({"key": f.name, "types": types, "value": f.contents()})
    tensors = [{"name": t.name, "shape": [int(x) for x in t.shape], "type": t.tensor_type.name} for t in r.tensors]
    data = {"source": Path(model).name, "kv": kv, "tensors": tensors}
    out.write_text(json.dumps(data))
    return data


def random_gguf(shape: Path, out: Path, gguf, seed: int = 0) -> None:
    data = json.loads(shape.read_text())
    VT = gguf.GGUFValueType
    arch = next(e["value"] for e in data["kv"] if e["key"] == "general.architecture")
    w = gguf.GGUFWriter(str(out), arch)
    w.kv_data[0].clear()  # the writer pre-fills general.architecture; every key comes from the template
    for e in data["kv"]:
        t = [VT[x] for x in e["types"]]
        w.add_key_value(e["key"], e["value"], t[0], t[-1] if t[0] == VT.ARRAY else None)
    w.add_key_value("general.file_type", 1, VT.UINT32)  # MOSTLY_F16 before quantisation
    plan = []
    for t in data["tensors"]:
        shape_np = list(reversed(t["shape"]))  # GGUF lists ne0 first; numpy wants it last
        dtype = np.float32 if len(shape_np) == 1 else np.float16
        plan.append((t["name"], shape_np, dtype))
        w.add_tensor_info(t["name"], shape_np, np.dtype(dtype), int(np.prod(shape_np)) * np.dtype(dtype).itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for name, shape_np, dtype in plan:
        if "norm" in name:
            arr = np.ones(shape_np, dtype=dtype)
        else:
            arr = (rng.standard_normal(shape_np, dtype=np.float32) * 0.02).astype(dtype)
        w.write_tensor_data(arr)
    w.close()


def _median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def engine_bench(model: str, gpu_layers: int, n_gen: int, depths: list[int], sizes: list[int], reps: int) -> dict:
    """Our decode loop's tok/s split into llama_decode and the rest; verify cost per batch size."""
    from ..engine.core import Engine
    from ..engine.sampling import Sampler, SamplingParams

    eng = Engine(model, n_ctx=8192, gpu_layers=gpu_layers, prompt_cache=False, show_progress=False)
    rng = np.random.default_rng(1)
    vocab = eng.model.n_vocab
    out: dict = {"gpu_layers": gpu_layers, "decode": [], "verify": {}}
    sampler = Sampler(SamplingParams(temperature=0.0))
    for depth in depths:
        eng.reset()
        prompt = [int(x) for x in rng.integers(100, min(vocab, 50000), size=max(depth, 1))]
        logits, _ = eng.prefill(prompt)
        pos = len(eng.cached)
        t_decode = t_logits = t_sample = 0.0
        t0 = time.perf_counter()
        for _ in range(n_gen):
            a = time.perf_counter()
            tok = sampler.sample(logits)
            b = time.perf_counter()
            eng.ctx.decode_one(tok, pos)
            c = time.perf_counter()
            logits = eng.ctx.logits_at(0)
            logits[0]  # noqa: B018 -- touch: the pointer is valid once decoding has synchronised
            d = time.perf_counter()
            eng.cached.append(tok)
            pos += 1
            t_sample += b - a
            t_decode += c - b
            t_logits += d - c
        wall = time.perf_counter() - t0
        out["decode"].append({"depth": depth, "tokens": n_gen, "tok_s": n_gen / wall,
                              "ms_per_token": 1000 * wall / n_gen, "ms_decode_call": 1000 * t_decode / n_gen,
                              "ms_logits": 1000 * t_logits / n_gen, "ms_sample": 1000 * t_sample / n_gen})
        # verify cost: b tokens appended at this position with logits for all of them, then removed
        ctx, tok = eng.ctx, eng.cached[-1]
        points = {}
        for b in sizes:
            def step(b=b):
                ctx.decode([tok] * b, pos, "all")
                ctx.truncate(pos)
            step()  # warm (graph shapes)
            points[b] = 1000 * _median_time(step, reps)
        out["verify"][str(depth)] = points
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sparkcode.bench.gpu")
    p.add_argument("--gguf-py", default=None, help="llama.cpp's gguf-py folder (template, random-gguf)")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("template")
    t.add_argument("model")
    t.add_argument("out", type=Path)
    r = sub.add_parser("random-gguf")
    r.add_argument("shape", type=Path)
    r.add_argument("out", type=Path)
    e = sub.add_parser("engine")
    e.add_argument("model")
    e.add_argument("--gpu-layers", type=int, default=999)
    e.add_argument("--tokens", type=int, default=256)
    e.add_argument("--depths", default="512,4096")
    e.add_argument("--sizes", default="1,2,4,8,16,33,64")
    e.add_argument("--reps", type=int, default=10)
    e.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    if a.cmd == "template":
        from .. import models

        d = template(str(models.resolve(a.model)), a.out, _gguf(a.gguf_py))
        print(f"{a.out}: {len(d['kv'])} keys, {len(d['tensors'])} tensors")
    elif a.cmd == "random-gguf":
        random_gguf(a.shape, a.out, _gguf(a.gguf_py))
        print(f"{a.out}: {a.out.stat().st_size / 2**30:.2f} GiB")
    else:
        res = engine_bench(a.model, a.gpu_layers, a.tokens, [int(x) for x in a.depths.split(",")],
                           [int(x) for x in a.sizes.split(",")], a.reps)
        text = json.dumps(res, indent=1)
        if a.out:
            a.out.write_text(text)
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
