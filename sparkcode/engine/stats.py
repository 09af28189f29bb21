"""Per-call measurements and the events a generation streams.

Every generation ends with a `Done` carrying `Stats`: what was evaluated, what came from the
prefix cache, and where the time went. Speculation fills the drafted/accepted fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Stats:
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens whose KV came from the prefix cache
    disk_cached_tokens: int = 0  # of those, restored from the prompt cache on disk
    prefill_s: float = 0.0  # time to evaluate the uncached prompt tokens
    ttft_s: float = 0.0  # request start -> first token chosen
    decode_tokens: int = 0
    decode_s: float = 0.0  # first token chosen -> last token chosen
    wall_s: float = 0.0
    drafted: int = 0
    accepted: int = 0
    speculate: str = "off"

    @property
    def decode_tps(self) -> float:
        # tokens after the first, over the time spent producing them
        return (self.decode_tokens - 1) / self.decode_s if self.decode_tokens > 1 and self.decode_s > 0 else 0.0

    @property
    def prefill_tps(self) -> float:
        n = self.prompt_tokens - self.cached_tokens
        return n / self.prefill_s if self.prefill_s > 0 else 0.0

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def mean_accepted_len(self) -> float:
        """Guessed tokens kept per target forward pass (each pass also yields its own token)."""
        passes = self.decode_tokens - self.accepted
        return self.accepted / passes if passes > 0 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(decode_tps=round(self.decode_tps, 2), prefill_tps=round(self.prefill_tps, 2),
                 acceptance=round(self.acceptance, 3), mean_accepted_len=round(self.mean_accepted_len, 2))
        for k in ("prefill_s", "ttft_s", "decode_s", "wall_s"):
            d[k] = round(d[k], 4)
        return d


@dataclass
class TextDelta:
    text: str


@dataclass
class Done:
    text: str
    finish_reason: str  # "stop" | "length" | "cancelled"
    stats: Stats = field(default_factory=Stats)
    tokens: list[int] = field(default_factory=list)
