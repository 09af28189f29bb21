"""Several conversations decoded together in one llama.cpp batch: slots and continuous batching.

A `BatchDecoder` owns one context whose unified KV cache holds `n_slots` sequences. A **slot**
keeps the tokens its sequence has in the cache, also after its request finished, so the same
conversation's next turn (or another request with the same system prompt) starts from them:

- a request goes to the idle slot that shares the longest prefix with its prompt, else to an
  empty slot, else to the least recently used one; the slot is cut back to the shared prefix;
- if some *other* slot shares a longer prefix (the same system prompt, busy or not), those KV
  cells are copied (`llama_memory_seq_cp`: in a unified cache the cells are shared, not
  duplicated) instead of being evaluated again.

Every `step()` builds one batch: the next token of every decoding sequence, plus up to
`prefill_chunk` prompt tokens of sequences still reading their prompt (a long new prompt is read
in chunks between decode steps, so it does not stall the others). One `llama_decode` evaluates
it all; each sequence samples its next token from its own row of logits, with its own sampler.
A sequence that ends (end of generation, a stop string, max_tokens, `cancel`) leaves the batch at
once; new ones can be added between any two steps. Logits depend slightly on the batch's shape,
so a greedy sequence decoded in a batch can differ from the same one decoded alone at a near-tie
of its top two tokens (tests/test_batch.py asserts that, not equality).

Not yet here (#12): speculation per sequence inside the batch, grammar-constrained sequences,
and the server's scheduler feeding requests into a decoder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import EngineError
from .core import common_prefix
from .llama import LlamaContext, LlamaModel
from .sampling import Sampler, SamplingParams
from .stats import Stats
from .text import TextStream


@dataclass(eq=False)
class Slot:
    id: int
    tokens: list[int] = field(default_factory=list)  # what this KV sequence holds, from position 0
    busy: "BatchSequence | None" = None
    last_used: float = 0.0


@dataclass(eq=False)
class BatchSequence:
    """One request being served by a slot (hashed by identity: the scheduler maps it to its job)."""

    prompt: list[int]
    max_tokens: int
    sampler: Sampler
    text: TextStream
    slot: Slot
    pending: list[int]  # prompt tokens not evaluated yet
    t0: float
    stats: Stats
    out: list[int] = field(default_factory=list)
    next_token: int | None = None  # sampled, not yet evaluated
    finish: str | None = None  # "stop", "length", "cancelled" once it ended
    deltas: list[str] = field(default_factory=list)  # text released since the caller last took it

    @property
    def done(self) -> bool:
        return self.finish is not None

    def take_text(self) -> str:
        out, self.deltas = "".join(self.deltas), []
        return out


class BatchDecoder:
    def __init__(self, model: LlamaModel, n_slots: int = 4, n_ctx: int = 8192, threads: int | None = None,
                 n_batch: int = 512, prefill_chunk: int = 256, flash_attn: bool = True):
        self.model = model
        self.ctx = LlamaContext(model, n_ctx=n_ctx, n_batch=n_batch, threads=threads, flash_attn=flash_attn,
                                n_seq=n_slots)
        self.slots = [Slot(i) for i in range(n_slots)]
        self.prefill_chunk = min(prefill_chunk, n_batch - n_slots)
        self.cells_copied = 0  # prompt tokens taken from another slot instead of evaluated
        self.cells_reused = 0  # prompt tokens its own slot still held

    # ---- admission --------------------------------------------------------------------------
    def add(self, prompt: list[int], max_tokens: int = 256, sampling: SamplingParams | None = None,
            stop: list[str] | None = None) -> BatchSequence:
        """Start serving a prompt (tokens) in a free slot; EngineError when every slot is busy."""
        if not prompt:
            raise EngineError("empty prompt")
        if len(prompt) >= self.ctx.n_ctx:
            raise EngineError(f"prompt is {len(prompt)} tokens; the context holds {self.ctx.n_ctx}")
        free = [s for s in self.slots if s.busy is None]
        if not free:
            raise EngineError("every slot is busy")
        # tokens each slot shares with the prompt (never the last one: it is evaluated for its logits)
        share = {s.id: min(common_prefix(s.tokens, prompt), len(prompt) - 1) for s in self.slots}
        # the idle slot sharing most, then an empty one, then the least recently used
        slot = max(free, key=lambda s: (share[s.id], not s.tokens, -s.last_used))
        keep = share[slot.id]
        donor = max((s for s in self.slots if s is not slot), default=None, key=lambda s: share[s.id])
        shared = share[donor.id] if donor else 0
        if shared > keep:
            self.ctx.seq_copy(donor.id, slot.id, shared)
            slot.tokens = list(prompt[:shared])
            self.cells_copied += shared
            keep = shared
        else:
            self.ctx.seq_truncate(slot.id, keep)
            del slot.tokens[keep:]
            self.cells_reused += keep
        stats = Stats(prompt_tokens=len(prompt), cached_tokens=keep)
        seq = BatchSequence(list(prompt), min(max_tokens, self.ctx.n_ctx - len(prompt)), Sampler(sampling or SamplingParams()),
                            TextStream(stop), slot, list(prompt[keep:]), time.perf_counter(), stats)
        slot.busy = seq
        slot.last_used = time.perf_counter()
        return seq

    def load(self, tokens: list[int], state) -> None:
        """Put a prompt another context already evaluated into an idle slot (its KV state from
        `LlamaContext.save_seq`): requests sharing it then copy it instead of evaluating it."""
        slot = max((s for s in self.slots if s.busy is None), key=lambda s: (not s.tokens, -s.last_used), default=None)
        if slot is None:
            raise EngineError("every slot is busy")
        self.ctx.restore_seq(state, slot.id)
        slot.tokens = list(tokens)
        slot.last_used = time.perf_counter()

    def cancel(self, seq: BatchSequence) -> None:
        """End a sequence now (a client went away): its slot is free before the next step."""
        if not seq.done:
            self._end(seq, "cancelled")

    # ---- stepping ---------------------------------------------------------------------------
    @property
    def active(self) -> list[BatchSequence]:
        return [s.busy for s in self.slots if s.busy is not None]

    def step(self) -> list[BatchSequence]:
        """Evaluate one batch; return the sequences that got a new token (or ended) in it."""
        entries: list[tuple[int, int, int, bool]] = []
        owners: list[BatchSequence] = []  # the sequence of each entry that wants logits
        decoding = [s for s in self.active if s.next_token is not None]
        for s in decoding:
            entries.append((s.next_token, len(s.slot.tokens), s.slot.id, True))
            owners.append(s)
        budget = self.prefill_chunk
        taken: list[tuple[BatchSequence, int]] = []  # prompt tokens read this step, per sequence
        for s in self.active:
            if not s.pending or budget <= 0:
                continue
            take = s.pending[:budget]
            pos = len(s.slot.tokens)
            last = len(take) == len(s.pending)
            for i, tok in enumerate(take):
                wants = last and i == len(take) - 1
                entries.append((tok, pos + i, s.slot.id, wants))
                if wants:
                    owners.append(s)
            taken.append((s, len(take)))
            budget -= len(take)
        if not entries:
            return []
        self._make_room(len(entries))
        slots = self.ctx.decode_entries(entries)
        # the cache now holds what was evaluated
        for s in decoding:
            s.slot.tokens.append(s.next_token)
            s.out.append(s.next_token)
            s.next_token = None
        for s, n in taken:
            s.slot.tokens.extend(s.pending[:n])
            del s.pending[:n]
        now = time.perf_counter()
        touched = []
        for s, slot in zip(owners, slots):
            tok = s.sampler.sample(self.ctx.logits_at(slot))
            if s.stats.ttft_s == 0.0:
                s.stats.ttft_s = now - s.t0
                s.stats.prefill_s = s.stats.ttft_s
            if tok in self.model.eog:
                self._end(s, "stop")
            else:
                s.next_token = tok
                s.deltas.append(s.text.push(self.model.piece(tok)))
                if s.text.stopped:
                    self._end(s, "stop")
                elif len(s.out) + 1 >= s.max_tokens:
                    s.out.append(tok)  # counted, never evaluated: nothing follows it
                    s.next_token = None
                    self._end(s, "length")
            touched.append(s)
        return touched

    def _end(self, s: BatchSequence, finish: str) -> None:
        s.finish = finish
        tail = s.text.finish()
        if tail:
            s.deltas.append(tail)
        if s.next_token is not None:  # sampled but never evaluated: not in the cache
            s.next_token = None
        t = time.perf_counter()
        s.stats.decode_tokens = len(s.out)
        s.stats.wall_s = t - s.t0
        s.stats.decode_s = max(0.0, s.stats.wall_s - s.stats.ttft_s)
        s.slot.busy = None
        s.slot.last_used = t

    def _make_room(self, incoming: int) -> None:
        """Free idle slots' cells (least recently used first) when the cache might overflow."""
        def used() -> int:
            return sum(len(s.tokens) for s in self.slots)
        for slot in sorted((s for s in self.slots if s.busy is None and s.tokens), key=lambda s: s.last_used):
            if used() + incoming <= self.ctx.n_ctx:
                return
            self.ctx.seq_truncate(slot.id, 0)
            slot.tokens.clear()

    # ---- convenience --------------------------------------------------------------------------
    def run(self, prompts: list[list[int]], max_tokens: int = 128, sampling: SamplingParams | None = None,
            on_step: Callable[[list[BatchSequence]], None] | None = None) -> list[BatchSequence]:
        """Serve prompts together (at most one per slot at a time, the rest as slots free up)."""
        waiting = list(prompts)
        seqs: list[BatchSequence] = []
        while waiting or self.active:
            while waiting and any(s.busy is None for s in self.slots):
                seqs.append(self.add(waiting.pop(0), max_tokens, sampling))
            touched = self.step()
            if on_step is not None:
                on_step(touched)
        return seqs

    def close(self) -> None:
        self.ctx.close()
