"""The engine on real models: determinism, prefix cache, stops, limits, UTF-8 streaming."""

from __future__ import annotations

import pytest

from sparkcode.engine.stats import Done, TextDelta
from sparkcode.errors import EngineError

pytestmark = pytest.mark.model


def chat(text, system=None):
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


def test_greedy_output_is_deterministic_with_and_without_the_prefix_cache(qwen05):
    msgs = chat("Write a Python function is_prime(n).")
    qwen05.reset()
    a = qwen05.generate(msgs, max_tokens=48)
    b = qwen05.generate(msgs, max_tokens=48)  # KV reused: all but the last prompt token cached
    qwen05.reset()
    c = qwen05.generate(msgs, max_tokens=48)
    assert a.stats.cached_tokens == 0
    assert b.stats.cached_tokens == b.stats.prompt_tokens - 1
    assert a.text == b.text == c.text
    assert a.tokens == b.tokens == c.tokens
    assert "def is_prime" in a.text


def test_prefix_reuse_evaluates_only_the_new_tokens_and_cuts_ttft(qwen05):
    shared = "\n".join(f"def helper_{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(70))
    system = "You are reviewing this module:\n" + shared
    qwen05.reset()
    first = qwen05.generate(chat("What does helper_3 return for x=2?", system), max_tokens=4)
    second = qwen05.generate(chat("Which helper adds 5?", system), max_tokens=4)
    assert first.stats.prompt_tokens > 1000
    assert first.stats.cached_tokens == 0
    new_tokens = second.stats.prompt_tokens - second.stats.cached_tokens
    assert second.stats.cached_tokens > 1000
    assert new_tokens < 30  # only the new question (and the template's tail) was evaluated
    assert second.stats.ttft_s < 0.25 * first.stats.ttft_s


def test_stop_strings_cut_the_text_and_end_the_generation(qwen05):
    qwen05.reset()
    d = qwen05.generate(chat("Count from 1 to 30, separated by commas, nothing else."), max_tokens=120, stop=["13"])
    assert d.finish_reason == "stop"
    assert "13" not in d.text
    assert "12" in d.text


def test_max_tokens_is_exact_and_reported(qwen05):
    d = qwen05.generate(chat("Write a long story about a robot."), max_tokens=7)
    assert d.finish_reason == "length"
    assert d.stats.decode_tokens == 7 == len(d.tokens)


def test_eos_ends_with_stop(qwen05):
    d = qwen05.generate(chat("Reply with the single word: yes"), max_tokens=50)
    assert d.finish_reason == "stop"
    assert d.stats.decode_tokens < 50


def test_streamed_deltas_are_valid_utf8_and_add_up_to_the_text(qwen05):
    qwen05.reset()
    msgs = chat("Repeat exactly, nothing else: 🎉 🫠 龘 你好世界 𝄞")
    deltas, done = [], None
    for ev in qwen05.stream(msgs, max_tokens=40):
        if isinstance(ev, TextDelta):
            deltas.append(ev.text)
        else:
            done = ev
    assert isinstance(done, Done)
    assert "".join(deltas) == done.text
    assert "\ufffd" not in done.text
    assert "🎉" in done.text and "🫠" in done.text
    # 🫠, 龘 and 𝄞 are split into byte-level tokens: some token carried a partial character
    pieces = [qwen05.model.piece(t) for t in done.tokens]
    assert any(_not_utf8(p) for p in pieces)


def _not_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


def test_stats_are_consistent(smol):
    smol.reset()
    d = smol.generate(chat("Say hello."), max_tokens=16)
    s = d.stats
    assert 0 < s.ttft_s <= s.wall_s
    assert s.prefill_s <= s.ttft_s
    assert s.prompt_tokens > 5
    assert s.decode_tokens == len(d.tokens)
    if s.decode_tokens > 1:
        assert s.decode_tps > 0


def test_prompt_larger_than_the_context_is_a_clear_error(smol):
    with pytest.raises(EngineError, match="context"):
        smol.generate(chat("word " * 5000), max_tokens=4)


def test_engine_recovers_after_an_abandoned_stream(qwen05):
    msgs = chat("List ten fruits.")
    qwen05.reset()
    full = qwen05.generate(msgs, max_tokens=20)
    it = qwen05.stream(msgs, max_tokens=20)
    next(it)
    it.close()  # client went away mid-generation
    again = qwen05.generate(msgs, max_tokens=20)
    assert again.text == full.text


def test_a_side_request_keeps_the_main_conversations_cache(qwen05):
    from sparkcode.backends.base import ChatRequest, collect
    from sparkcode.backends.local import LocalBackend

    backend = LocalBackend(qwen05)
    system = "You are reviewing this module:\n" + "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(30))
    main = chat("What does f3 return for 2?", system)
    qwen05.reset()
    first = collect(backend, ChatRequest(main, max_tokens=8))
    side = collect(backend, ChatRequest(chat("Say hello."), max_tokens=8, keep_cache=True))
    assert side.stats.cached_tokens < 10  # only the chat template's opening in common
    again = collect(backend, ChatRequest(main, max_tokens=8))
    assert again.stats.cached_tokens == again.stats.prompt_tokens - 1  # the main KV came back
    assert again.text == first.text


def test_extra_weight_buffers_are_off_on_a_processor_with_amx(monkeypatch):
    """A native build's AMX path segfaulted on the first decode of an AMX Xeon: the loader must
    keep llama.cpp's extra buffer types off there, on elsewhere, and obey the override."""
    from sparkcode.engine import llama

    monkeypatch.delenv("SPARKCODE_EXTRA_BUFFERS", raising=False)
    monkeypatch.setattr(llama, "_cpuinfo", lambda: ("Intel Xeon", "fpu avx2 avx512f amx_tile amx_int8"))
    assert llama.extra_buffers_ok() is False
    monkeypatch.setattr(llama, "_cpuinfo", lambda: ("AMD EPYC", "fpu avx2 fma"))
    assert llama.extra_buffers_ok() is True
    monkeypatch.setenv("SPARKCODE_EXTRA_BUFFERS", "0")
    assert llama.extra_buffers_ok() is False


def test_the_model_loads_with_the_buffer_choice_of_this_processor(qwen05):
    """Whatever this processor is, the embedded model decodes (on an AMX Xeon it crashed)."""
    done = qwen05.generate("def add(a, b):", max_tokens=8)
    assert done.stats.decode_tokens == 8
