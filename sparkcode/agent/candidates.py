"""Several first attempts drawn at once: how each is sampled, and what they cost together.

At the start of an attempt (the run's first turn, a fresh start) the loop may draw `k` replies
to the same prompt, decoded together in one batch where the backend can (`complete_many`), then
check each on the original files and keep the one whose checks fail least (loop.py, `_best_of`).
A small model's first attempts differ a lot: one of several often works where repairs of one do
not (the sample-and-filter idea of AlphaCode and of test-based reranking such as CodeT). They
are called candidates, not drafts: drafts are speculative decoding's guesses."""

from __future__ import annotations

from ..engine.sampling import SamplingParams
from ..engine.stats import Done, Stats

CANDIDATE_TEMPERATURE = 0.7
# `sparkcode run`'s default. Measured (1.5B, 2 threads, Intel Xeon with AMX, 128 tokens each after
# one shared prompt): 1, 2, 3, 4 replies decoded together took 11.6, 18.2, 22.1, 25.5 s — three
# candidates for 1.9x the time of one
DEFAULT_CANDIDATES = 3


def candidate_samplings(base: SamplingParams, k: int, attempt: int = 0) -> list[SamplingParams]:
    """The first candidate sampled as the turn would be anyway (greedy at the start); the others at
    `CANDIDATE_TEMPERATURE` or above, top-p 0.95, each with its own seed (a run stays reproducible)."""
    out = [base]
    for i in range(1, k):
        out.append(SamplingParams(temperature=max(base.temperature, CANDIDATE_TEMPERATURE), top_p=min(base.top_p, 0.95),
                                  top_k=base.top_k, seed=(base.seed or 0) + 101 * i + 7 * attempt))
    return out


def batch_stats(dones: list[Done]) -> Stats:
    """The turn's stats for candidates decoded together: their tokens added up over the batch's time
    (so tok/s is the batch's aggregate rate), the first token of any of them as TTFT."""
    first = dones[0].stats
    return Stats(prompt_tokens=first.prompt_tokens, cached_tokens=first.cached_tokens,
                 disk_cached_tokens=first.disk_cached_tokens, prefill_s=first.prefill_s,
                 ttft_s=min(d.stats.ttft_s for d in dones),
                 decode_tokens=sum(d.stats.decode_tokens for d in dones),
                 decode_s=max(d.stats.decode_s for d in dones), wall_s=max(d.stats.wall_s for d in dones),
                 drafted=sum(d.stats.drafted for d in dones), accepted=sum(d.stats.accepted for d in dones),
                 speculate=first.speculate)
