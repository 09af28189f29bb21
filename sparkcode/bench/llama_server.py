"""llama.cpp's own `llama-server` as a benchmark peer.

It is not on PyPI as a binary, so it is built once into ``$SPARKCODE_HOME/llama-server/`` from
the ``vendor/llama.cpp`` source inside the llama-cpp-python sdist of the version we pin (same
kernels as our engine). Only ``sparkcode bench llama-server`` builds it (cmake, ~5 min on 2
cores); install and tests never do.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

from .. import models
from ..engine.llama import extra_buffers_ok
from ..errors import SparkcodeError
from .local_server import free_port

VERSION = "0.3.36"


def build_dir() -> Path:
    return models.home_dir() / "llama-server"


def binary() -> Path:
    return build_dir() / "build" / "bin" / "llama-server"


def build(jobs: int = 2) -> Path:
    if binary().is_file():
        return binary()
    src_root = build_dir() / "src"
    if not src_root.is_dir():
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-d", d,
                            f"llama-cpp-python=={VERSION}"], check=True)
            sdist = next(Path(d).glob("llama_cpp_python-*.tar.gz"))
            with tarfile.open(sdist) as tf:
                tf.extractall(d, filter="data")
            top = next(p for p in Path(d).iterdir() if p.is_dir())
            src_root.parent.mkdir(parents=True, exist_ok=True)
            (top / "vendor" / "llama.cpp").rename(src_root)
    b = build_dir() / "build"
    subprocess.run(["cmake", "-S", str(src_root), "-B", str(b), "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
                    "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                    "-DBUILD_SHARED_LIBS=OFF"], check=True)
    subprocess.run(["cmake", "--build", str(b), "--target", "llama-server", "-j", str(jobs)], check=True)
    return binary()


class LlamaServer:
    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc, self.port = proc, port
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)

    @classmethod
    def start(cls, model_path: Path, threads: int, extra: list[str]) -> "LlamaServer":
        if not binary().is_file():
            raise SparkcodeError("llama-server is not built: run `sparkcode bench llama-server` first (~5 min)")
        port = free_port()
        if not extra_buffers_ok():  # the same weight layout as our engine (see extra_buffers_ok)
            extra = ["--no-repack", *extra]
        proc = subprocess.Popen([str(binary()), "-m", str(model_path), "--host", "127.0.0.1", "--port", str(port),
                                 "-t", str(threads), "-tb", str(threads), "-c", "8192", "-fa", "on", "-np", "1",
                                 "--no-webui", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        srv = cls(proc, port)
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                raise SparkcodeError(f"llama-server exited with {proc.returncode} (args {extra})")
            try:
                if srv.client.get("/health").status_code == 200:
                    return srv
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        srv.stop()
        raise SparkcodeError("llama-server did not become healthy in 120 s")

    def decode_tps(self, prompt: str, max_tokens: int) -> float:
        r = self.client.post("/completion", json={"prompt": prompt, "n_predict": max_tokens, "temperature": 0,
                                                  "top_k": 1, "cache_prompt": True, "samplers": ["top_k"]})
        r.raise_for_status()
        return float(r.json()["timings"]["predicted_per_second"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
