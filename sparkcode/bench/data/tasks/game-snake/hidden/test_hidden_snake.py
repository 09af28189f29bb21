import re
from pathlib import Path

import pytest

from sparkcode.agent import browser_check as bc

if not bc.available():
    pytest.skip("not judged: chromium missing", allow_module_level=True)

PAGE = Path(__file__).parent / "snake.html"


def test_one_self_contained_file():
    assert PAGE.is_file(), "snake.html was not written"
    html = PAGE.read_text(errors="replace")
    assert "<canvas" in html.lower()
    assert not re.search(r"<script[^>]+src\s*=\s*[\"']?(https?:)?//", html, re.I), "loads an external script"
    assert not re.search(r"<link[^>]+href\s*=\s*[\"']?(https?:)?//", html, re.I), "loads an external stylesheet"


def test_plays_as_a_game():
    """The page verdict for a game: no JavaScript errors, a canvas that moves by itself and answers the arrow keys."""
    assert PAGE.is_file(), "snake.html was not written"
    try:
        from sparkcode.agent.playtest import judge_page as judge
    except ImportError:
        judge = getattr(bc, "judge_page", None)
    if judge is not None:
        verdict = judge(PAGE, game=True)
        ok = verdict if isinstance(verdict, bool) else getattr(verdict, "ok", False)
        assert ok, str(verdict)
        return
    r = bc.check_html_app(PAGE)
    assert r.ok, r.summary()
    assert (r.details or {}).get("canvas"), "no canvas"
    assert r.canvas_changed, "the canvas never changes by itself"
    assert r.responds_to_keys, "the arrow keys change nothing"
