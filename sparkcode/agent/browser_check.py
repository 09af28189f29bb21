"""Does a generated web page actually work? Load it in headless Chromium and play it.

`check_html_app(path)` opens the file (``file://``) in Debian's chromium through Playwright and
reports JS errors (uncaught exceptions and ``console.error``), whether the largest canvas (if
any) changes over time, and whether the arrow keys change what it shows.

How "the keys change it" is told apart from plain animation: the page runs on a paused fake
clock (Playwright's ``clock``: Date, timers, requestAnimationFrame and performance.now) with a
seeded ``Math.random``, so two loads of the same page play out frame for frame alike. It is
loaded once without arrow keys and once with ArrowUp/Right/Down/Left pressed at the same
virtual moments; different frames mean the keys did something. A third load without keys
checks that the page really is deterministic; when it is not (it reads real time some other
way), key response falls back to "a key listener is registered and the canvas changed while
the keys were pressed", and ``details["deterministic"]`` says so. Every load first clicks the
canvas and presses Space and Enter, in case a game waits for a start key.

Frames are read with ``canvas.toDataURL()``; WebGL contexts are created with
``preserveDrawingBuffer`` so they can be read too. Requests other than file:/data:/blob: are
blocked (a generated app must work offline); they show up as errors.

The browser runs in a child process with a hard timeout, so a page stuck in an endless loop
cannot hang the caller. Needs the ``playwright`` package (>= 1.45, for the clock) and a
Chromium binary (``/usr/bin/chromium`` from Debian, or ``$SPARKCODE_CHROMIUM``); never runs
``playwright install``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import SparkcodeError

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARROWS = ("ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft")
T0_S = 1_700_000_000  # the fake clock's start: the same instant in every load
VIEWPORT = {"width": 960, "height": 720}

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
  window.__sparkKeyListeners = 0;
  const add = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type, ...rest) {
    if (type === 'keydown' || type === 'keyup' || type === 'keypress') window.__sparkKeyListeners++;
    return add.call(this, type, ...rest);
  };
})();
"""

# The largest canvas (by displayed area, then by pixel count): its pixels, size and centre.
SNAPSHOT_JS = r"""
() => {
  const all = Array.from(document.querySelectorAll('canvas'));
  if (!all.length) return null;
  const score = c => { const r = c.getBoundingClientRect(); return [r.width * r.height, c.width * c.height]; };
  let best = all[0], bs = score(all[0]);
  for (const c of all.slice(1)) { const sc = score(c); if (sc[0] > bs[0] || (sc[0] === bs[0] && sc[1] > bs[1])) { best = c; bs = sc; } }
  const r = best.getBoundingClientRect();
  let data, blank = null;
  try {
    data = best.toDataURL();
    const empty = document.createElement('canvas'); empty.width = best.width; empty.height = best.height;
    blank = data === empty.toDataURL();
  } catch (e) { data = 'unreadable: ' + e.name; }
  const keyProps = [window, document, document.body].some(t => t && (t.onkeydown || t.onkeyup || t.onkeypress));
  return {data, blank, count: all.length, width: best.width, height: best.height,
          x: r.left + r.width / 2, y: r.top + r.height / 2, visible: r.width > 0 && r.height > 0,
          keyListeners: window.__sparkKeyListeners + (keyProps ? 1 : 0)};
}
"""


@dataclass
class AppCheck:
    ok: bool
    errors: list[str]
    canvas_changed: bool
    responds_to_keys: bool
    details: dict = field(default_factory=dict)

    def summary(self) -> str:
        if self.errors:
            return f"{len(self.errors)} error(s): {self.errors[0][:200]}"
        if not self.details.get("canvas"):
            return "loaded without errors (no canvas)"
        parts = ["canvas animates" if self.canvas_changed else "canvas never changes",
                 "responds to arrow keys" if self.responds_to_keys else "arrow keys change nothing"]
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


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


def check_html_app(path: Path | str, timeout_s: float = 20) -> AppCheck:
    """Load and play the page at `path`; see the module docstring for what is checked."""
    path = Path(path).resolve()
    if not path.is_file():
        return AppCheck(False, [f"{path} does not exist"], False, False, {})
    if importlib.util.find_spec("playwright") is None:
        raise SparkcodeError("checking web pages needs the `playwright` package (pip install 'playwright>=1.45'); "
                             "its browser download is not needed, Debian's chromium is used")
    exe = chromium_path()
    cmd = [sys.executable, "-m", "sparkcode.agent.browser_check", "--json", "--chromium", exe,
           "--timeout", str(timeout_s), str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True, text=True)
    try:
        out, err = proc.communicate(timeout=timeout_s + 15)  # + browser start-up and the three loads' overhead
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return AppCheck(False, [f"the page did not finish within {timeout_s:g} s: a loop that never ends, or "
                                "timers/animation loops started again and again (setInterval or "
                                "requestAnimationFrame called from inside the game loop)"], False, False,
                        {"timed_out": True})
    finally:
        _kill_group(proc)  # chromium helpers left behind, if any
    try:
        return AppCheck(**json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError, TypeError) as e:
        raise SparkcodeError(f"the browser check failed ({type(e).__name__}): {(err or out)[-1500:]}") from None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


# ---- the child process: drive the browser ----------------------------------------------------

def _frame_hash(snap: dict | None) -> str | None:
    if snap is None:
        return None
    return hashlib.sha1(snap["data"].encode()).hexdigest()[:12]


class _Load:
    """One load of the page in a fresh browser context with a paused fake clock."""

    def __init__(self, browser, url: str, timeout_s: float):
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.ctx = browser.new_context(viewport=VIEWPORT)
        self.ctx.route("**/*", self._route)
        self.ctx.clock.install(time=T0_S)
        self.ctx.clock.pause_at(T0_S)
        self.ctx.add_init_script(INIT_JS)  # after the clock: its timer guard wraps the fake timers
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(timeout_s * 1000)
        self.page.on("pageerror", lambda e: self.errors.append(f"{e.name or 'Error'}: {e.message}".strip()))
        self.page.on("console", self._console)
        self.reloads = 0  # navigations the page made by itself (location.reload() on game over, say)
        self.page.goto(url, wait_until="load", timeout=timeout_s * 1000)
        self.run(100)  # let the first timers and animation frames run

    def _nav_safe(self, fn, *args):
        """Call fn; if the page navigated away meanwhile (a game that reloads itself to restart),
        wait for the new document and call it again. A page that never settles is an error."""
        from playwright.sync_api import Error as PlaywrightError

        for _ in range(MAX_RELOADS):
            try:
                return fn(*args)
            except PlaywrightError as e:
                if not _is_navigation(e):
                    raise
                self.reloads += 1
                try:
                    self.page.wait_for_load_state("load")
                except PlaywrightError as again:
                    if not _is_navigation(again):
                        raise
        raise PageKeepsReloading(f"the page reloaded itself {self.reloads} times and never settled")

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console.error: {msg.text}")

    def run(self, ms: int) -> None:
        """Advance the fake clock; an exception thrown by a timer or animation frame is a page error."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            self._nav_safe(self.page.clock.run_for, ms)
        except PlaywrightError as e:
            msg = str(e).strip()
            if not msg.startswith("Clock.run_for:"):
                raise
            self.errors.append(msg.removeprefix("Clock.run_for:").strip().splitlines()[0])

    def snap(self) -> dict | None:
        return self._nav_safe(self.page.evaluate, SNAPSHOT_JS)

    def start(self, snap: dict | None) -> None:
        """Click the canvas (or the page) and press Space and Enter: some games wait for a start key."""
        if snap and snap["visible"]:
            self._nav_safe(self.page.mouse.click, snap["x"], snap["y"])
        else:
            self._nav_safe(self.page.mouse.click, VIEWPORT["width"] / 2, VIEWPORT["height"] / 2)
        self._nav_safe(self.page.keyboard.press, "Space")
        self._nav_safe(self.page.keyboard.press, "Enter")

    def key(self, key: str, down: bool) -> None:
        self._nav_safe(self.page.keyboard.down if down else self.page.keyboard.up, key)

    def close(self) -> None:
        self.ctx.close()


MAX_RELOADS = 8


class PageKeepsReloading(Exception):
    pass


def _is_navigation(e: Exception) -> bool:
    msg = str(e)
    return "Execution context was destroyed" in msg or "navigation" in msg.lower() and "interrupted" in msg.lower()


def _play(browser, url: str, timeout_s: float, keys: bool) -> tuple[list[str | None], dict | None, list[str], list[str]]:
    """(frame hashes: idle then after start then after each arrow, last snapshot, errors, blocked urls)."""
    load = _Load(browser, url, timeout_s)
    try:
        frames, snap = [], load.snap()
        frames.append(_frame_hash(snap))
        for _ in range(3):  # idle: does it animate by itself?
            load.run(400)
            snap = load.snap()
            frames.append(_frame_hash(snap))
        load.start(snap)
        load.run(300)
        snap = load.snap()
        frames.append(_frame_hash(snap))
        for key in ARROWS:
            if keys:
                load.key(key, down=True)
            load.run(150)
            if keys:
                load.key(key, down=False)
            load.run(250)
            snap = load.snap() or snap
            frames.append(_frame_hash(snap))
        return frames, snap, load.errors, load.blocked
    finally:
        load.close()


IDLE = 4  # frames[:IDLE] are before the start click/keys; frames[IDLE] right after; the rest after each arrow


def _check(path: Path, chromium: str, timeout_s: float) -> AppCheck:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    url = path.as_uri()
    details: dict = {"url": url}
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            try:
                quiet, snap, errs, blocked = _play(browser, url, timeout_s, keys=False)
            except PageKeepsReloading as e:
                return AppCheck(False, [str(e)], False, False, details)
            except PlaywrightError as e:
                return AppCheck(False, [f"the page did not load: {str(e).splitlines()[0]}"], False, False, details)
            errors += errs
            errors += [f"blocked a network request (a generated app must work offline): {u}" for u in blocked]
            details["blocked_requests"] = blocked
            if snap is None:
                details["canvas"] = None
                return AppCheck(not errors, _dedupe(errors), False, False, details)
            details["canvas"] = {k: snap[k] for k in ("width", "height", "count", "visible")}
            details["frames"] = quiet
            details["key_listeners"] = snap["keyListeners"]
            details["blank"] = snap["blank"]
            canvas_changed = len(set(quiet)) > 1
            details["animates_before_start"] = len(set(quiet[:IDLE])) > 1
            try:
                played, _, errs, _ = _play(browser, url, timeout_s, keys=True)
                errors += errs
                again = quiet
                if canvas_changed:
                    again, _, errs, _ = _play(browser, url, timeout_s, keys=False)
                    errors += errs
            except (PageKeepsReloading, PlaywrightError) as e:
                return AppCheck(False, [f"the page failed on a second load: {str(e).splitlines()[0]}"],
                                canvas_changed, False, details)
            details["frames_with_keys"] = played
            deterministic = again == quiet
            details["deterministic"] = deterministic
            if deterministic:
                responds = played[IDLE + 1:] != quiet[IDLE + 1:]
            else:  # timing differs between loads: fall back to listeners + change while keys were pressed
                responds = snap["keyListeners"] > 0 and len(set(played[IDLE:])) > 1
        finally:
            browser.close()
    errors = _dedupe(errors)
    ok = not errors and (canvas_changed or responds)
    return AppCheck(ok, errors, canvas_changed, responds, details)


def _dedupe(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(x[:2000] for x in xs))


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m sparkcode.agent.browser_check",
                                 description="Load a web page in headless Chromium and report whether it works.")
    ap.add_argument("path")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--chromium", default=None)
    ap.add_argument("--json", action="store_true", help="print one line of JSON (used by check_html_app)")
    args = ap.parse_args(argv)
    if args.json:
        res = _check(Path(args.path).resolve(), args.chromium or chromium_path(), args.timeout)
        print(json.dumps(res.to_dict()))
    else:
        res = check_html_app(args.path, timeout_s=args.timeout)
        print(("OK: " if res.ok else "NOT OK: ") + res.summary())
        for e in res.errors:
            print("  " + e)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
