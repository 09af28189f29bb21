"""Lossless, adaptive speculative decoding.

Each step: the drafter guesses k tokens after the token just chosen; the target evaluates
[chosen, guesses...] in one batch with logits at every position; the longest run of guesses
the target agrees with is kept, the KV cache is rolled back past the first rejected guess,
and the target's own choice at that point becomes the next token.

- Greedy: a guess is accepted iff it equals the target's argmax, so the output is the plain
  greedy output (up to batch-size rounding at near-ties; see tests).
- Sampling: standard speculative sampling — accept a guess d with probability
  min(1, p(d)/q(d)); on rejection draw from norm(max(0, p - q)) — so tokens follow the
  target's distribution exactly. A prompt-lookup guess has q = one-hot.
- Under a grammar (greedy only; the engine does not speculate for constrained sampling): a
  guess is accepted iff it equals the token the constrained target would choose at that
  position; each verified token enters the grammar state in order, rejected guesses never do,
  so the output is the plain constrained greedy output.
- Adaptive: the cost of verifying a batch of b tokens is measured once per model/threads
  (cached on disk); acceptance is tracked online; each step picks the k (0 = plain decode)
  with the best expected tokens per second.
"""

from __future__ import annotations

import json
import time
from typing import Iterator, Sequence

import numpy as np

from .. import models
from ..errors import EngineError
from .drafters import ModelDrafter, NgramDrafter
from .llama import cpu_signature
from .sampling import Sampler
from .stats import Stats

K_MAX = 32
_PROBE_SIZES = (1, 2, 5, 9, 17, 33)


# ---------------------------------------------------------------------------- verification


def accept_or_resample(p_ids: np.ndarray, p_probs: np.ndarray, draft: int, q: tuple | None,
                       rng: np.random.Generator) -> tuple[bool, int]:
    """Speculative sampling for one guessed token: (accepted, token to emit)."""
    p = dict(zip(p_ids.tolist(), p_probs.tolist()))
    if q is None:
        qd = {draft: 1.0}
    else:
        qd = dict(zip(q[0].tolist(), q[1].tolist()))
    pd, qv = p.get(draft, 0.0), qd.get(draft, 0.0)
    if qv > 0 and rng.random() < min(1.0, pd / qv):
        return True, draft
    resid_ids = list(p)
    resid = np.array([max(0.0, p[t] - qd.get(t, 0.0)) for t in resid_ids])
    if resid.sum() <= 0:  # p == q: any rejection is measure-zero; fall back to p
        resid = np.array([p[t] for t in resid_ids])
    resid /= resid.sum()
    return False, int(resid_ids[rng.choice(len(resid_ids), p=resid)])


# ---------------------------------------------------------------------------- cost model


class CostModel:
    """Seconds to verify a batch of b tokens at one context length, interpolated between probes."""

    def __init__(self, points: dict[int, float]):
        self.sizes = sorted(points)
        self.times = [points[b] for b in self.sizes]

    def __call__(self, b: int) -> float:
        return float(np.interp(b, self.sizes, self.times))

    @classmethod
    def measure(cls, engine, reps: int = 2) -> "CostModel":
        """Time dummy batches appended at the current position, then remove them again."""
        ctx, pos = engine.ctx, len(engine.cached)
        tok = engine.cached[-1] if engine.cached else engine.model.bos
        points = {}
        for b in _PROBE_SIZES:
            if pos + b > ctx.n_ctx:
                break
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                ctx.decode([tok] * b, pos, "all")
                times.append(time.perf_counter() - t0)
                ctx.truncate(pos)
            points[b] = float(min(times))  # the machine's cost, not its noise
        return cls(points)


class CostTable:
    """Verify costs per context-length bucket (attention makes big batches dearer as context
    grows): measured once per model, thread count and bucket, then kept in
    ``$SPARKCODE_HOME/calibration.json``."""

    def __init__(self, engine):
        self.engine = engine
        self.path = models.home_dir() / "calibration.json"
        m = engine.model.path
        # a cost measured on another processor, thread count or GPU offload is never reused
        self.key = (f"{m.name}|{m.stat().st_size}|threads={engine.threads}|cpu={cpu_signature()}"
                    f"|gpu_layers={engine.gpu_layers}|v4")
        self.models: dict[int, CostModel] = {}

    @staticmethod
    def bucket(pos: int) -> int:
        return max(512, 1 << max(0, (pos - 1).bit_length()))  # 512, 1024, 2048, ...

    def at(self, pos: int) -> CostModel:
        b = self.bucket(pos)
        if b not in self.models:
            data = self._load()
            entry = data.get(self.key, {}).get(str(b))
            if entry:
                self.models[b] = CostModel({int(k): v for k, v in entry.items()})
            else:
                cm = CostModel.measure(self.engine)
                self.models[b] = cm
                data.setdefault(self.key, {})[str(b)] = {str(k): t for k, t in zip(cm.sizes, cm.times)}
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self.path.write_text(json.dumps(data, indent=1))
                except OSError:
                    pass
        return self.models[b]

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}


class Acceptance:
    """Online estimate of the per-token acceptance probability of one kind of guess.

    Geometric model: each guessed token is kept with probability alpha until the first miss;
    the estimate is kept / (kept + misses), decayed so it follows the text. `optimistic` adds
    an exploration bonus that shrinks with evidence, so a kind of guess that was never (or not
    lately) tried gets tried instead of being written off by its prior.
    """

    def __init__(self, prior: float = 0.5, weight: float = 2.0, decay: float = 0.97):
        self.acc, self.rej, self.decay = prior * weight, (1 - prior) * weight, decay
        self.n = 0.0

    def update(self, accepted: int, drafted: int) -> None:
        rejected = 1 if accepted < drafted else 0
        self.acc = self.acc * self.decay + accepted
        self.rej = self.rej * self.decay + rejected
        self.n = self.n * self.decay + 1

    @property
    def alpha(self) -> float:
        return min(0.995, self.acc / (self.acc + self.rej))

    @property
    def optimistic(self) -> float:
        # shrink the miss rate, not add to alpha: at alpha 0.9 vs 0.99 the expected run
        # lengths differ tenfold, so the bonus must scale with the misses seen
        miss = 1.0 - self.alpha
        return min(0.995, 1.0 - miss * (1.0 - 1.0 / (1.0 + self.n) ** 0.5))


def best_k(alpha: float, cost: CostModel, draft_cost: float, k_limit: int, draft_fixed: float = 0.0) -> tuple[int, float]:
    """k maximising expected tokens per second:
    (1 + E[accepted]) / (verify(k+1) + draft_fixed + k * draft_cost)."""
    best, best_rate = 0, 1.0 / cost(1)
    for k in range(1, k_limit + 1):
        expected = alpha * (1 - alpha**k) / (1 - alpha)
        rate = (1 + expected) / (cost(k + 1) + draft_fixed + k * draft_cost)
        if rate > best_rate:
            best, best_rate = k, rate
    return best, best_rate


# ---------------------------------------------------------------------------- the loop


class Speculator:
    """Per step: ask each drafter for a guess, estimate its payoff, verify the best (or none).

    Acceptance is tracked per drafter and, for prompt lookup, per matched n-gram length: a
    6-token match predicts the continuation far better than a 2-token one. It is learned afresh
    in every request (from the priors), so a request's draft lengths — and with them its batch
    shapes and random draws — depend only on the request and this machine's cost table: the same
    prompt and seed give the same tokens, whatever ran before.
    """

    def __init__(self, engine, mode: str, drafters: list, costs: CostTable):
        self.mode = mode
        self.drafters = drafters
        self.costs = costs
        self.cost = costs.at(len(engine.cached) + 1)
        self.acceptance: dict[str, Acceptance] = {}

    def _key(self, d) -> str:
        return f"ngram:{d.match_len}" if isinstance(d, NgramDrafter) else d.name

    def _alpha(self, key: str) -> Acceptance:
        if key not in self.acceptance:
            # a long n-gram match is usually copied text: start hopeful there, neutral elsewhere
            self.acceptance[key] = Acceptance(prior=0.8 if key.startswith("ngram") else 0.5)
        return self.acceptance[key]

    def _plan(self, acc: Acceptance, step_cost: float, limit: int, fixed: float) -> tuple[int, float]:
        """k from the estimate; if that says "don't", a cheap probe (k <= 2) when the optimistic
        estimate says it might pay — so an estimate that went stale can recover."""
        k, rate = best_k(acc.alpha, self.cost, step_cost, limit, fixed)
        if k == 0:
            k_opt, rate_opt = best_k(acc.optimistic, self.cost, step_cost, limit, fixed)
            if k_opt:
                return min(k_opt, 2), rate_opt
        return k, rate

    def choose(self, context: Sequence[int], sampler: Sampler, room: int):
        """(drafter, guesses, draft distributions, acceptance key) for this step; no drafter = plain step."""
        self.cost = self.costs.at(len(context))
        best = (None, [], None, "", 1.0 / self.cost(1))
        for d in self.drafters:
            if isinstance(d, NgramDrafter):
                guess, _ = d.propose(context, room)
                if not guess:
                    continue  # nothing to copy: prompt lookup has no opinion
                key = self._key(d)
                k, rate = self._plan(self._alpha(key), 0.0, len(guess), 0.0)
                if self.mode != "auto":
                    k = max(k, 1)
                if k and (rate > best[4] or best[0] is None and self.mode != "auto"):
                    best = (d, guess[:k], None, key, rate)
            else:
                if best[0] is not None and self.mode == "auto":
                    break  # prompt lookup's guess is free; the draft model runs only when it has none
                fixed = d.fixed_cost_s + d.catch_up_cost(context)
                k, rate = self._plan(self._alpha(d.name), d.cost_per_token_s, room, fixed)
                if self.mode != "auto":
                    k = max(k, 1)
                if k and (rate > best[4] or best[0] is None and self.mode != "auto"):
                    best = (d, k, None, d.name, rate)
        d, guess, q, key, _ = best
        if d is not None and not isinstance(d, NgramDrafter):
            guess, q = d.propose(context, guess, sampler)  # draft models are only run when chosen
        return d, guess, q, key

    def run(self, engine, logits, sampler: Sampler, max_tokens: int, stats: Stats,
            constraint=None) -> Iterator[int]:
        """Yield tokens; with a `GrammarConstraint` (greedy sampling only), each yielded token has
        been accepted into its grammar state, in order."""
        if constraint is not None and not sampler.params.greedy:
            raise EngineError("speculation under a grammar is only lossless for greedy decoding")
        self.acceptance = {}
        ctx = engine.ctx
        pos = len(engine.cached)
        pick = sampler.sample if constraint is None else (lambda lg: constraint.choose(lg, sampler))
        tok = pick(logits)
        produced = 0
        while True:
            if constraint is not None:
                constraint.accept(tok)
            yield tok
            produced += 1
            room = min(K_MAX, max_tokens - produced, ctx.n_ctx - pos - 1)
            if room < 0:
                return
            context = engine.cached + [tok]
            drafter, guesses, qdists, key = self.choose(context, sampler, room) if room > 0 else (None, [], None, "")
            guesses = guesses[:room]
            batch = [tok] + guesses
            slots = ctx.decode(batch, pos, "all" if guesses else "last")
            n_acc, next_tok = 0, None
            for i, g in enumerate(guesses):
                lg = ctx.logits_at(slots[i])
                if constraint is not None:
                    target = constraint.choose(lg, sampler)
                    ok = target == g
                    if ok:
                        constraint.accept(g)  # the next position is verified in the state after g
                elif sampler.params.greedy:
                    target = int(np.argmax(lg))
                    ok = target == g
                else:
                    ids, probs = sampler.distribution(lg)
                    ok, target = accept_or_resample(ids, probs, g, qdists[i] if qdists else None, sampler.rng)
                if not ok:
                    next_tok = target
                    break
                n_acc += 1
            if next_tok is None:
                next_tok = pick(ctx.logits_at(slots[len(guesses)]))
            keep = pos + 1 + n_acc
            if n_acc < len(guesses):
                ctx.truncate(keep)  # rejected guesses never stay in the KV cache
            engine.cached.extend(batch[: 1 + n_acc])
            if drafter is not None:
                self._alpha(key).update(n_acc, len(guesses))
                stats.drafted += len(guesses)
                stats.accepted += n_acc
            pos = keep
            for g in guesses[:n_acc]:
                yield g
                produced += 1
            tok = next_tok


def make_speculator(engine, mode: str) -> Speculator:
    """ngram: prompt lookup; draft: the draft model; auto: prompt lookup, plus the draft model
    when the engine was given one — the controller decides per step which (if any) pays."""
    if mode not in ("ngram", "draft", "auto"):
        raise EngineError(f"unknown speculation mode {mode!r}: use off, ngram, draft or auto")
    drafters: list = []
    if mode in ("ngram", "auto"):
        drafters.append(engine.drafter("ngram"))
    if mode == "draft" or (mode == "auto" and engine.has_draft):
        drafters.append(engine.drafter("draft"))
    return Speculator(engine, mode, drafters, CostTable(engine))


def default_draft_for(model_name: str) -> str | None:
    return {"qwen2.5-coder-1.5b": "qwen2.5-coder-0.5b"}.get(model_name)


def load_draft(engine, draft_model: str | None) -> ModelDrafter:
    name = draft_model or default_draft_for(engine.model_name)
    if not name:
        raise EngineError(f"no draft model known for {engine.model_name}; pass one explicitly")
    path = models.resolve(name, show_progress=False)
    drafter = ModelDrafter(engine.model, path, engine.threads, engine.n_ctx)
    # until measured: a decode step costs about what its weights weigh, relative to the target's
    step = CostTable(engine).at(len(engine.cached) + 1)(1)
    drafter.cost_per_token_s = step * path.stat().st_size / engine.model.path.stat().st_size
    drafter.fixed_cost_s = drafter.cost_per_token_s
    drafter.sync_cost_per_token_s = drafter.cost_per_token_s / 4  # batched evaluation is cheaper per token
    return drafter
