"""Turning a token stream into a text stream: UTF-8 safe, stop-string aware.

Tokens can split a multi-byte character (emoji, CJK), and a stop string can span several
tokens. `TextStream.push` returns only text that is final: complete characters that cannot be
the start of a stop string.
"""

from __future__ import annotations

import codecs


class TextStream:
    def __init__(self, stop: list[str] | None = None):
        self.stop = [s for s in (stop or []) if s]
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""  # decoded text that might begin a stop string
        self.text = ""  # everything emitted so far
        self.stopped = False

    def push(self, data: bytes) -> str:
        """Feed a token's bytes; return the text that is now safe to emit."""
        if self.stopped:
            return ""
        self._held += self._utf8.decode(data)
        return self._release(final=False)

    def finish(self) -> str:
        """End of generation: flush held text (a partial stop string is just text)."""
        if self.stopped:
            return ""
        self._held += self._utf8.decode(b"", final=True)
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        held = self._held
        cut = len(held)
        for s in self.stop:
            i = held.find(s)
            if i != -1 and i < cut:
                cut = i
                self.stopped = True
        if self.stopped:
            out = held[:cut]
            self._held = ""
        elif final or not self.stop:
            out, self._held = held, ""
        else:
            # keep back the longest suffix that is a proper prefix of some stop string
            keep = 0
            for s in self.stop:
                for j in range(min(len(s) - 1, len(held)), 0, -1):
                    if held.endswith(s[:j]):
                        keep = max(keep, j)
                        break
            out, self._held = held[: len(held) - keep], held[len(held) - keep :]
        self.text += out
        return out
