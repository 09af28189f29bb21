"""Noticing that the model is stuck, and escalating: note -> sample -> abandon the attempt -> give up.

Greedy decoding shown the same failure tends to give the same answer. Three signs of that are
fed to one `StuckDetector`:

- ``same_code``: the turn rewrote failing files with exactly the content they had;
- ``same_reply``: the reply is identical to an earlier reply of this conversation;
- ``runaway``: the reply started repeating the same lines (or the same words on one line), or started writing into the agent's own
  ``.sparkcode/`` state, and was cut (`RepetitionGuard`).

Each sign raises the level by one and the detector answers what to do next:

1. ``note``: tell the model what it did; from now on turns are sampled (temperature 0.7, seeded
   by the turn), since greedy decoding would lead back to the same place. A repeated reply is
   not noted but rewound at once to before its earlier copy: a model shown its own reply copies
   it again, sampled or not;
2. ``abandon``: this attempt is stuck. The loop starts afresh from the task when a fresh start is
   left (measured on four module tasks: the turn after the second sign was another copy or prose,
   20-50 s each, before the fresh start that the third sign brought anyway); when none is left it
   drops the conversation back to before the first stuck reply and samples anew (a rewind);
3. ``give_up``.

A turn that makes progress (changed files, no repeat) lowers nothing: being stuck twice in a
run is already a pattern. A rewound turn is not counted as a repair round by the loop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..engine.sampling import SamplingParams

UNSTICK_TEMPERATURE = 0.7


@dataclass
class Escalation:
    action: str  # "none", "note", "rewind", "abandon", "give_up"
    reason: str = ""
    rewind_to: int | None = None  # message index to cut the conversation at (for "rewind", "abandon")


class StuckDetector:
    def __init__(self, max_level: int = 3):
        self.level = 0
        self.max_level = max_level
        self.first_stuck_at: int | None = None  # index of the first stuck assistant message

    def observe(self, reason: str | None, message_index: int) -> Escalation:
        """`reason`: the sign seen this turn (None: none); `message_index`: where this turn's
        assistant message is (or would be) in the conversation."""
        if reason is None:
            return Escalation("none")
        self.level += 1
        if self.first_stuck_at is None:
            self.first_stuck_at = message_index
        if self.level >= self.max_level:
            return Escalation("give_up", reason)
        if self.level == 1 and reason == "same_reply":
            # both copies go: with the earlier one left in view, a sampled turn copied it again,
            # token for token (measured: a 816-token snake page three times, at temperature 0.7).
            # The same code in a new reply is noted instead: tried, rewinding it at once took away the
            # only signal ("you wrote the same code again"), and the 1.5B rewrote the buggy cart.py
            # unchanged in all 8 turns of a task it had passed at turn 2 with the note
            return Escalation("rewind", reason, rewind_to=message_index)
        if self.level == 1:
            return Escalation("note", reason)
        return Escalation("abandon", reason, rewind_to=self.first_stuck_at)

    @property
    def sampling_needed(self) -> bool:
        return self.level > 0


def unstick_sampling(base: SamplingParams, turn: int, fresh: int = 0) -> SamplingParams:
    """Sampling for a turn after the model got stuck: greedy would repeat itself, so sample
    (temperature UNSTICK_TEMPERATURE, top-p 0.95), seeded by the turn so a run stays reproducible.
    Each fresh start after the first adds 0.15 (measured: at 0.7 a confident model wrote the same
    wrong fix in every attempt of a run)."""
    temperature = max(base.temperature, UNSTICK_TEMPERATURE + 0.15 * max(0, fresh - 1))
    return SamplingParams(temperature=temperature, top_p=min(base.top_p, 0.95), top_k=base.top_k,
                          seed=(base.seed or 0) + turn, greedy_first=True)  # (opens with its action: candidates.py)


class RepetitionGuard:
    """Watches a reply as it streams; `tripped` once its tail is the same block of lines over and
    over: a block of 1 line repeated `min_single` times or of 2-8 lines repeated `min_block` times
    (digits compared as one), or of 9-`max_block` lines twice in a row, exactly, covering at least
    `min_chars` characters (measured: a 3,072-token reply that was one 60-line block — the code,
    "let's run the tests", an imagined test report — written over and over, 232 s)."""

    def __init__(self, min_single: int = 12, min_block: int = 6, min_chars: int = 600, max_block: int = 150):
        self.min_single, self.min_block, self.min_chars, self.max_block = min_single, min_block, min_chars, max_block
        self.text = ""
        self.tripped = False
        self.why = ""
        self._checked_lines = 0
        self._inline_checked = 0

    def feed(self, delta: str) -> bool:
        self.text += delta
        if self.tripped:
            return True
        if len(self.text) - self._inline_checked >= 200:  # one line can loop too: a sentence over and over
            self._inline_checked = len(self.text)
            if _repeats_inline(self.text, self.min_chars):
                self.tripped, self.why = True, "the reply started repeating the same words"
                return True
        if "\n" not in delta:
            return False
        lines = self.text.split("\n")[:-1]  # complete lines only
        if len(lines) == self._checked_lines:
            return False
        new = lines[self._checked_lines:]
        self._checked_lines = len(lines)
        # a file block aimed at the agent's own state (the acceptance tests) is cut as soon as it starts:
        # measured, a fresh attempt spent 3,072 tokens (140 s) writing .sparkcode/acceptance/test_task.py
        if any(_STATE_FILE.match(ln) for ln in new):
            self.tripped, self.why = True, "it started writing into .sparkcode/, the agent's own state"
            return True
        self.tripped = _repeats(lines[-2 * self.max_block:], self.min_single, self.min_block, self.min_chars,
                                self.max_block)
        self.why = "the reply started repeating the same lines" if self.tripped else ""
        return self.tripped


_DIGITS = re.compile(r"\d+")
_STATE_FILE = re.compile(r"^\s*(?:FILE:\s*|File:\s*|#{1,4}\s*|\*\*|`)?(?:\./)?\.sparkcode/\S+?(?:\*\*|`)?:?\s*$")


def _repeats_inline(text: str, min_chars: int, max_period: int = 400) -> bool:
    """The text ends in one stretch of 8 to `max_period` characters written again and again, at
    least three times and `min_chars` characters in all (measured: a 3,072-token reply that was one
    sentence about sort_versions, ~130 times, on a single line: 100 s)."""
    tail = text[-(max_period * 3 + min_chars):]
    for p in range(8, max_period + 1):
        need = max(3, -(-min_chars // p))
        if p * need > len(tail):
            break
        block = tail[-p:]
        if not block.strip():
            continue
        if all(tail[len(tail) - p * (i + 1):len(tail) - p * i] == block for i in range(1, need)):
            return True
    return False


def _repeats(lines: list[str], min_single: int, min_block: int, min_chars: int, max_block: int = 8) -> bool:
    digits_as_one = [_DIGITS.sub("0", ln.strip()) for ln in lines]
    exact = [ln.strip() for ln in lines]
    for k in range(1, max_block + 1):
        need = min_single if k == 1 else min_block if k <= 8 else 2
        # long blocks must repeat exactly: two cards of a page that differ in their numbers are not a loop
        norm = digits_as_one if k <= 8 else exact
        if len(norm) < k * need:
            continue
        block = norm[-k:]
        if not any(len(x) > 3 for x in block):
            continue
        reps = 1
        while len(norm) >= k * (reps + 1) and norm[-k * (reps + 1):-k * reps] == block:
            reps += 1
        if reps >= need and sum(len(x) for x in block) * reps >= min_chars:
            return True
    return False
