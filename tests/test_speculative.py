"""Speculative decoding: lossless greedy output, clean KV rollback, vocab checks, sampling law."""

from __future__ import annotations

import ctypes

import llama_cpp
import numpy as np
import pytest

from sparkcode.engine.drafters import ModelDrafter, NgramDrafter
from sparkcode.engine.speculative import CostModel, accept_or_resample, best_k
from sparkcode.engine.sampling import Sampler, SamplingParams
from sparkcode.errors import ModelError

SOURCE = '''def parse_config(path):
    """Read key=value lines into a dict."""
    result = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


def merge(a, b):
    out = dict(a)
    out.update(b)
    return out
'''

PROMPTS = [
    [{"role": "user", "content": "Rewrite this code with the function parse_config renamed to load_config. "
                                 "Output the whole file.\n```python\n" + SOURCE + "```"}],
    [{"role": "user", "content": "Write a Python function that returns the n-th Fibonacci number."}],
    [{"role": "user", "content": "Add type hints to this code, output the whole file:\n```python\n" + SOURCE + "```"}],
]


def kv_tokens(engine) -> int:
    return llama_cpp.llama_memory_seq_pos_max(engine.ctx.mem, 0) + 1


def assert_same_or_near_tie(engine, prompt, plain, spec, tol=0.1):
    """Outputs must match; a divergence is allowed only at a numerical near-tie of the top two logits."""
    if plain.tokens == spec.tokens:
        return
    i = next(i for i, (a, b) in enumerate(zip(plain.tokens, spec.tokens)) if a != b)
    engine.reset()
    logits, _ = engine.prefill(engine.tokenize_prompt(prompt) + plain.tokens[:i])
    gap = abs(float(logits[plain.tokens[i]]) - float(logits[spec.tokens[i]]))
    assert gap < tol, f"divergence at token {i} is not a near-tie (logit gap {gap:.3f})"


@pytest.mark.model
@pytest.mark.parametrize("mode", ["ngram", "auto"])
def test_greedy_speculation_equals_plain_greedy(qwen05, mode):
    for prompt in PROMPTS:
        qwen05.reset()
        plain = qwen05.generate(prompt, max_tokens=160, speculate="off")
        qwen05.reset()
        spec = qwen05.generate(prompt, max_tokens=160, speculate=mode)
        assert_same_or_near_tie(qwen05, prompt, plain, spec)
        assert len(qwen05.cached) == kv_tokens(qwen05)
    # the rewrite prompts must actually have exercised speculation
    assert spec.stats.drafted > 0


@pytest.mark.model
def test_greedy_draft_model_speculation_equals_plain(qwen05):
    from sparkcode.engine.core import Engine

    eng = Engine("qwen2.5-coder-0.5b", n_ctx=4096, show_progress=False, draft_model="smollm2-135m")
    with pytest.raises(ModelError, match="tokenizer"):
        eng.speculator("draft")  # a mismatched pair is refused
    eng.close()
    eng = Engine("qwen2.5-coder-0.5b", n_ctx=4096, show_progress=False, draft_model="qwen2.5-coder-0.5b")
    try:
        for prompt in PROMPTS[:2]:
            plain = eng.generate(prompt, max_tokens=96, speculate="off")
            eng.reset()
            spec = eng.generate(prompt, max_tokens=96, speculate="draft")
            assert spec.stats.drafted > 0
            assert_same_or_near_tie(eng, prompt, plain, spec)
            eng.reset()
    finally:
        eng.close()


@pytest.mark.model
def test_rejected_tokens_never_stay_in_the_kv_cache(qwen05):
    qwen05.reset()
    spec = qwen05.generate(PROMPTS[2], max_tokens=200, speculate="ngram")
    assert spec.stats.drafted > spec.stats.accepted, "the prompt should cause some rejections"
    assert len(qwen05.cached) == kv_tokens(qwen05)
    follow = PROMPTS[2] + [{"role": "assistant", "content": spec.text}, {"role": "user", "content": "Now explain merge()."}]
    after = qwen05.generate(follow, max_tokens=60, speculate="off")
    assert after.stats.cached_tokens > 0
    qwen05.reset()
    fresh = qwen05.generate(follow, max_tokens=60, speculate="off")
    assert_same_or_near_tie(qwen05, follow, fresh, after)


@pytest.mark.model
def test_sampling_with_speculation_is_reproducible_by_seed(qwen05):
    p = SamplingParams(temperature=0.8, top_p=0.95, seed=7)
    qwen05.reset()
    runs = []
    for before in (None, PROMPTS[0], PROMPTS[2]):  # whatever ran before must not matter
        if before is not None:
            qwen05.reset()
            qwen05.generate(before, max_tokens=80, speculate="ngram")
        qwen05.reset()
        runs.append(qwen05.generate(PROMPTS[0], max_tokens=80, sampling=p, speculate="ngram"))
    a, b, c = runs
    assert a.tokens == b.tokens == c.tokens
    assert a.stats.drafted > 0


def test_speculative_sampling_follows_the_target_distribution():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    q = np.array([0.1, 0.4, 0.1, 0.3, 0.1])
    ids = np.arange(5)
    n = 40_000
    counts = np.zeros(5)
    for _ in range(n):
        d = rng.choice(5, p=q)
        _, tok = accept_or_resample(ids, p, int(d), (ids, q), rng)
        counts[tok] += 1
    chi2 = (((counts - n * p) ** 2) / (n * p)).sum()
    assert chi2 < 20.5  # p = 0.0004 at 4 degrees of freedom
    # a deterministic (prompt-lookup) guess: q is one-hot
    counts[:] = 0
    for _ in range(n):
        _, tok = accept_or_resample(ids, p, 3, None, rng)
        counts[tok] += 1
    chi2 = (((counts - n * p) ** 2) / (n * p)).sum()
    assert chi2 < 20.5


def test_ngram_drafter_proposes_what_followed_the_latest_match():
    d = NgramDrafter(n_min=2, n_max=4)
    ctx = [1, 2, 3, 4, 5, 9, 9, 1, 2, 3]
    assert d.propose(ctx, 3)[0] == [4, 5, 9]
    ctx2 = ctx + [4, 5, 9, 9, 1, 2, 3]  # grows incrementally; newest occurrence wins
    assert d.propose(ctx2, 2)[0] == [4, 5]
    assert d.propose([7, 8], 3)[0] == []  # new conversation: index rebuilt, no match
    d.add_extra([7, 8, 42, 43])
    assert d.propose([5, 7, 8], 2)[0] == [42, 43]


def test_controller_chooses_plain_decoding_when_guessing_does_not_pay():
    cost = CostModel({1: 0.04, 2: 0.056, 4: 0.088, 8: 0.152, 17: 0.296})  # 0.4 step per extra token
    assert best_k(0.2, cost, 0.0, 16)[0] == 0
    assert best_k(0.9, cost, 0.0, 16)[0] >= 3
    assert best_k(0.7, cost, 0.023, 16)[0] == 0  # a 0.5B draft model at 23 ms a token does not pay


def test_a_verify_cost_measured_on_another_processor_is_never_reused(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from sparkcode.engine import speculative

    monkeypatch.setenv("SPARKCODE_HOME", str(tmp_path))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    engine = SimpleNamespace(model=SimpleNamespace(path=model), threads=2, gpu_layers=0)
    measured = []
    monkeypatch.setattr(speculative.CostModel, "measure",
                        classmethod(lambda cls, eng, reps=2: measured.append(1) or cls({1: 1.0, 9: 2.0})))
    for cpu in ("Intel Xeon/aaaa", "Intel Xeon/aaaa", "AMD EPYC/bbbb"):
        monkeypatch.setattr(speculative, "cpu_signature", lambda cpu=cpu: cpu)
        speculative.CostTable(engine).at(100)
    assert len(measured) == 2  # the second Xeon run reused its own table; the EPYC measured anew
    engine.gpu_layers = -1
    speculative.CostTable(engine).at(100)
    assert len(measured) == 3
