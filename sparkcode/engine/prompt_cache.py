"""The prompt cache on disk: the KV state of long prompt prefixes, kept across processes.

A new process (``sparkcode run``, a restarted ``sparkcode serve``) would otherwise evaluate the
same system prompt again before its first token: about 10 s for the agent's prompt and minutes
for a 12,000-token agent-tool prompt on 2 cores. The engine saves the KV state of a prefix once
(the rendered system message with its tools; a prompt of `long_tokens` or more that has no system
message) and a later prefill restores the longest saved prefix of its prompt instead of
evaluating it. Saving is best effort: a full disk or another process writing the same entry
never fails a request.

Entries live under ``<root>/<key>/`` where the key hashes what makes a state usable: the model
file's identity (size, sha256 when known), the context size and the KV layout. Each entry is a
state file and a small JSON header with its tokens, its size and a BLAKE2 digest of the state;
an entry whose file is missing, short or does not match its digest is deleted and never used.
The cache is bounded (`cap_bytes`, least recently used goes first); ``SPARKCODE_PROMPT_CACHE_MB``
sets the cap, 0 turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

DEFAULT_CAP_MB = 2048


@dataclass
class Entry:
    name: str
    tokens: list[int]
    size: int
    digest: str
    used: float


class PromptCache:
    def __init__(self, root: Path | str, key: str, cap_bytes: int = DEFAULT_CAP_MB << 20, min_tokens: int = 256,
                 long_tokens: int = 2048):
        self.dir = Path(root) / key
        self.cap_bytes = cap_bytes
        self.min_tokens = min_tokens
        self.long_tokens = long_tokens
        self.hits = 0  # prefixes restored from disk
        self.saved = 0  # prefixes written
        self._entries: dict[str, Entry] | None = None

    @classmethod
    def for_model(cls, home: Path, model_path: Path, sha256: str | None, **layout) -> "PromptCache | None":
        """The cache of one model and context layout under `home`/prompt-cache (None when
        ``SPARKCODE_PROMPT_CACHE_MB=0``)."""
        cap_mb = int(os.environ.get("SPARKCODE_PROMPT_CACHE_MB", DEFAULT_CAP_MB))
        if cap_mb <= 0:
            return None
        st = model_path.stat()
        ident = {"model": sha256 or f"{model_path.resolve()}:{st.st_size}:{st.st_mtime_ns}", "size": st.st_size,
                 **layout}
        key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]
        return cls(home / "prompt-cache", key, cap_bytes=cap_mb << 20)

    # ---- reading ------------------------------------------------------------------------------
    def entries(self) -> dict[str, Entry]:
        if self._entries is None:
            self._entries = {}
            for head in self.dir.glob("*.json") if self.dir.is_dir() else []:
                try:
                    d = json.loads(head.read_text())
                    self._entries[head.stem] = Entry(head.stem, [int(t) for t in d["tokens"]], int(d["size"]),
                                                     str(d["digest"]), float(d.get("used", 0)))
                except (OSError, ValueError, KeyError, TypeError):
                    self.forget(head.stem)
        return self._entries

    def longest(self, tokens: Sequence[int], more_than: int = 0) -> Entry | None:
        """The saved prefix of `tokens` with the most tokens (more than `more_than`)."""
        best = None
        for e in self.entries().values():
            n = len(e.tokens)
            if more_than < n <= len(tokens) and (best is None or n > len(best.tokens)) and list(tokens[:n]) == e.tokens:
                best = e
        return best

    def load(self, entry: Entry) -> bytes | None:
        """The entry's state, or None (and the entry gone) when it is not exactly what was saved."""
        try:
            data = (self.dir / f"{entry.name}.kv").read_bytes()
        except OSError:
            data = b""
        if len(data) != entry.size or _digest(data) != entry.digest:
            self.forget(entry.name)
            return None
        entry.used = time.time()
        self._best_effort(self._write_head, entry)
        self.hits += 1
        return data

    # ---- writing ------------------------------------------------------------------------------
    def has(self, tokens: Sequence[int]) -> bool:
        return _name(tokens) in self.entries()

    def save(self, tokens: Sequence[int], data: bytes) -> None:
        """Keep `data` as the state of exactly `tokens`; drop the least recently used beyond the cap."""
        if len(data) > self.cap_bytes:
            return
        entry = Entry(_name(tokens), [int(t) for t in tokens], len(data), _digest(data), time.time())
        if self._best_effort(self._write, entry, data):
            self.entries()[entry.name] = entry
            self.saved += 1
            self._evict()

    def _write(self, entry: Entry, data: bytes) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f"{entry.name}.kv.{os.getpid()}.{time.monotonic_ns()}.tmp"  # two processes never share one
        tmp.write_bytes(data)
        os.replace(tmp, self.dir / f"{entry.name}.kv")
        self._write_head(entry)

    @staticmethod
    def _best_effort(fn, *args) -> bool:
        """The cache only saves time: a full disk, a read-only home or another process's rename
        must not fail the request."""
        try:
            fn(*args)
            return True
        except OSError:
            return False

    def size_bytes(self) -> int:
        return sum(e.size for e in self.entries().values())

    def _evict(self) -> None:
        self._entries = None  # other processes save here too: count what is on disk now
        for e in sorted(self.entries().values(), key=lambda e: e.used):
            if self.size_bytes() <= self.cap_bytes:
                break
            self.forget(e.name)

    def _write_head(self, e: Entry) -> None:
        tmp = self.dir / f"{e.name}.json.{os.getpid()}.{time.monotonic_ns()}.tmp"
        tmp.write_text(json.dumps({"tokens": e.tokens, "size": e.size, "digest": e.digest, "used": e.used}))
        os.replace(tmp, self.dir / f"{e.name}.json")

    def forget(self, name: str) -> None:
        for suffix in (".kv", ".json"):
            try:
                (self.dir / f"{name}{suffix}").unlink(missing_ok=True)
            except OSError:
                pass
        if self._entries is not None:
            self._entries.pop(name, None)


def _name(tokens: Sequence[int]) -> str:
    return hashlib.sha256(json.dumps([int(t) for t in tokens]).encode()).hexdigest()[:32]


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()
