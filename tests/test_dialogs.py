"""`dialogs.replace_dialogs`: a game page's alert()/confirm() becomes a message on the page that
Space or Enter answers with a new game; the playtest then passes a page it refused."""

from __future__ import annotations

import pytest

from sparkcode.agent import browser_check
from sparkcode.agent.dialogs import FUNCTION, replace_dialogs, without_dialogs
from sparkcode.agent.playtest import judge_page
from sparkcode.agent.workspace import Workspace

# a square that runs into the right wall after ~5 s: game over is an alert, and the loop stops
STOPS_AFTER_ALERT = """<!DOCTYPE html><html><body><canvas id="c" width="400" height="400"></canvas><script>
const g = document.getElementById('c').getContext('2d'); let x = 20, y = 200, dx = 1, dy = 0, score = 0;
document.addEventListener('keydown', e => {
  if (e.key === 'ArrowUp') { dx = 0; dy = -1; } if (e.key === 'ArrowDown') { dx = 0; dy = 1; }
  if (e.key === 'ArrowLeft') { dx = -1; dy = 0; } if (e.key === 'ArrowRight') { dx = 1; dy = 0; }
});
const timer = setInterval(() => {
  x += dx * 4; y += dy * 4; score++;
  if (x < 0 || y < 0 || x >= 400 || y >= 400) { window.alert('Game over! Score: ' + score); clearInterval(timer); return; }
  g.fillStyle = '#000'; g.fillRect(0, 0, 400, 400); g.fillStyle = '#0f0'; g.fillRect(x, y, 10, 10);
}, 50);
</script></body></html>"""


def test_dialog_calls_in_scripts_become_the_on_page_message_and_nothing_else_changes():
    page = ('<html><head><script src="lib.js"></script></head><body><p>alert(me) is text</p><script>\n'
            'if (confirm("Play again?")) reset();\nwindow.alert("over");\nlog.alert("x"); myalert(1);\n</script></body></html>')
    new, n = without_dialogs(page)
    assert n == 2
    assert f'if ({FUNCTION}("Play again?")) reset();' in new and f'{FUNCTION}("over");' in new
    assert 'log.alert("x"); myalert(1);' in new and "<p>alert(me) is text</p>" in new  # not calls of the dialogs
    assert new.count(f"function {FUNCTION}(") == 1 and '<script src="lib.js"></script>' in new
    assert without_dialogs(new) == (new, 0)  # nothing left to do the second time
    assert without_dialogs("<html><body><script>let a = 1;</script></body></html>")[1] == 0


def test_only_the_pages_of_a_game_task_are_changed(tmp_path):
    (tmp_path / "game.html").write_text(STOPS_AFTER_ALERT)
    (tmp_path / "app.py").write_text("alert('x')\n")
    ws = Workspace(tmp_path)
    assert replace_dialogs(ws, ["game.html"], "make a page that says hello") == []
    assert "window.alert(" in (tmp_path / "game.html").read_text()
    notes = replace_dialogs(ws, ["game.html", "app.py"], "build a snake game in one HTML file")
    assert len(notes) == 1 and notes[0].startswith("game.html: 1 alert()/confirm() call(s) replaced")
    assert "window.alert(" not in (tmp_path / "game.html").read_text()
    assert (tmp_path / "app.py").read_text() == "alert('x')\n"


@pytest.mark.browser
@pytest.mark.skipif(not browser_check.available(), reason="needs playwright and Debian chromium")
def test_the_playtest_refuses_the_alert_game_over_and_passes_it_replaced(tmp_path):
    before = tmp_path / "before.html"
    before.write_text(STOPS_AFTER_ALERT)
    v = judge_page(before, game=True)
    assert not v.ok and any("uses alert() for game over" in p for p in v.problems), v.problems
    assert any("did not restart" in p for p in v.problems), v.problems
    after = tmp_path / "after.html"
    after.write_text(without_dialogs(STOPS_AFTER_ALERT)[0])
    v = judge_page(after, game=True)
    assert v.ok, v.problems
    overs = v.details["game_overs"]
    assert overs and all(o["restarted_by"].startswith("Space") for o in overs), overs
    assert v.details["dialogs"] == [] and v.details["errors"] == []
