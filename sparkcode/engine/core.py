"""The engine: one model, one KV cache, one generation at a time — tuned for latency.

What makes it fast:
- **prefix cache**: the KV cache keeps the tokens of the previous call; a new call evaluates
  only what follows the longest common token prefix (agent turn n reuses turns 1..n-1);
- **logits only where needed**: a prompt is evaluated with logits for its last token only;
- flash attention on, threads = physical cores, one reusable batch, cached token pieces;
- speculative decoding (see `speculative.py`) plugs into the token loop;
- an optional grammar (see `grammar.py`) constrains the reply, checked one token at a time.

Not thread-safe: one `Engine` must be used by one thread at a time (the server queues
requests in front of it).
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .. import models
from ..errors import EngineError
from .chat import ChatFormatter
from .grammar import GrammarConstraint
from .llama import LlamaContext, LlamaModel
from .prompt_cache import PromptCache
from .sampling import Sampler, SamplingParams
from .stats import Done, Stats, TextDelta
from .text import TextStream

Prompt = str | Sequence[int] | list[dict]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Engine:
    def __init__(self, model: str | Path | None = None, n_ctx: int = 8192, threads: int | None = None,
                 flash_attn: bool = True, n_batch: int = 512, show_progress: bool = True,
                 draft_model: str | Path | None = None, prompt_cache: bool = True, gpu_layers: int = 0):
        """`prompt_cache`: keep the KV state of long prompt prefixes on disk for later processes
        (prompt_cache.py); benchmarks of cold prefill turn it off. `gpu_layers`: layers offloaded
        to a GPU when llama.cpp was built with one (llama-server's `-ngl`); 0 on a CPU build."""
        self.model_name = str(model or models.DEFAULT_MODEL)
        path = models.resolve(self.model_name, show_progress=show_progress)
        self.gpu_layers = gpu_layers
        self.model = LlamaModel(path, n_gpu_layers=gpu_layers)
        self.ctx = LlamaContext(self.model, n_ctx=n_ctx, n_batch=n_batch, threads=threads, flash_attn=flash_attn)
        self.flash_attn = flash_attn  # a batch context that takes this one's KV state must match it
        spec = models.spec_for_path(path)
        self.disk_cache = PromptCache.for_model(models.home_dir(), path, spec.sha256 if spec else None,
                                                n_ctx=self.ctx.n_ctx, flash_attn=flash_attn) if prompt_cache else None
        self.formatter = ChatFormatter(self.model.chat_template, self.model.token_text(self.model.bos),
                                       self.model.token_text(self.model.eos))
        self.cached: list[int] = []  # tokens whose KV is in the cache, in order from position 0
        self.disk_tokens = 0  # of the last prefill's cached tokens, how many came from the disk cache
        self.kept: list[tuple[list[int], ctypes.Array]] = []  # KV states of batch candidates (keep_states)
        self._draft_name = draft_model
        self._speculators: dict = {}  # mode -> Speculator (its drafters and cost table)
        self._drafters: dict = {}  # "ngram" / "draft" -> drafter, shared by the modes

    # ------------------------------------------------------------------ prompt handling
    @property
    def threads(self) -> int:
        return self.ctx.threads

    @property
    def n_ctx(self) -> int:
        return self.ctx.n_ctx

    def render(self, messages: list[dict], tools: list[dict] | None = None) -> str:
        return self.formatter.render(messages, tools)

    def tokenize_prompt(self, prompt: Prompt, tools: list[dict] | None = None) -> list[int]:
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
            text = self.render(prompt, tools)
        elif isinstance(prompt, str):
            text = prompt
        else:
            return [int(t) for t in prompt]
        return self._tokenize(text)

    def _tokenize(self, text: str) -> list[int]:
        toks = self.model.tokenize(text, add_special=self.model.add_bos, parse_special=True)
        if len(toks) > 1 and toks[0] == toks[1] == self.model.bos:
            toks = toks[1:]  # template already wrote the BOS text
        return toks

    def system_prefix(self, prompt: Prompt, tools: list[dict] | None, tokens: list[int]) -> int:
        """How many of `tokens` are the rendered system message (and tools): the prefix other
        requests share, worth keeping on disk. 0 when the prompt has none."""
        if not (isinstance(prompt, list) and prompt and isinstance(prompt[0], dict) and prompt[0].get("role") == "system"):
            return 0
        try:
            return common_prefix(self._tokenize(self.render(prompt[:1], tools)), tokens)
        except Exception:  # a template that will not render a system message alone: nothing to keep
            return 0

    def prefill(self, tokens: list[int], keep: int = 0):
        """Make the KV cache hold `tokens`; return (logits of the last token, cached count).

        With a disk cache, the longest saved prefix of `tokens` is restored when it is longer than
        what the KV cache already shares; a prefix of `keep` tokens (the system message), or a
        long prompt without one, is saved for later processes."""
        if not tokens:
            raise EngineError("empty prompt")
        n = common_prefix(self.cached, tokens)
        n = min(n, len(tokens) - 1)  # the last token is always evaluated: we need its logits
        if n < len(self.cached):
            self.ctx.truncate(n)
            del self.cached[n:]
        self.disk_tokens = 0
        n = self._restore_from_disk(tokens, n)
        n = self._restore_kept(tokens, n)
        disk = self.disk_cache
        # save points: the system message; or, with none, a long prompt but its last token (an
        # identical prompt later restores all of it and evaluates that token for its logits). A
        # conversation growing under a system message is not saved turn after turn.
        last = len(tokens) - 1
        if disk is None:
            point = 0
        elif keep:
            point = keep if keep >= disk.min_tokens else 0
        else:
            point = last if last >= disk.long_tokens else 0
        saves = [point] if point and n < point <= last and not disk.has(tokens[:point]) else []
        slots = []
        for end in [*saves, len(tokens)]:
            if end > len(self.cached):
                slots = self.ctx.decode(tokens[len(self.cached):end], len(self.cached), "last")
                self.cached.extend(tokens[len(self.cached):end])
            if end in saves:
                disk.save(self.cached, bytes(self.ctx.save_seq()))
        return self.ctx.logits_at(slots[-1]).copy(), n

    def _restore_from_disk(self, tokens: list[int], n: int) -> int:
        """Put back the longest prefix of `tokens` saved on disk if it beats the `n` tokens shared
        in memory (never all of them: the last token is evaluated for its logits)."""
        if self.disk_cache is None:
            return n
        entry = self.disk_cache.longest(tokens[:-1], more_than=n)
        data = self.disk_cache.load(entry) if entry else None
        if data is None:
            return n
        try:
            self.ctx.restore_seq((ctypes.c_uint8 * len(data)).from_buffer_copy(data))
        except EngineError:  # a state this context cannot take: forget it, evaluate as usual
            self.disk_cache.forget(entry.name)
            self.cached.clear()
            return 0
        self.cached[:] = entry.tokens
        self.disk_tokens = len(entry.tokens)
        return len(entry.tokens)

    def keep_states(self, entries: list[tuple[list[int], ctypes.Array]], max_bytes: int = 1 << 30) -> None:
        """KV states of sequences decoded in another context (the candidates of a batch: their
        prompt and reply tokens), kept in host memory so that a next prompt continuing one of them
        restores it instead of evaluating its reply again; replaces those kept before. At most
        `max_bytes` in all (the first entries are kept)."""
        self.kept, total = [], 0
        for tokens, state in entries:
            total += len(state)
            if total > max_bytes:
                break
            self.kept.append((list(tokens), state))

    def _restore_kept(self, tokens: list[int], n: int) -> int:
        """Put back the kept state sharing most of `tokens` if it beats the `n` tokens shared now."""
        best = max(self.kept, key=lambda e: common_prefix(e[0], tokens), default=None)
        shared = min(common_prefix(best[0], tokens), len(tokens) - 1) if best else 0
        if shared <= n:
            return n
        try:
            self.ctx.restore_seq(best[1])
        except EngineError:  # a state this context cannot take: forget them all, evaluate as usual
            self.kept, self.cached[:] = [], []
            return 0
        self.cached[:] = best[0]
        self.ctx.truncate(shared)
        del self.cached[shared:]
        return shared

    def reset(self) -> None:
        """Forget every cached token: the KV cache and the kept candidates' states."""
        self.ctx.clear()
        self.cached.clear()
        self.kept = []

    @contextlib.contextmanager
    def keep_cache(self, min_tokens: int = 64):
        """Run a side request without losing the KV cache of the main conversation: the cached
        sequence is copied to host memory before and put back after (a few MB per thousand
        tokens; far cheaper than prefilling it again). Short caches are not worth keeping."""
        if len(self.cached) < min_tokens:
            yield
            return
        saved_tokens, state = list(self.cached), self.ctx.save_seq()
        try:
            yield
        finally:
            try:
                self.ctx.restore_seq(state)
                self.cached[:] = saved_tokens
            except EngineError:
                self.cached.clear()

    # ------------------------------------------------------------------ generation
    def stream(self, prompt: Prompt, max_tokens: int = 512, sampling: SamplingParams | None = None,
               stop: list[str] | None = None, tools: list[dict] | None = None, speculate: str = "off",
               should_stop: Callable[[], bool] | None = None, grammar: str | None = None
               ) -> Iterator[TextDelta | Done]:
        """Yield text deltas as they become final, then one `Done` with stats.

        `grammar` (GBNF, root rule "root") constrains the reply; generation ends where the grammar
        is complete (or at max_tokens / a stop string, which may cut it short). Constrained
        sampling (temperature > 0) does not speculate: only greedy verification is lossless under
        a grammar here (see `speculative.py`).
        """
        t0 = time.perf_counter()
        sampling = sampling or SamplingParams()
        if max_tokens < 1:
            raise EngineError(f"max_tokens must be >= 1, got {max_tokens}")
        tokens = self.tokenize_prompt(prompt, tools)
        if len(tokens) >= self.n_ctx:
            raise EngineError(f"prompt is {len(tokens)} tokens; the context holds {self.n_ctx}")
        max_tokens = min(max_tokens, self.n_ctx - len(tokens))
        constraint = GrammarConstraint(self.model, grammar) if grammar else None
        try:
            if constraint is not None and not sampling.greedy:
                speculate = "off"
            keep = self.system_prefix(prompt, tools, tokens) if self.disk_cache is not None else 0
            yield from self._generate(tokens, t0, max_tokens, sampling, stop, speculate, should_stop, constraint, keep)
        finally:
            if constraint is not None:
                constraint.close()

    def _generate(self, tokens: list[int], t0: float, max_tokens: int, sampling: SamplingParams,
                  stop: list[str] | None, speculate: str, should_stop: Callable[[], bool] | None,
                  constraint: GrammarConstraint | None, keep: int = 0) -> Iterator[TextDelta | Done]:
        stats = Stats(prompt_tokens=len(tokens), speculate=speculate)
        sampler = Sampler(sampling)
        if speculate != "off":
            self.speculator(speculate)  # load drafters / calibrate before the clock matters
        logits, stats.cached_tokens = self.prefill(tokens, keep)
        stats.disk_cached_tokens = self.disk_tokens
        t_prefill = time.perf_counter()
        stats.prefill_s = t_prefill - t0
        text = TextStream(stop)
        out: list[int] = []
        finish = "length"
        t_first = None
        tokens_iter = self._token_loop(logits, sampler, max_tokens, speculate, stats, constraint)
        for tok in tokens_iter:
            if t_first is None:
                t_first = time.perf_counter()
                stats.ttft_s = t_first - t0
            if tok in self.model.eog:
                finish = "stop"
                break
            out.append(tok)
            delta = text.push(self.model.piece(tok))
            if delta:
                yield TextDelta(delta)
            if text.stopped:
                finish = "stop"
                break
            if len(out) >= max_tokens:
                break
            if should_stop is not None and should_stop():
                finish = "cancelled"
                break
        tokens_iter.close()  # the loop holds the grammar state, which the caller frees next
        tail = text.finish()
        if tail:
            yield TextDelta(tail)
        t_end = time.perf_counter()
        stats.decode_tokens = len(out)
        stats.decode_s = t_end - (t_first or t_end)
        stats.wall_s = t_end - t0
        yield Done(text.text, finish, stats, out)

    def generate(self, prompt: Prompt, **kw) -> Done:
        done = None
        for ev in self.stream(prompt, **kw):
            if isinstance(ev, Done):
                done = ev
        assert done is not None
        return done

    def _token_loop(self, logits, sampler: Sampler, max_tokens: int, speculate: str, stats: Stats,
                    constraint: GrammarConstraint | None = None) -> Iterator[int]:
        """Yield chosen tokens; the caller stops iterating when it is done.

        Invariant: before a token is yielded, every earlier token is in the KV cache and
        `self.cached` lists exactly the cache's contents; with a constraint, the yielded token
        and every earlier one have been accepted into the grammar state, in order.
        """
        if speculate != "off":
            spec = self.speculator(speculate)
            yield from spec.run(self, logits, sampler, max_tokens, stats, constraint)
            return
        pos = len(self.cached)
        while True:
            if constraint is None:
                tok = sampler.sample(logits)
            else:
                tok = constraint.choose(logits, sampler)
                constraint.accept(tok)
            yield tok
            if pos >= self.n_ctx:
                return
            self.ctx.decode_one(tok, pos)
            self.cached.append(tok)
            pos += 1
            logits = self.ctx.logits_at(0)

    def speculator(self, mode: str):
        from .speculative import make_speculator

        if mode not in self._speculators:
            self._speculators[mode] = make_speculator(self, mode)
        return self._speculators[mode]

    def drafter(self, kind: str):
        """The shared drafter of a kind: "ngram", or "draft" (the draft model, loaded once)."""
        from .drafters import NgramDrafter
        from .speculative import load_draft

        if kind not in self._drafters:
            self._drafters[kind] = NgramDrafter() if kind == "ngram" else load_draft(self, self._draft_name)
        return self._drafters[kind]

    @property
    def has_draft(self) -> bool:
        return self._draft_name is not None or "draft" in self._drafters

    def close(self) -> None:
        for d in self._drafters.values():
            if hasattr(d, "close"):
                d.close()
        self._drafters.clear()
        self.ctx.close()
        self.model.close()
