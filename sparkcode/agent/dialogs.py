"""Replace a game page's blocking dialogs with a message on the page that Space or Enter answers.

A game that says "Game over" with ``alert()`` stops the whole page until the dialog is closed,
and one that asks ``confirm("Play again?")`` does too; the system prompt asks for a message drawn
on the page and a key that starts a new game, and the playtest refuses dialogs. Small models keep
writing them anyway (measured: the README's snake run, 8 turns, each told "uses alert() for game
over", each answering with another ``alert('Restart Game!')``). So after a turn's writes, in each
changed HTML page of a game task, every ``alert(``/``confirm(`` call in its scripts becomes a call
of one small function put in front of the first script: it shows the text in a box over the page
(``confirm`` answers yes, so "play again?" plays again) and, while the box is up, Space or Enter
reloads the page: a new game. What the code did after its dialog (reset, stop the loop) stays as
the model wrote it; the playtest still judges the page.
"""

from __future__ import annotations

import re

from .checks import is_game
from .workspace import Workspace

FUNCTION = "showOnPageMessage"
_CALL = re.compile(r"(?<![\w$.])(?:window\.)?(alert|confirm)\s*\(")
_SCRIPT = re.compile(r"(<script\b(?![^>]*\bsrc=)[^>]*>)(.*?)(</script>)", re.I | re.S)
_HELPER = f"""
function {FUNCTION}(text) {{
  var box = document.getElementById('on-page-message');
  if (!box) {{
    box = document.createElement('div');
    box.id = 'on-page-message';
    box.style.cssText = 'position:fixed;left:50%;top:40%;transform:translate(-50%,-50%);z-index:1000;' +
      'padding:16px 24px;background:rgba(0,0,0,0.85);color:#fff;font:20px sans-serif;border-radius:8px;text-align:center';
    document.body.appendChild(box);
    document.addEventListener('keydown', function (e) {{
      if (box.style.display !== 'none' && (e.key === ' ' || e.key === 'Enter')) location.reload();
    }});
  }}
  box.textContent = String(text) + ' \\u2014 press Space or Enter for a new game';
  box.style.display = 'block';
  return true;
}}
"""


def replace_dialogs(ws: Workspace, changed: list[str], task: str) -> list[str]:
    """Rewrite the dialogs of each changed page of a game task; one note per page changed."""
    if not is_game(task):
        return []
    notes = []
    for rel in dict.fromkeys(changed):
        if not rel.lower().endswith((".html", ".htm")):
            continue
        path = ws.root / rel
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        new, n = without_dialogs(text)
        if n:
            path.write_text(new)
            notes.append(f"{rel}: {n} alert()/confirm() call(s) replaced by a message on the page "
                         "(Space or Enter starts a new game): a dialog stops the game")
    return notes


def without_dialogs(html: str) -> tuple[str, int]:
    """(the page with its inline scripts' dialogs replaced, how many were)."""
    count = 0

    def script(m: re.Match) -> str:
        nonlocal count
        body, n = _CALL.subn(f"{FUNCTION}(", m.group(2))
        count += n
        return m.group(1) + body + m.group(3)

    out = _SCRIPT.sub(script, html)
    if not count or re.search(rf"\bfunction\s+{FUNCTION}\b", html):
        return (out, count) if count else (html, 0)
    first = _SCRIPT.search(out)
    return out[:first.end(1)] + _HELPER + out[first.end(1):], count
