"""Token selection: greedy argmax, or seeded sampling with temperature, top-k and top-p (and,
optionally, the reply's first token greedy: `SamplingParams.greedy_first`).

`Sampler.distribution` returns the exact sparse distribution sampling draws from, so that
speculative sampling can compare target and draft probabilities on the same terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EngineError


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    seed: int | None = None
    # the reply's first token is its most likely one, the rest sampled: where a reply opens with the
    # name of its action ("FILE"), sampling spreads the code, not the format (measured, the agent's
    # first turn on five module tasks, 1.5B: "FILE" 0.84-0.90 at temperature 0.7, "```" and "<" the rest;
    # a candidate whose seed drew past "FILE" wrote "```<language>" and no file, in 5 runs of 6)
    greedy_first: bool = False

    def __post_init__(self):
        if not (self.temperature >= 0):
            raise EngineError(f"temperature must be >= 0, got {self.temperature}")
        if not (0 < self.top_p <= 1):
            raise EngineError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise EngineError(f"top_k must be >= 0, got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


class Sampler:
    def __init__(self, params: SamplingParams):
        self.params = params
        self.rng = np.random.default_rng(params.seed)
        self.first = True  # no token chosen yet (every decoding path chooses a reply's first token with `sample`)

    def distribution(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, probabilities summing to 1) after temperature, top-k and top-p."""
        p = self.params
        if p.greedy:
            return np.array([int(np.argmax(logits))]), np.array([1.0])
        scaled = logits.astype(np.float64) / p.temperature
        weights = np.exp(scaled - scaled.max())
        n = weights.shape[0]
        if 0 < p.top_k < n:
            ids = _top(weights, p.top_k)
            probs = weights[ids] / weights[ids].sum()
        elif p.top_p >= 1.0:
            return np.arange(n), weights / weights.sum()
        else:
            # widen a partial sort until it holds top_p of the mass (exact, usually 64 wide)
            total, width = weights.sum(), 64
            while True:
                ids = _top(weights, min(width, n))
                probs = weights[ids] / total
                if probs.sum() >= p.top_p or width >= n:
                    break
                width *= 16
        if p.top_p < 1.0:
            # probs are shares of the whole candidate mass here, so top_p applies directly
            cut = min(len(probs), int(np.searchsorted(np.cumsum(probs), p.top_p)) + 1)
            ids, probs = ids[:cut], probs[:cut]
        return ids, probs / probs.sum()

    def sample(self, logits: np.ndarray) -> int:
        first, self.first = self.first, False
        if self.params.greedy:
            return int(np.argmax(logits))
        ids, probs = self.distribution(logits)
        drawn = int(ids[self.rng.choice(len(ids), p=probs)])
        # (the draw is made all the same: a reply that would have opened with the most likely token
        # anyway is token for token what it was without greedy_first)
        return int(np.argmax(logits)) if first and self.params.greedy_first else drawn


def _top(weights: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest weights, largest first (ties by index)."""
    ids = np.argpartition(-weights, k - 1)[:k] if k < weights.shape[0] else np.arange(weights.shape[0])
    return ids[np.argsort(-weights[ids], kind="stable")]
