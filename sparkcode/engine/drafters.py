"""Drafters: cheap guesses of the next few tokens, for the target model to verify in one batch.

- `NgramDrafter` (prompt lookup): finds the longest recent n-gram of the context that ended
  the same way as the context ends now, and proposes what followed it. An incremental index
  (n-gram -> last position) keeps each lookup O(n_max) however long the context grows; extra
  text (workspace files, earlier turns) can be indexed too.
- `ModelDrafter`: a small model of the same tokenizer family (qwen2.5-coder-0.5b for 1.5b),
  with its own KV cache kept in step with the target's by prefix reuse.

A drafter returns the tokens and, for sampling, the draft distribution each was drawn from
(``None`` = deterministic guess, i.e. a one-hot draft distribution).
"""

from __future__ import annotations

import time
from typing import Protocol, Sequence

import numpy as np

from ..errors import ModelError
from .sampling import Sampler


class Drafter(Protocol):
    name: str
    cost_per_token_s: float  # measured time to draft one more token
    fixed_cost_s: float  # measured time per proposal, whatever its length

    def propose(self, context: Sequence[int], k: int, sampler: Sampler) -> tuple[list[int], list | None]: ...


class NgramDrafter:
    name = "ngram"
    cost_per_token_s = 0.0
    fixed_cost_s = 0.0
    match_len = 0

    def __init__(self, n_min: int = 2, n_max: int = 10):
        self.n_min, self.n_max = n_min, n_max
        self._ctx = _NgramIndex(n_min, n_max)
        self._extra = _NgramIndex(n_min, n_max)

    def add_extra(self, tokens: Sequence[int]) -> None:
        """Index text that is not in the context (e.g. files the model may copy from)."""
        self._extra.append(tokens, index_to_end=True)

    def propose(self, context: Sequence[int], k: int, sampler: Sampler | None = None):
        """Up to k tokens that followed the longest matching n-gram; `match_len` records n."""
        self.match_len = 0
        if k <= 0:
            return [], None
        self._ctx.sync(context)
        tail = context[-self.n_max :]
        for n in range(min(self.n_max, len(tail)), self.n_min - 1, -1):
            key = tuple(tail[len(tail) - n :])
            for idx in (self._ctx, self._extra):
                out = idx.continuation(key, k)
                if out:
                    self.match_len = n
                    return out, None
        return [], None


class _NgramIndex:
    """n-gram -> end of its latest occurrence, built incrementally over a growing token list."""

    def __init__(self, n_min: int, n_max: int):
        self.n_min, self.n_max = n_min, n_max
        self.tokens: list[int] = []
        self.map: dict[tuple[int, ...], int] = {}
        self.indexed = 0  # n-grams ending at positions <= indexed are in the map

    def append(self, tokens: Sequence[int], index_to_end: bool) -> None:
        self.tokens.extend(tokens)
        # the context's own final n-gram is the query: indexing it would shadow earlier occurrences
        self._index_upto(len(self.tokens) if index_to_end else len(self.tokens) - 1)

    def sync(self, context: Sequence[int]) -> None:
        toks = self.tokens
        if len(context) < len(toks) or (toks and (context[len(toks) - 1] != toks[-1] or context[0] != toks[0])):
            self.tokens, self.map, self.indexed = [], {}, 0  # a different conversation: rebuild
        self.append(context[len(self.tokens) :], index_to_end=False)

    def _index_upto(self, last_end: int) -> None:
        toks, m = self.tokens, self.map
        for end in range(max(self.indexed + 1, self.n_min), last_end + 1):
            for n in range(self.n_min, min(self.n_max, end) + 1):
                m[tuple(toks[end - n : end])] = end
        self.indexed = max(self.indexed, last_end)

    def continuation(self, key: tuple[int, ...], k: int) -> list[int]:
        end = self.map.get(key)
        if end is None:
            return []
        return list(self.tokens[end : end + k])


class ModelDrafter:
    name = "draft"

    def __init__(self, target_model, draft_path, threads: int, n_ctx: int):
        from .llama import LlamaContext, LlamaModel

        self.model = LlamaModel(draft_path)
        if self.model.vocab_fingerprint() != target_model.vocab_fingerprint():
            self.model.close()
            raise ModelError(
                f"draft model {draft_path} does not share the target's tokenizer "
                f"({target_model.n_vocab} vs {self.model.n_vocab} tokens or different token bytes); "
                "speculative decoding needs a draft of the same family (qwen2.5-coder-0.5b for qwen2.5-coder-1.5b)."
            )
        self.ctx = LlamaContext(self.model, n_ctx=n_ctx, n_batch=512, threads=threads)
        self.cached: list[int] = []
        self.cost_per_token_s = 0.0  # one draft decode step
        self.fixed_cost_s = 0.0  # per proposal, besides catching up
        self.sync_cost_per_token_s = 0.0  # evaluating context the draft has not seen yet

    def catch_up_cost(self, context: Sequence[int]) -> float:
        """What the next proposal will spend first evaluating tokens it missed (e.g. while
        prompt lookup was drafting): after a long copy this alone can make the draft not pay."""
        from .core import common_prefix

        return (len(context) - common_prefix(self.cached, context)) * self.sync_cost_per_token_s

    def _sync(self, context: Sequence[int]):
        from .core import common_prefix

        n = min(common_prefix(self.cached, context), len(context) - 1)
        if n < len(self.cached):
            self.ctx.truncate(n)
            del self.cached[n:]
        slots = self.ctx.decode(list(context[n:]), n, "last")
        self.cached.extend(context[n:])
        return self.ctx.logits_at(slots[-1])

    def propose(self, context: Sequence[int], k: int, sampler: Sampler):
        if k <= 0:
            return [], None
        t0 = time.perf_counter()
        behind = len(context) - len(self.cached)
        logits = self._sync(context)
        t1 = time.perf_counter()
        if behind > 8:
            per_sync = (t1 - t0) / behind
            s = self.sync_cost_per_token_s
            self.sync_cost_per_token_s = per_sync if s == 0 else 0.8 * s + 0.2 * per_sync
        out: list[int] = []
        dists: list | None = None if sampler.params.greedy else []
        for i in range(k):
            if dists is None:
                tok = int(np.argmax(logits))
            else:
                ids, probs = sampler.distribution(logits)
                tok = int(ids[sampler.rng.choice(len(ids), p=probs)])
                dists.append((ids, probs))
            out.append(tok)
            if i + 1 < k:
                pos = len(self.cached)
                self.ctx.decode_one(tok, pos)
                self.cached.append(tok)
                logits = self.ctx.logits_at(0)
        fixed, per = (t1 - t0) if behind <= 8 else self.fixed_cost_s, (time.perf_counter() - t1) / max(1, k - 1)
        if k > 1:
            self.cost_per_token_s = per if self.cost_per_token_s == 0 else 0.8 * self.cost_per_token_s + 0.2 * per
        self.fixed_cost_s = fixed if self.fixed_cost_s == 0 else 0.8 * self.fixed_cost_s + 0.2 * fixed
        return out, dists

    def close(self):
        self.ctx.close()
        self.model.close()
