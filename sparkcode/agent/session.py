"""Sessions: every run is an append-only JSONL log under ``<workspace>/.sparkcode/sessions/``.

Lines are events: ``task``, ``message`` (role, content), ``tool`` (name, args, ok, output),
``checks``, ``turn`` (stats) and ``outcome``. `Session.messages` rebuilds the conversation from
the log, which is all `sparkcode resume` needs: the engine's prefix cache then makes the
resumed turn cheap when the same process still holds the KV cache.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import SparkcodeError
from .checkpoint import STATE_DIR, new_run_id


class Session:
    def __init__(self, root: Path, run_id: str | None = None):
        self.run_id = run_id or new_run_id()
        self.dir = Path(root) / STATE_DIR / "sessions"
        self.path = self.dir / f"{self.run_id}.jsonl"

    def log(self, type: str, **data) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"type": type, "t": round(time.time(), 3), **data}, ensure_ascii=False) + "\n")

    def events(self) -> list[dict]:
        out = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                # a run killed mid-write leaves a partial last line: keep everything before it
                if n == len(self.path.read_text(encoding="utf-8").splitlines()):
                    break
                raise SparkcodeError(f"{self.path}:{n} is not valid JSON; the session log is damaged")
        return out

    def messages(self) -> list[dict]:
        """The conversation as the model last saw it: messages, with rewinds applied."""
        out: list[dict] = []
        for e in self.events():
            if e["type"] == "message":
                out.append({"role": e["role"], "content": e["content"]})
            elif e["type"] == "rewind":
                del out[int(e["keep"]):]
        return out

    def task(self) -> str | None:
        return next((e["task"] for e in self.events() if e["type"] == "task"), None)

    @classmethod
    def latest(cls, root: Path) -> "Session":
        d = Path(root) / STATE_DIR / "sessions"
        logs = sorted(d.glob("*.jsonl")) if d.is_dir() else []
        if not logs:
            raise SparkcodeError(f"no session to resume in {root} (no {STATE_DIR}/sessions/*.jsonl)")
        return cls(root, logs[-1].stem)
