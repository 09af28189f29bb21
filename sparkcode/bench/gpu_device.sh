#!/bin/bash
# One call on a lent GPU machine (docs/BENCHMARKS.md, "GPU"): build llama.cpp from the vendored
# source with CUDA, make a random-weight GGUF of the 1.5B's shape (sparkcode/bench/gpu.py), then
# time llama-bench and our engine on it. Needs, carried in .gpu/: llama.cpp/ (ggml, src, include,
# common, vendor, cmake, gguf-py, tools/{llama-bench,quantize,batched-bench}), shape-1.5b.json
# (`python -m sparkcode.bench.gpu template`), site/ (llama_cpp's Python files, diskcache).
# Results land in $OUT.
set -u
O=${OUT:-/tmp/gpu-out}; mkdir -p "$O"; S=.gpu/llama.cpp; B=/tmp/llama-build
export PYTHONUNBUFFERED=1
t0=$(date +%s); stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$O/gpu.txt"
nproc; python3 --version
stamp "random weights (in the background) + build"
(python3 -m sparkcode.bench.gpu --gguf-py $S/gguf-py random-gguf .gpu/shape-1.5b.json /tmp/f16.gguf > "$O/gguf.log" 2>&1) &
cmake -S $S -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DBUILD_SHARED_LIBS=ON > "$O/cmake.log" 2>&1 || { tail -40 "$O/cmake.log"; exit 1; }
cmake --build $B --target llama-bench llama-quantize -j 16 > "$O/build.log" 2>&1 || { grep -m5 -B2 -A8 "error" "$O/build.log"; exit 1; }
stamp "built"; wait; cat "$O/gguf.log"
$B/bin/llama-quantize /tmp/f16.gguf /tmp/q4km.gguf Q4_K_M 16 > "$O/quant.log" 2>&1 || { tail -20 "$O/quant.log"; exit 1; }
stamp "quantised"; ls -la /tmp/q4km.gguf
M=/tmp/q4km.gguf
$B/bin/llama-bench -m $M -ngl 99 -fa 1 -p 0 -n 256 -d 512,4096 -r 5 -o json > "$O/tg.json" 2> "$O/tg.err" || tail -20 "$O/tg.err"
$B/bin/llama-bench -m $M -ngl 99 -fa 1 -p 1,2,4,8,16,33,64 -n 0 -d 512,4096 -r 10 -o json > "$O/pp.json" 2> "$O/pp.err" || tail -20 "$O/pp.err"
stamp "llama-bench done"
mkdir -p /tmp/site && cp -r .gpu/site/* /tmp/site/ && cp -a $B/bin/*.so* /tmp/site/llama_cpp/lib/
# llama_cpp (and so libggml-cuda) must load before numpy: seen on the H100 (2026-11-27), the model
# load segfaulted whenever numpy came first; and -ngl 999 segfaulted where -1 ("all") did not.
PYTHONPATH=/tmp/site:. python3 -c "import llama_cpp, runpy; runpy.run_module('sparkcode.bench.gpu', run_name='__main__')" \
  engine $M --gpu-layers -1 --tokens 256 --depths 512,4096 --out "$O/engine.json" > "$O/engine.log" 2>&1 || tail -30 "$O/engine.log"
stamp "engine done"
python3 - "$O" <<'PY'
import json, sys
o = sys.argv[1]
for name in ("tg", "pp"):
    for r in json.load(open(f"{o}/{name}.json")):
        print(name, "p", r["n_prompt"], "n", r["n_gen"], "d", r["n_depth"], "t/s %.1f" % r["avg_ts"],
              "ms per batch or token %.3f" % (1000 * (r["n_prompt"] or 1) / r["avg_ts"]))
e = json.load(open(f"{o}/engine.json"))
for d in e["decode"]:
    print("engine decode", d)
print("engine verify ms", e["verify"])
PY
