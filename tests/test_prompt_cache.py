"""The prompt cache on disk: a later process restores a long prefix instead of evaluating it.

An engine's KV memory is emptied with `reset()`, which is what a new process starts with; each
test gives the engine a cache in its own folder.
"""

from __future__ import annotations

from sparkcode.engine.prompt_cache import PromptCache

SYSTEM = "You review this module and answer in one word.\n" + "\n".join(
    f"def helper_{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(30))


def chat(question: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def test_a_saved_prefix_is_found_loaded_and_a_damaged_one_is_never_used(tmp_path):
    cache = PromptCache(tmp_path, "k", cap_bytes=1000)
    cache.save([1, 2, 3], b"abc")
    cache.save([1, 2, 3, 4, 5], b"abcde")
    again = PromptCache(tmp_path, "k", cap_bytes=1000)  # another process reads what is on disk
    best = again.longest([1, 2, 3, 4, 5, 6])
    assert best.tokens == [1, 2, 3, 4, 5] and again.load(best) == b"abcde"
    assert again.longest([1, 2, 3, 4, 5, 6], more_than=5) is None and again.longest([1, 2, 9]) is None
    (tmp_path / "k" / f"{best.name}.kv").write_bytes(b"abcdX")  # same size, other bytes
    assert again.load(best) is None and not (tmp_path / "k" / f"{best.name}.json").exists()
    assert again.longest([1, 2, 3, 4, 5, 6]).tokens == [1, 2, 3]


def test_the_cache_stays_under_its_cap_dropping_the_least_recently_used(tmp_path):
    cache = PromptCache(tmp_path, "k", cap_bytes=10)
    cache.save([1], b"aaaa")
    cache.save([2], b"bbbb")
    cache.load(cache.longest([1]))  # [1] used again: [2] is now the oldest
    cache.save([3], b"cccc")
    assert cache.size_bytes() <= 10 and cache.longest([2]) is None
    assert cache.longest([1]) is not None and cache.longest([3]) is not None


def test_a_new_process_restores_the_system_prompt_from_disk_with_the_same_greedy_reply(smol, tmp_path):
    smol.disk_cache = PromptCache(tmp_path, "smol", min_tokens=64)
    try:
        smol.reset()
        first = smol.generate(chat("Which helper adds 3?"), max_tokens=12)
        assert first.stats.disk_cached_tokens == 0 and smol.disk_cache.saved == 1
        smol.reset()  # what a new process has: nothing in KV memory
        again = smol.generate(chat("Which helper adds 3?"), max_tokens=12)
        keep = smol.system_prefix(chat("x"), None, smol.tokenize_prompt(chat("x")))
        assert keep > 300 and again.stats.disk_cached_tokens == again.stats.cached_tokens == keep
        assert again.tokens == first.tokens  # the same KV as evaluating it, split at the same place
        smol.reset()
        other = smol.generate(chat("Name the helper that multiplies by 12."), max_tokens=4)
        assert other.stats.disk_cached_tokens == keep and smol.disk_cache.saved == 1  # shared, saved once
    finally:
        smol.disk_cache = None
        smol.reset()


def test_a_long_prompt_is_saved_whole_and_a_state_the_context_rejects_is_dropped(smol, tmp_path):
    smol.disk_cache = PromptCache(tmp_path, "smol", min_tokens=10_000, long_tokens=300)
    try:
        prompt = [{"role": "user", "content": SYSTEM + "\nWhich helper adds 3?"}]
        smol.reset()
        smol.generate(prompt, max_tokens=2)
        smol.reset()
        again = smol.generate(prompt, max_tokens=2)
        assert again.stats.cached_tokens == again.stats.prompt_tokens - 1 == again.stats.disk_cached_tokens
        (entry,) = smol.disk_cache.entries().values()
        smol.disk_cache.forget(entry.name)
        smol.disk_cache.save(entry.tokens, b"\x00" * 64)  # intact on disk, but no KV state
        smol.reset()
        cold = smol.generate(prompt, max_tokens=2)
        assert cold.stats.cached_tokens == 0 and cold.text == again.text
        assert all(e.size != 64 for e in smol.disk_cache.entries().values())
    finally:
        smol.disk_cache = None
        smol.reset()


def test_bench_restart_measures_new_processes_with_the_cache_cold_warm_and_off(qwen05_path, capsys):
    from argparse import Namespace

    from sparkcode.bench import restart_bench

    assert restart_bench.main(Namespace(model="qwen2.5-coder-0.5b", runs=1, threads=None, out="-")) == 0
    table = capsys.readouterr().out
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in table.splitlines()
            if r.startswith("| ") and r.split("|")[1].strip() in ("cold", "warm", "off")}
    assert rows["off"][1] == "0" and rows["cold"][1] == "0"  # nothing restored: a new process evaluates it all
    assert int(rows["warm"][1]) > 300  # the system prompt came from disk
