"""The product's headline, end to end: `sparkcode run "build a snake game in one HTML file"` with
the embedded default model, then the page judged again, independently, by the one page verdict.

What must hold whatever the model writes: "done" means the game really plays (the verdict passes
it), and the exit code says what the run said (0 done, 3 unverified, 1 otherwise). Whether the
1.5B model gets to a playable game within its turns is measured by `sparkcode race` and
`sparkcode bench tasks` (game-snake), not asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sparkcode.agent.playtest import judge_page

pytestmark = [pytest.mark.model, pytest.mark.browser]

EXIT = {"done": 0, "unverified": 3}


def test_snake_run_says_done_only_when_the_game_really_plays(tmp_path):
    ws = tmp_path / "snake"
    ws.mkdir()
    r = subprocess.run([sys.executable, "-m", "sparkcode.cli", "run", "build a snake game in one HTML file",
                        "--workspace", str(ws), "--json", "--timeout", "600"], capture_output=True, text=True,
                       timeout=1300, env=dict(os.environ))
    outcome = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.returncode == EXIT.get(outcome["status"], 1), (outcome["status"], r.returncode, r.stderr[-2000:])
    assert outcome["verified"] == (outcome["status"] == "done")
    pages = [f for f in outcome["files_written"] if f.endswith(".html")]
    print(f"snake: {outcome['status']} in {outcome['wall_s']:.1f} s ({outcome['verify_s']:.1f} s verifying), "
          f"{outcome['tokens_out']} tokens, {len(outcome['turns'])} turns: {outcome['summary'][:300]}")
    if outcome["status"] == "done":
        assert pages, outcome
        verdict = judge_page(ws / pages[0], game=True)
        assert verdict.ok, verdict.problems
        assert verdict.details.get("virtual_s", 0) >= 30
    else:
        assert outcome["summary"], outcome  # an honest reason, never a silent pass
