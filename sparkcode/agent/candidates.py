"""Several first attempts drawn at once: how each is sampled, and what they cost together.

When the first reply of an attempt (the run's first turn, a fresh start) fails its checks, the
loop draws `k - 1` more replies to the same prompt, decoded together in one batch where the
backend can (`complete_many`), checks each on the files as they were before the first, and keeps
the one of all `k` whose checks fail least (loop.py, `_best_of`). A first reply that passes costs
nothing more.
A small model's first attempts differ a lot: one of several often works where repairs of one do
not (the sample-and-filter idea of AlphaCode and of test-based reranking such as CodeT). They
are called candidates, not drafts: drafts are speculative decoding's guesses."""

from __future__ import annotations

from ..engine.sampling import SamplingParams
from ..engine.stats import Done, Stats

CANDIDATE_TEMPERATURE = 0.7
# the hottest of the other candidates when the first reply copied the files unchanged (they spread
# evenly from CANDIDATE_TEMPERATURE up to it). Measured, fix-shared-cart, 1.5B: the greedy reply and
# both at 0.7 copied cart.py unchanged; at 1.0, 2 of 6 replies fixed its shared default list. But a
# first reply that did write something new is best answered warm: the README's snake run found a
# working page at 0.7 in 2 runs of 2, and none in 2 when its third candidate was drawn at 1.0.
HOTTEST_CANDIDATE = 1.0
# `sparkcode run`'s default: the first reply, and two more written together only when it fails
# (`sparkcode bench candidates` in docs/BENCHMARKS.md: what k replies cost together and apart)
DEFAULT_CANDIDATES = 3


def candidate_samplings(base: SamplingParams, k: int, attempt: int = 0, copied: bool = False) -> list[SamplingParams]:
    """The first candidate sampled as the turn would be anyway (greedy at the start); the others at
    `CANDIDATE_TEMPERATURE`, or — when the first reply `copied` the files unchanged — spread from it
    up to `HOTTEST_CANDIDATE`; never below the turn's own, top-p 0.95, each with its own seed (a
    run stays reproducible), and each opening with the most likely token (`greedy_first`: the action,
    "FILE", not the "```<language>" a seed that drew past it wrote, 5 runs of 6 on the module tasks)."""
    out = [base]
    hottest = HOTTEST_CANDIDATE if copied else CANDIDATE_TEMPERATURE
    for i in range(1, k):
        heat = CANDIDATE_TEMPERATURE + (hottest - CANDIDATE_TEMPERATURE) * (i - 1) / max(1, k - 2)
        out.append(SamplingParams(temperature=max(base.temperature, round(heat, 3)), top_p=min(base.top_p, 0.95),
                                  top_k=base.top_k, seed=(base.seed or 0) + 101 * i + 7 * attempt, greedy_first=True))
    return out


def batch_stats(first: Stats | None, more: list[Done]) -> Stats:
    """The turn's stats when the first reply was followed by more candidates decoded together:
    every token added up, over the first reply's time plus the batch's (so tok/s is the turn's
    overall rate); the first reply's TTFT and prompt. With no `first`, all were decoded together:
    the batch's time, the first candidate's TTFT and prompt."""
    if first is None:
        first, more = Stats(prompt_tokens=more[0].stats.prompt_tokens, cached_tokens=more[0].stats.cached_tokens,
                            disk_cached_tokens=more[0].stats.disk_cached_tokens, prefill_s=more[0].stats.prefill_s,
                            ttft_s=more[0].stats.ttft_s, speculate=more[0].stats.speculate), more
    return Stats(prompt_tokens=first.prompt_tokens, cached_tokens=first.cached_tokens,
                 disk_cached_tokens=first.disk_cached_tokens, prefill_s=first.prefill_s, ttft_s=first.ttft_s,
                 decode_tokens=first.decode_tokens + sum(d.stats.decode_tokens for d in more),
                 decode_s=first.decode_s + max((d.stats.wall_s for d in more), default=0.0),
                 wall_s=first.wall_s + max((d.stats.wall_s for d in more), default=0.0),
                 drafted=first.drafted + sum(d.stats.drafted for d in more),
                 accepted=first.accepted + sum(d.stats.accepted for d in more), speculate=first.speculate)
