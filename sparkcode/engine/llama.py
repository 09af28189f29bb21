"""Thin, typed wrapper over llama.cpp's C API as exposed by llama-cpp-python's ctypes layer.

Owns: loading a GGUF (`LlamaModel`: vocab, tokenization, pieces, metadata) and one inference
context (`LlamaContext`: batched decode with per-position logits flags, logits as numpy views,
KV-cache truncation). Nothing here decides *what* to evaluate; `engine.core` does.

Not thread-safe: one context must be driven by one thread at a time.
"""

from __future__ import annotations

import ctypes
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

import llama_cpp as C

from ..errors import EngineError, ModelError

_backend_ready = False


@C.llama_log_callback
def _quiet_log(level, text, user_data):  # pragma: no cover - called from C
    if os.environ.get("SPARKCODE_LLAMA_LOG"):
        import sys

        sys.stderr.write(text.decode("utf-8", "replace"))


def _init_backend() -> None:
    global _backend_ready
    if not _backend_ready:
        C.llama_log_set(_quiet_log, ctypes.c_void_p(0))
        C.llama_backend_init()
        _backend_ready = True


def physical_cores() -> int:
    """Physical cores we may run on (hyper-threads share a core's SIMD units and hurt decode)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        allowed = os.cpu_count() or 1
    cores: set[tuple[str, str]] = set()
    try:
        phys = core = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                phys = line.split(":")[1].strip()
            elif line.startswith("core id"):
                core = line.split(":")[1].strip()
                cores.add((phys or "0", core))
    except OSError:
        pass
    return max(1, min(allowed, len(cores) or allowed))


@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, str]:
    """(model name, feature flags) of the first processor in /proc/cpuinfo."""
    name, flags = "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name == "unknown":
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name, flags


def cpu_signature() -> str:
    """The processor as speed depends on it: model name and a digest of its feature flags (one
    "AMD EPYC" name covers chips with and without AVX-512)."""
    import hashlib

    name, flags = _cpuinfo()
    return f"{name}/{hashlib.sha1(flags.encode()).hexdigest()[:8]}"


def extra_buffers_ok() -> bool:
    """Whether llama.cpp may put weights in its extra CPU buffer types (AMX tiles, repacked
    layouts; llama-server's `--no-repack` turns them off). Not on a processor with AMX: measured on
    a 2-core Intel Xeon with amx_tile among its flags, a native build's first `llama_decode`
    segfaulted (1.5B and 0.5B alike); without the extra buffers it runs (1.5B: 11.9 tok/s decode).
    `SPARKCODE_EXTRA_BUFFERS=1` or `0` decides instead."""
    forced = os.environ.get("SPARKCODE_EXTRA_BUFFERS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return "amx_tile" not in _cpuinfo()[1].split()


class NativeHandle:
    """Owns one llama.cpp object (`ptr`): `close()` frees it once through `_free`, and garbage
    collection does the same for a handle nobody closed."""

    ptr = None

    def _free(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if getattr(self, "ptr", None):
            self._free()
            self.ptr = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


class LlamaModel(NativeHandle):
    """Weights and vocabulary of one GGUF file."""

    def __init__(self, path: str | Path, n_gpu_layers: int = 0):
        _init_backend()
        self.path = Path(path)
        params = C.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        params.use_mmap = True
        params.use_extra_bufts = extra_buffers_ok()
        self.ptr = C.llama_model_load_from_file(str(self.path).encode(), params)
        if not self.ptr:
            raise ModelError(f"llama.cpp could not load {self.path} (corrupt or unsupported GGUF).")
        self.vocab = C.llama_model_get_vocab(self.ptr)
        self.n_vocab = C.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train = C.llama_model_n_ctx_train(self.ptr)
        self.bos = C.llama_vocab_bos(self.vocab)
        self.eos = C.llama_vocab_eos(self.vocab)
        self.add_bos = bool(C.llama_vocab_get_add_bos(self.vocab))
        self.eog = frozenset(t for t in range(self.n_vocab) if C.llama_vocab_is_eog(self.vocab, t))
        self._piece = lru_cache(maxsize=None)(self._piece_uncached)

    # -- metadata ---------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = C.llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        if n < 0:
            return None
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            C.llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    @property
    def chat_template(self) -> str | None:
        return self.meta("tokenizer.chat_template")

    def token_text(self, token: int) -> str:
        return self.piece(token, special=True).decode("utf-8", "replace")

    # -- tokens -----------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = False, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (C.llama_token * cap)()
        n = C.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (C.llama_token * cap)()
            n = C.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        return list(buf[:n])

    def piece(self, token: int, special: bool = False) -> bytes:
        """Raw bytes of one token (may be a partial UTF-8 sequence)."""
        return self._piece(int(token), special)

    def _piece_uncached(self, token: int, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = C.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = C.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def detokenize(self, tokens: Sequence[int], special: bool = False) -> str:
        return b"".join(self.piece(t, special) for t in tokens).decode("utf-8", "replace")

    def vocab_fingerprint(self) -> tuple[int, int]:
        """(size, hash of every token's bytes): equal fingerprints mean a shared tokenizer."""
        import hashlib

        h = hashlib.sha256()
        for t in range(self.n_vocab):
            h.update(self.piece(t, special=True))
            h.update(b"\x00")
        return self.n_vocab, int(h.hexdigest()[:15], 16)

    def _free(self) -> None:
        C.llama_model_free(self.ptr)


class LlamaContext(NativeHandle):
    """A KV cache plus a reusable batch. The single-sequence methods (`decode`, `decode_one`,
    `truncate`, `save_seq`…) use sequence 0; with `n_seq` > 1 the cache is unified (every
    sequence draws from the same `n_ctx` cells) and `decode_entries` / `seq_*` address any."""

    def __init__(self, model: LlamaModel, n_ctx: int = 8192, n_batch: int = 512, threads: int | None = None,
                 flash_attn: bool = True, n_seq: int = 1):
        self.model = model
        self.threads = threads or physical_cores()
        params = C.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        params.kv_unified = n_seq > 1
        params.n_threads = self.threads
        params.n_threads_batch = self.threads
        params.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn else C.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.no_perf = True
        self.ptr = C.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise EngineError(f"llama.cpp could not create a context of {n_ctx} tokens (out of memory?).")
        self.n_ctx = C.llama_n_ctx(self.ptr)
        self.n_batch = n_batch
        self.mem = C.llama_get_memory(self.ptr)
        self.batch = C.llama_batch_init(n_batch, 0, 1)
        self._n_vocab = model.n_vocab
        self.n_seq = n_seq

    def decode(self, tokens: Sequence[int], start_pos: int, logits: str | Sequence[int] = "last") -> list[int]:
        """Evaluate tokens at positions start_pos.. in chunks of n_batch.

        `logits` is "last", "all", "none" or the indices (into `tokens`) that need logits.
        Returns, for each requested index in order, the batch slot to pass to `logits_at`
        (valid until the next decode). Only the final chunk may request logits.
        """
        n = len(tokens)
        if n == 0:
            return []
        if start_pos + n > self.n_ctx:
            raise EngineError(f"context full: {start_pos + n} tokens > n_ctx {self.n_ctx}")
        if logits == "last":
            want = {n - 1}
        elif logits == "all":
            want = set(range(n))
        elif logits == "none":
            want = set()
        else:
            want = set(logits)
        b = self.batch
        slots: list[int] = []
        for off in range(0, n, self.n_batch):
            chunk = tokens[off : off + self.n_batch]
            k = len(chunk)
            for i, tok in enumerate(chunk):
                b.token[i] = tok
                b.pos[i] = start_pos + off + i
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = 0
                flag = (off + i) in want
                b.logits[i] = flag
                if flag:
                    slots.append(i)
            b.n_tokens = k
            if slots and off + k < n:
                raise ValueError("logits may only be requested in the last n_batch tokens of a decode")
            rc = C.llama_decode(self.ptr, b)
            if rc != 0:
                raise EngineError(f"llama_decode failed (code {rc}) at position {start_pos + off}")
        return slots

    def decode_one(self, token: int, pos: int) -> None:
        """Fast path for the decode loop: one token, logits on."""
        b = self.batch
        b.token[0] = token
        b.pos[0] = pos
        b.n_seq_id[0] = 1
        b.seq_id[0][0] = 0
        b.logits[0] = 1
        b.n_tokens = 1
        rc = C.llama_decode(self.ptr, b)
        if rc != 0:
            raise EngineError(f"llama_decode failed (code {rc}) at position {pos}")

    def decode_entries(self, entries: Sequence[tuple[int, int, int, bool]]) -> list[int]:
        """One batch of (token, position, sequence, wants logits) entries, at most n_batch: the
        tokens of several sequences evaluated together. Returns the batch slot of each entry that
        wants logits, in order."""
        if len(entries) > self.n_batch:
            raise ValueError(f"{len(entries)} entries > n_batch {self.n_batch}")
        b = self.batch
        slots: list[int] = []
        for i, (tok, pos, seq, want) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = bool(want)
            if want:
                slots.append(i)
        b.n_tokens = len(entries)
        rc = C.llama_decode(self.ptr, b)
        if rc != 0:
            raise EngineError(f"llama_decode failed (code {rc}) on a batch of {len(entries)} tokens"
                              + (" (the KV cache is full)" if rc == 1 else ""))
        return slots

    def seq_truncate(self, seq: int, n_keep: int) -> None:
        """Drop sequence `seq`'s KV entries at positions >= n_keep (all of them for 0)."""
        if not C.llama_memory_seq_rm(self.mem, seq, n_keep, -1):
            raise EngineError(f"KV sequence {seq} could not be truncated")

    def seq_copy(self, src: int, dst: int, n: int) -> None:
        """Make positions 0..n-1 of sequence `dst` those of `src` (cells are shared, not copied)."""
        C.llama_memory_seq_rm(self.mem, dst, 0, -1)
        C.llama_memory_seq_cp(self.mem, src, dst, 0, n)

    def logits_at(self, slot: int) -> np.ndarray:
        """Logits of a batch slot as a numpy view (valid until the next decode)."""
        ptr = C.llama_get_logits_ith(self.ptr, slot)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))

    def truncate(self, n_keep: int) -> None:
        """Drop KV entries at positions >= n_keep."""
        if not C.llama_memory_seq_rm(self.mem, 0, n_keep, -1):
            C.llama_memory_clear(self.mem, True)
            raise EngineError("KV cache could not be truncated; cleared it")

    def clear(self) -> None:
        C.llama_memory_clear(self.mem, True)

    def save_seq(self, seq: int = 0) -> ctypes.Array:
        """A copy of one sequence's KV state in host memory (for `restore_seq`, here or in
        another context of the same model)."""
        size = C.llama_state_seq_get_size(self.ptr, seq)
        buf = (ctypes.c_uint8 * size)()
        written = C.llama_state_seq_get_data(self.ptr, buf, size, seq)
        if written != size:
            raise EngineError(f"could not save the KV state ({written} of {size} bytes)")
        return buf

    def restore_seq(self, buf: ctypes.Array, seq: int = 0) -> None:
        """Replace one sequence's KV state with one saved by `save_seq` (the other sequences of
        a multi-sequence cache keep theirs)."""
        def drop() -> None:
            if self.n_seq > 1:
                C.llama_memory_seq_rm(self.mem, seq, 0, -1)
            else:
                C.llama_memory_clear(self.mem, True)
        drop()
        if C.llama_state_seq_set_data(self.ptr, buf, len(buf), seq) != len(buf):
            drop()
            raise EngineError("could not restore the KV state; cleared it")

    def _free(self) -> None:
        C.llama_batch_free(self.batch)
        C.llama_free(self.ptr)
