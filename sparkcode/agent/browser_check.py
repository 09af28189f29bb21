"""Driving a generated web page in headless Chromium: the plumbing under the playtest.

What this module owns: finding Chromium (``/usr/bin/chromium`` from Debian, or
``$SPARKCODE_CHROMIUM``; ``playwright install`` is never run), `available()`, the launch flags,
the script injected before any page script, what one look at the page returns (`SNAPSHOT_JS`),
one load of a page (`Load`), and running a check in a child process with a hard timeout, so a
page stuck in an endless loop cannot hang the caller. What a page must do to pass is decided
in `playtest.judge_page`, the one verdict on pages (the agent's checks and the race both use it).

A `Load` runs the page either on a paused fake clock (Playwright's ``clock``: Date, timers,
requestAnimationFrame and performance.now; ``run(ms)`` advances it, and an exception a timer or
frame callback throws comes back as an error) or in real time. Either way ``Math.random`` is
seeded, so fake-clock loads of the same page play out frame for frame alike; timers and frame
loops started again and again are refused past a limit with an error that says so (a runaway
loop would otherwise hang the page); dialogs (alert/confirm/prompt) are accepted at once and
recorded; requests other than file:/data:/blob: are blocked (a generated app must work
offline); and a page that reloads itself (``location.reload()`` on game over) is followed
through its reloads. Canvas frames are read with ``toDataURL()``; WebGL contexts are created
with ``preserveDrawingBuffer`` so they can be read too. A page without a canvas is looked at
through its DOM (``body.innerHTML``), and its game board, if one is named so, is its play area.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import SparkcodeError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARROWS = ("ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft")
T0_S = 1_700_000_000  # the fake clock's start: the same instant in every load
VIEWPORT = {"width": 960, "height": 720}
MAX_RELOADS = 8
PLAYWRIGHT_MISSING = ("checking web pages needs the `playwright` package (pip install 'playwright>=1.45'); "
                      "its browser download is not needed, Debian's chromium is used")

_ON_NULL = re.compile(r"of null|null \(reading|is null\b")

INIT_JS = r"""
(() => {
  let s = 0x2545F491;  // seeded xorshift32: every load draws the same "random" numbers
  Math.random = function () { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, attrs) {
    if (typeof type === 'string' && type.startsWith('webgl')) attrs = Object.assign({}, attrs, {preserveDrawingBuffer: true});
    return getContext.call(this, type, attrs);
  };
  // runaway timers: a game loop that starts a new interval or frame loop every time it runs makes
  // the timer count explode and hangs the page; past a limit, refuse new ones with an error that
  // says what happened (a real game keeps a handful alive)
  const limits = {setInterval: 200, requestAnimationFrame: 200};
  const live = {setInterval: 0, requestAnimationFrame: 0};
  const tripped = name => new Error(`${name} has ${limits[name]} callbacks waiting at once: a new timer or frame `
    + 'loop is started again and again (is it called from inside the game loop?)');
  const setI = window.setInterval, clearI = window.clearInterval;
  window.setInterval = function (...args) {
    if (live.setInterval >= limits.setInterval) throw tripped('setInterval');
    live.setInterval++; return setI.apply(this, args);
  };
  window.clearInterval = function (id) { live.setInterval = Math.max(0, live.setInterval - 1); return clearI.call(this, id); };
  const raf = window.requestAnimationFrame, caf = window.cancelAnimationFrame;
  window.requestAnimationFrame = function (cb) {
    if (live.requestAnimationFrame >= limits.requestAnimationFrame) throw tripped('requestAnimationFrame');
    live.requestAnimationFrame++;
    return raf.call(this, t => { live.requestAnimationFrame--; return cb(t); });
  };
  window.cancelAnimationFrame = function (id) {
    live.requestAnimationFrame = Math.max(0, live.requestAnimationFrame - 1); return caf.call(this, id);
  };
  // lookups that find nothing: named when a script then fails on null ("Cannot set properties of null")
  const missing = window.__sparkMissing = new Set();
  const byId = Document.prototype.getElementById, query = Document.prototype.querySelector;
  Document.prototype.getElementById = function (id) {
    const el = byId.call(this, id); if (el === null) missing.add('#' + id); return el;
  };
  Document.prototype.querySelector = function (sel) {
    const el = query.call(this, sel); if (el === null) missing.add(String(sel)); return el;
  };
  // text drawn on a canvas, the latest last (a score drawn with fillText is not in the DOM)
  const drawn = window.__sparkDrawnText = [];
  for (const name of ['fillText', 'strokeText']) {
    const draw = CanvasRenderingContext2D.prototype[name];
    CanvasRenderingContext2D.prototype[name] = function (text, ...rest) {
      drawn.push(String(text).slice(0, 200)); if (drawn.length > 200) drawn.shift();
      return draw.call(this, text, ...rest);
    };
  }
  window.__sparkKeyListeners = 0;
  const add = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type, ...rest) {
    if (type === 'keydown' || type === 'keyup' || type === 'keypress') window.__sparkKeyListeners++;
    return add.call(this, type, ...rest);
  };
})();
"""

# One look at the page. The play area is the largest canvas (by displayed area, then by pixel
# count) or, without a canvas, the largest visible element named like a game board; the frame
# is the canvas's pixels, or without a canvas the page's DOM.
SNAPSHOT_JS = r"""
() => {
  const rect = e => e.getBoundingClientRect();
  const keyProps = [window, document, document.body].some(t => t && (t.onkeydown || t.onkeyup || t.onkeypress));
  const out = {keyListeners: window.__sparkKeyListeners + (keyProps ? 1 : 0), count: 0, area: null, blank: null};
  const canvases = Array.from(document.querySelectorAll('canvas'));
  out.count = canvases.length;
  if (canvases.length) {
    const score = c => { const r = rect(c); return [r.width * r.height, c.width * c.height]; };
    let best = canvases[0], bs = score(best);
    for (const c of canvases.slice(1)) { const sc = score(c); if (sc[0] > bs[0] || (sc[0] === bs[0] && sc[1] > bs[1])) { best = c; bs = sc; } }
    const r = rect(best);
    try {
      out.data = best.toDataURL();
      const empty = document.createElement('canvas'); empty.width = best.width; empty.height = best.height;
      out.blank = out.data === empty.toDataURL();
    } catch (e) { out.data = 'unreadable: ' + e.name; }
    // its displayed size without the border (clientWidth: content and padding)
    out.area = {kind: 'canvas', what: 'the canvas' + (best.id ? ' #' + best.id : ''), width: best.width, height: best.height,
                css_width: Math.round(best.clientWidth || r.width), css_height: Math.round(best.clientHeight || r.height),
                x: r.left + r.width / 2, y: r.top + r.height / 2};
  } else {
    out.data = document.body ? document.body.innerHTML : document.documentElement.outerHTML;
    const named = /board|grid|arena|field|game|play|maze|stage|world|snake|tetris|pong/i;
    let best = null, ba = 0;
    for (const e of (document.body ? document.body.querySelectorAll('*') : [])) {
      if (['SCRIPT', 'STYLE', 'BUTTON', 'INPUT', 'CANVAS'].includes(e.tagName)) continue;
      const name = (e.id || '') + ' ' + (typeof e.className === 'string' ? e.className : '');
      if (!named.test(name)) continue;
      const r = rect(e), a = r.width * r.height;
      if (a > ba) { best = e; ba = a; }
    }
    if (best) {
      const r = rect(best);
      const what = best.id ? '#' + best.id : best.tagName.toLowerCase() + '.' + String(best.className).trim().split(/\s+/)[0];
      out.area = {kind: 'board', what: 'the game board (' + what + ')', width: Math.round(r.width), height: Math.round(r.height),
                  css_width: Math.round(r.width), css_height: Math.round(r.height), x: r.left + r.width / 2, y: r.top + r.height / 2};
    }
  }
  return out;
}
"""

# Visible, enabled buttons inside the viewport: where to click them.
BUTTONS_JS = r"""
() => Array.from(document.querySelectorAll('button, input[type=button], input[type=submit], input[type=reset], [role=button]'))
  .map(b => { const r = b.getBoundingClientRect();
              return {x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height, disabled: !!b.disabled,
                      text: (b.innerText || b.value || b.getAttribute('aria-label') || '').trim().slice(0, 40)}; })
  .filter(b => b.w > 0 && b.h > 0 && !b.disabled && b.x >= 0 && b.y >= 0 && b.x < innerWidth && b.y < innerHeight)
  .slice(0, 20)
"""


def chromium_path() -> str:
    for cand in (os.environ.get("SPARKCODE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise SparkcodeError("no Chromium found for checking web pages: install Debian's `chromium` package "
                         "(apt-get install chromium) or set SPARKCODE_CHROMIUM to its path")


def available() -> bool:
    """Whether pages can be checked here (playwright importable, a Chromium binary present)."""
    try:
        chromium_path()
    except SparkcodeError:
        return False
    return importlib.util.find_spec("playwright") is not None


# ---- a check in a child process, with a hard timeout --------------------------------------------

def run_child(module: str, args: list[str], timeout_s: float) -> dict | None:
    """Run ``python -m module --json --chromium EXE ARGS`` and return the JSON object its last line
    prints; None if it ran past `timeout_s` (it and its Chromium are killed)."""
    if importlib.util.find_spec("playwright") is None:
        raise SparkcodeError(PLAYWRIGHT_MISSING)
    cmd = [sys.executable, "-m", module, "--json", "--chromium", chromium_path(), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    finally:
        _kill_group(proc)  # chromium helpers left behind, if any
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise SparkcodeError(f"the browser check failed ({type(e).__name__}): {(err or out)[-1500:]}") from None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


# ---- one load of a page (runs in the child) ---------------------------------------------------------

def frame_hash(snap: dict | None) -> str | None:
    if snap is None:
        return None
    return hashlib.sha1(snap["data"].encode()).hexdigest()[:12]


class PageKeepsReloading(Exception):
    pass


def is_navigation(e: Exception) -> bool:
    msg = str(e)
    return "Execution context was destroyed" in msg or "navigation" in msg.lower() and "interrupted" in msg.lower()


_FRAME = re.compile(r"^\s*at (?:(?P<fn>[\w$.<>]+) \()?(?P<url>file://[^\s()]+?):(?P<line>\d+):\d+\)?\s*$", re.M)


@functools.lru_cache(maxsize=16)
def _source_lines(path: Path, mtime_ns: int) -> tuple[str, ...]:
    """A page's lines, read once per version (an error thrown in every frame is placed every frame)."""
    return tuple(path.read_text(errors="replace").splitlines())


def place(stack: str) -> str:
    """Where in the workspace's own files a JavaScript error was thrown, from its stack: the
    innermost frame in a file: URL, as "in checkCollision(), index.html line 86: `if (head.x …`"
    (line numbers of an inline script count from the top of the HTML file). "" if none."""
    m = _FRAME.search(stack or "")
    if not m:
        return ""
    path, line = Path(unquote(urlparse(m["url"]).path)), int(m["line"])
    try:
        source = _source_lines(path, path.stat().st_mtime_ns)[line - 1].strip()
    except (OSError, IndexError):
        source = ""
    if len(source) > 120:
        source = source[:117] + "..."
    fn = f"in {m['fn']}(), " if m["fn"] else ""
    return f"{fn}{path.name} line {line}" + (f": `{source}`" if source else "")


class Load:
    """One load of the page in a fresh browser context: on a paused fake clock (``fake_clock``),
    or in real time. Collects errors, blocked requests, dialogs and the page's own reloads."""

    def __init__(self, browser, url: str, op_timeout_s: float, fake_clock: bool = True):
        self.fake_clock = fake_clock
        self.errors: list[dict] = []  # {"error", "at_s", "after_dialog", "doing", "place"}
        self.blocked: list[str] = []
        self.dialogs: list[dict] = []  # {"type", "message", "at_s"}
        self.loads = 0  # load events; more than one: the page reloaded itself (or a form navigated)
        self.t_ms = 0  # virtual time played (fake clock) or time waited (real time)
        self._t_start = time.perf_counter()
        self._dialog_last = ""  # the last thing that happened was this kind of dialog ("alert")
        self.doing = ""  # what the player is doing now, for the errors it causes ("clicking the “Add” button")
        self.ctx = browser.new_context(viewport=VIEWPORT)
        self.ctx.route("**/*", self._route)
        if fake_clock:
            self.ctx.clock.install(time=T0_S)
            self.ctx.clock.pause_at(T0_S)
        self.ctx.add_init_script(INIT_JS)  # after the clock: its timer guard wraps the fake timers
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(op_timeout_s * 1000)
        self.page.on("pageerror", lambda e: self._error(f"{e.name or 'Error'}: {e.message}".strip(), e.stack or ""))
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)
        self.page.on("load", lambda *_: self._loaded())
        self.page.goto(url, wait_until="load", timeout=op_timeout_s * 1000)
        self.run(100)  # let the first timers and animation frames run

    @property
    def at_s(self) -> float:
        return round(self.t_ms / 1000 if self.fake_clock else time.perf_counter() - self._t_start, 2)

    @property
    def reloads(self) -> int:
        return max(0, self.loads - 1)

    def _loaded(self) -> None:
        self.loads += 1

    def _error(self, text: str, stack: str = "") -> None:
        self.errors.append({"error": text, "at_s": self.at_s, "after_dialog": self._dialog_last, "doing": self.doing,
                            "place": place(stack)})

    def _console(self, msg) -> None:
        if msg.type == "error":
            self._error(f"console.error: {msg.text}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append({"type": dialog.type, "message": dialog.message[:200], "at_s": self.at_s})
        self._dialog_last = dialog.type
        try:
            dialog.accept()
        except Exception:  # the page went away meanwhile
            pass

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _nav_safe(self, fn, *args):
        """Call fn; if the page navigated away meanwhile (a game that reloads itself to restart),
        wait for the new document and call it again. A page that never settles is an error."""
        from playwright.sync_api import Error as PlaywrightError

        for _ in range(MAX_RELOADS):
            try:
                return fn(*args)
            except PlaywrightError as e:
                if not is_navigation(e):
                    raise
                try:
                    self.page.wait_for_load_state("load")
                except PlaywrightError as again:
                    if not is_navigation(again):
                        raise
        raise PageKeepsReloading(f"the page reloaded itself {self.reloads} times and never settled")

    def run(self, ms: int) -> None:
        """Let `ms` pass: advance the fake clock (an exception thrown by a timer or animation frame
        is a page error), or wait in real time."""
        from playwright.sync_api import Error as PlaywrightError

        self.t_ms += ms
        if not self.fake_clock:
            self._nav_safe(self.page.wait_for_timeout, ms)
            return
        try:
            self._nav_safe(self.page.clock.run_for, ms)
        except PlaywrightError as e:
            msg = str(e).strip()
            if not msg.startswith("Clock.run_for:"):
                raise
            text, _, stack = msg.removeprefix("Clock.run_for:").strip().partition("\n")
            self._error(text, stack)

    def snap(self) -> dict | None:
        return self._nav_safe(self.page.evaluate, SNAPSHOT_JS)

    def evaluate(self, js: str, arg=None):
        """Run `js` (a function of `arg`) in the page, through its reloads."""
        return self._nav_safe(self.page.evaluate, js, arg)

    def frame(self) -> str | None:
        return frame_hash(self.snap())

    def click(self, x: float, y: float) -> None:
        self._dialog_last = ""
        self._nav_safe(self.page.mouse.click, x, y)

    def click_area(self, snap: dict | None) -> None:
        """Click the play area's centre (or the page's)."""
        area = (snap or {}).get("area")
        if area and area["css_width"] > 0 and area["css_height"] > 0:
            self.click(area["x"], area["y"])
        else:
            self.click(VIEWPORT["width"] / 2, VIEWPORT["height"] / 2)

    def press(self, key: str) -> None:
        self._dialog_last = ""
        self._nav_safe(self.page.keyboard.press, key)

    def key(self, key: str, down: bool) -> None:
        self._dialog_last = ""
        self._nav_safe(self.page.keyboard.down if down else self.page.keyboard.up, key)

    def start(self, snap: dict | None) -> None:
        """Click the play area and press Space and Enter: some games wait for a start key."""
        self.click_area(snap)
        self.press("Space")
        self.press("Enter")

    def buttons(self) -> list[dict]:
        return self._nav_safe(self.page.evaluate, BUTTONS_JS)

    def close(self) -> None:
        self.ctx.close()

    def name_missing_elements(self) -> None:
        """An error on null after a lookup that found nothing: say which element was missing."""
        nulls = [e for e in self.errors if _ON_NULL.search(e["error"])]
        if not nulls:
            return
        try:
            missing = self.page.evaluate("Array.from(window.__sparkMissing || [])")
        except Exception:  # the page is gone or navigated: no names to add
            return
        if missing:
            note = (f" — the script looked up {', '.join(missing[:5])}, which no element on the page matches "
                    "(add the element or fix the id)")
            for e in nulls:
                e["note"] = note


# ---- the old entry point -----------------------------------------------------------------------------

@dataclass
class AppCheck:
    """Deprecated shape of a page check, kept for callers of `check_html_app`; the verdict is
    `playtest.PageVerdict`."""
    ok: bool
    errors: list[str]
    canvas_changed: bool
    responds_to_keys: bool
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def check_html_app(path: Path | str, timeout_s: float = 60, game: bool = True) -> AppCheck:
    """Deprecated: `playtest.judge_page` (this only reshapes its verdict)."""
    from .playtest import judge_page

    v = judge_page(path, game=game, timeout_s=timeout_s)
    d = v.details
    return AppCheck(v.ok, list(d.get("errors", [])), bool(d.get("canvas_changed")),
                    bool(d.get("responds_to_keys")), d)
