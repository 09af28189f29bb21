"""The product's headline: `sparkcode run "build a snake game in one HTML file"` with the
embedded default model yields a game that works in a real browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sparkcode.agent.browser_check import check_html_app

pytestmark = [pytest.mark.model, pytest.mark.browser]


def test_snake_game_end_to_end(tmp_path):
    ws = tmp_path / "snake"
    ws.mkdir()
    r = subprocess.run([sys.executable, "-m", "sparkcode.cli", "run", "build a snake game in one HTML file",
                        "--workspace", str(ws), "--json"], capture_output=True, text=True, timeout=1200,
                       env=dict(os.environ))
    outcome = json.loads(r.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "done" and r.returncode == 0, (outcome, r.stderr[-2000:])
    pages = [f for f in outcome["files_written"] if f.endswith(".html")]
    assert pages, outcome
    check = check_html_app(ws / pages[0])
    print(f"snake: wall {outcome['wall_s']:.1f} s, {outcome['tokens_out']} tokens, check {check}")
    assert check.errors == []
    assert check.canvas_changed, "the game does not animate"
    assert check.responds_to_keys, "arrow keys do not change the game"
    assert check.ok
