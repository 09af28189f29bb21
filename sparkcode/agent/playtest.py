"""The one verdict on a generated web page: `judge_page(path, game)` plays it the way a person
would, and says whether it works and, if not, what to fix, in sentences the coding model can
act on. The agent's checks (`checks._html`) and the race's validity (`bench.race`) both call it
and nothing else. Driving Chromium (fake clock, seeded ``Math.random``, offline, dialogs, the
child process with its hard timeout) is `browser_check`'s.

Every page is loaded on a paused fake clock, its visible buttons are clicked once each, and it
is loaded again in real time for a few seconds: Playwright's fake clock can lose an error thrown
right after a dialog (``alert()``), real time does not. JavaScript errors (uncaught, thrown by a
timer or animation frame or key handler, ``console.error``) and blocked network requests fail
any page, and so does a canvas that never changes.

A game (``game=True``; the task text decides, `checks.is_game`) is played for at least
`PLAY_S` virtual seconds with the arrow keys:

- the opening moves: a load without keys and one with ArrowUp/Right/Down/Left pressed at the
  same virtual moments; different frames mean the keys did something (a third load without keys
  checks that the page is deterministic; if it is not, "a key listener is registered and the
  frames changed while the keys were pressed" stands in). Every load first clicks the play area
  and presses Space and Enter, in case the game waits for a start key;
- then the keyed load drives on: one arrow, then nothing, until the game ends: a dialog, the page
  reloading itself, or the frames staying the same for 1.5 s while no arrow key changes them
  either (a still scene that answers the arrows is only waiting). After a game over it must
  restart: it reloads itself, restarts by itself, or restarts on Space, Enter, R, a click on the
  play area or a "restart"/"play again" button, tried in that order;
- the play area (the largest canvas, or for a DOM game the element named like a game board) must
  be at least `MIN_AREA_PX` CSS px on each side; ``alert()``/``confirm()``/``prompt()`` is no way
  to end a game; and a game that never answers its keys is no game;
- in a new game, a snake is steered to its food (`eating`): eating must make it longer and, where
  the game keeps a score, add to it; it must move slowly enough to steer (at most
  `eating.MAX_MOVES_PER_S`), and a snake that turned on the arrow keys answers them. Once it
  plays, a person must be able to read the score: on the page or drawn on the canvas.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import SparkcodeError
from . import browser_check, eating
from .browser_check import ARROWS, CHROMIUM_ARGS, Load, PageKeepsReloading, chromium_path, frame_hash, run_child

PLAY_S = 30  # virtual seconds a game is played for, at least
STEP_MS = 250  # how often the frames are looked at while driving
FROZEN_STEPS = 6  # frames unchanged this many steps in a row (1.5 s): the game may have ended
DRIVE_MS = 8000  # longest a single arrow is left to drive the game before the next one
MIN_AREA_PX = 240
REALTIME_MS = 3000  # the real-time load's play
REALTIME_DIALOG_MS = 8000  # ... when the fake clock saw a dialog: until one comes in real time too, at most this
IDLE = 4  # opening frames[:IDLE] are before the start click/keys; frames[IDLE] right after; the rest after each arrow
RESTART_WORDS = re.compile(r"restart|again|new game|reset|retry|start|play", re.I)
NO_BROWSER = ("page not played in a browser: install Debian's chromium (apt-get install chromium) "
              "and playwright (pip install playwright)")


@dataclass
class PageVerdict:
    ok: bool
    problems: list[str]  # each a sentence the coding model can act on
    summary: str  # one line
    details: dict = field(default_factory=dict)
    played: bool = True  # the page was run in a browser

    def to_dict(self) -> dict:
        return asdict(self)


def judge_page(path: Path | str, game: bool = False, timeout_s: float = 60) -> PageVerdict:
    """Play the page at `path` in headless Chromium (see the module docstring) within `timeout_s`
    seconds of wall time. Raises SparkcodeError if Chromium or playwright is missing here."""
    t0 = time.perf_counter()
    path = Path(path).resolve()
    if not path.is_file():
        return PageVerdict(False, [f"{path.name} does not exist"], f"{path.name} does not exist", {}, played=False)
    if not browser_check.available():  # looked up when called: one answer for checks.py and this
        chromium_path()  # says how to install Chromium, if that is what is missing
        raise SparkcodeError(NO_BROWSER)
    args = ["--budget", str(timeout_s), *(["--game"] if game else []), str(path)]
    obj = run_child("sparkcode.agent.playtest", args, timeout_s)
    duration = round(time.perf_counter() - t0, 1)
    if obj is None:
        msg = (f"the page did not finish within {timeout_s:g} s: a loop that never ends, or timers/animation "
               "loops started again and again (setInterval or requestAnimationFrame called from inside the game loop)")
        return PageVerdict(False, [msg], msg[:160], {"timed_out": True, "duration_s": duration})
    v = PageVerdict(**obj)
    v.details["duration_s"] = duration
    return v


# ---- the child process: play the page ----------------------------------------------------------------

class _Played:
    """What happened over all loads of one page."""

    def __init__(self):
        self.errors: list[dict] = []
        self.dialogs: list[dict] = []
        self.blocked: list[str] = []
        self.loads: dict[str, dict] = {}

    def take(self, name: str, load: Load) -> None:
        load.name_missing_elements()
        self.errors += [dict(e, load=name) for e in load.errors]
        self.dialogs += [dict(d, load=name) for d in load.dialogs]
        self.blocked += load.blocked
        self.loads[name] = {"played_s": load.at_s, "reloads": load.reloads, "errors": len(load.errors),
                            "dialogs": len(load.dialogs)}


_ARROW_CODE = re.compile(r"Arrow(?:Up|Down|Left|Right)|\b(?:keyCode|which)\b|\bkey\s*(?:===?|==)\s*['\"][wasdWASD]['\"]")


def page_scripts(path: Path) -> str:
    """The page's text and the .js files beside it that it names, one after another."""
    texts = [path.read_text(errors="replace")]
    texts += [p.read_text(errors="replace") for p in path.parent.glob("*.js") if p.name in texts[0]]
    return "\n".join(texts)


def reads_arrow_keys(path: Path) -> bool:
    """Whether the page's scripts (inline, or .js files beside it) read the arrow keys (or WASD) at all."""
    return bool(_ARROW_CODE.search(page_scripts(path)))


def _opening(load: Load, keys: bool, start: bool = True) -> tuple[list[str | None], dict | None]:
    """Frame hashes: idle, then after the start click/keys, then after each arrow (pressed or not)."""
    snap = load.snap()
    frames = [frame_hash(snap)]
    for _ in range(3):  # idle: does it animate by itself?
        load.run(400)
        snap = load.snap()
        frames.append(frame_hash(snap))
    if start:
        load.start(snap)
    load.run(300)
    snap = load.snap()
    frames.append(frame_hash(snap))
    for key in ARROWS:
        if keys:
            load.key(key, down=True)
        load.run(150)
        if keys:
            load.key(key, down=False)
        load.run(250)
        snap = load.snap() or snap
        frames.append(frame_hash(snap))
    return frames, snap


def _answers_arrows(load: Load) -> bool:
    """Does pressing an arrow key change a still scene?"""
    base = load.frame()
    for key in ARROWS:
        load.press(key)
        load.run(300)
        if load.frame() != base:
            return True
    return False


def _restart(load: Load, over_frame: str | None) -> str | None:
    """Try what a person would to start again; what worked, or None."""
    for way in ("Space", "Enter", "r", "click", "button"):
        loads = load.loads
        if way == "click":
            label = "a click on the play area"
            load.click_area(load.snap())
        elif way == "button":
            buttons = [b for b in load.buttons() if RESTART_WORDS.search(b["text"])]
            if not buttons:
                continue
            label = f"the “{buttons[0]['text']}” button"
            load.click(buttons[0]["x"], buttons[0]["y"])
        else:
            label = "R" if way == "r" else way
            load.press(way)
        load.run(500)
        h1 = load.frame()
        load.run(500)
        h2 = load.frame()
        if load.loads > loads:
            return f"{label} (the page reloads)"
        if (h1 != over_frame or h2 != over_frame) and (h1 != h2 or _answers_arrows(load)):
            return label
    return None


def _drive(load: Load, deadline: float) -> dict:
    """Play on with the arrow keys to `PLAY_S` virtual seconds, through game overs and restarts."""
    overs: list[dict] = []
    answered = False  # a still scene changed when an arrow was pressed
    cut_short = False
    cycle = ("ArrowUp", "ArrowLeft", "ArrowDown", "ArrowRight")
    last, changed_at = load.frame(), load.at_s
    seen_dialogs, seen_loads = 0, load.loads  # a dialog in the opening moves: the game ended there
    i = 0
    while load.at_s < PLAY_S:
        if time.perf_counter() > deadline:
            cut_short = True
            break
        load.press(cycle[i % len(cycle)])
        i += 1
        same, how = 0, None
        for _ in range(DRIVE_MS // STEP_MS):
            load.run(STEP_MS)
            h = load.frame()
            if h == last:
                same += 1
            else:
                same, last, changed_at = 0, h, load.at_s
            if load.loads > seen_loads:
                how = "reload"
            elif len(load.dialogs) > seen_dialogs:
                how = "dialog"
            elif same >= FROZEN_STEPS:
                if _answers_arrows(load):
                    answered = True
                    last = load.frame()
                else:
                    how = "frozen"
            if how or same >= FROZEN_STEPS or load.at_s >= PLAY_S:
                break
        if how is None:
            continue
        d = load.dialogs[-1] if how == "dialog" else None
        over: dict = {"at_s": changed_at if how == "frozen" else d["at_s"] if d else load.at_s}
        if how == "reload":
            over["how"], over["restarted_by"] = "the page reloaded itself", "reloading itself"
        else:
            over["how"] = (f"{_a(d['type'])}() dialog: “{d['message'][:80]}”" if d else
                           "the frames stopped changing and the arrow keys no longer change them")
            by = None
            if d:  # after the dialog: reloading, or going on by itself?
                loads = load.loads
                load.run(500)
                h1 = load.frame()
                load.run(500)
                h2 = load.frame()
                if load.loads > loads:
                    by = "reloading itself"
                elif h1 != h2:
                    by = "itself, right after the dialog"
            over["restarted_by"] = by or _restart(load, load.frame())
        overs.append(over)
        last, changed_at = load.frame(), load.at_s
        seen_dialogs, seen_loads = len(load.dialogs), load.loads
        if over["restarted_by"] is None:
            break  # it is over for good: playing on shows nothing new
    return {"game_overs": overs, "answered_arrows_when_still": answered, "cut_short": cut_short}


def _real_time_play(load: Load, longer: bool) -> None:
    """Start, then ArrowUp and later ArrowLeft: into a wall, where games end (and break). `longer`
    (the fake clock saw a dialog): play on until a dialog comes here too and half a second after it."""
    load.start(load.snap())
    load.press("ArrowUp")
    limit = REALTIME_DIALOG_MS if longer else REALTIME_MS
    t, turned, seen = 0, False, None
    while t < limit and (seen is None or t < seen + 500):
        if not turned and t >= REALTIME_MS * 3 // 4:
            load.press("ArrowLeft")
            turned = True
        load.run(250)
        t += 250
        if seen is None and load.dialogs:
            seen = t


def _click_buttons(load: Load) -> list[str]:
    clicked = []
    for b in load.buttons():
        load.doing = f"clicking the “{b['text']}” button" if b["text"] else "clicking a button"
        load.click(b["x"], b["y"])
        load.run(200)
        clicked.append(b["text"])
    load.doing = ""
    load.run(500)
    return clicked


def _playtest(path: Path, chromium: str, budget_s: float, game: bool) -> PageVerdict:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    op_timeout = max(2.0, min(10.0, budget_s / 3))
    url = path.as_uri()
    played = _Played()
    details: dict = {"url": url, "game": game}
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            # 1. fake clock, no keys: does it run, animate, load offline? (a page: its buttons too)
            try:
                load = Load(browser, url, op_timeout)
                try:
                    quiet, snap = _opening(load, keys=False, start=game)
                    if not game:
                        details["buttons_clicked"] = _click_buttons(load)
                        after = load.frame()
                        quiet_all = quiet + [after]
                    else:
                        quiet_all = quiet
                finally:
                    played.take("quiet", load)
                    load.close()
            except PageKeepsReloading as e:
                return _verdict([str(e)], details, played, t0)
            except PlaywrightError as e:
                first = str(e).splitlines()[0]
                if "Timeout" in first:
                    return _verdict([f"the page did not finish loading within {op_timeout:g} s: a script that never "
                                     f"ends (an endless loop?) keeps it busy ({first})"], details, played, t0)
                return _verdict([f"the page did not load: {first}"], details, played, t0)
            area = (snap or {}).get("area")
            details["play_area"] = area and {k: area[k] for k in ("kind", "what", "width", "height", "css_width",
                                                                  "css_height")}
            details["canvases"] = (snap or {}).get("count", 0)
            details["key_listeners"] = (snap or {}).get("keyListeners", 0)
            details["blank"] = (snap or {}).get("blank")
            details["frames"] = quiet
            changed = len(set(quiet_all)) > 1
            responds = False
            if game:
                # 2. fake clock, arrow keys: the same opening moves, then played on through game overs
                try:
                    load = Load(browser, url, op_timeout)
                    try:
                        keyed, _ = _opening(load, keys=True)
                        details["frames_with_keys"] = keyed
                        reserve = 3 + eating.WALL_S + (3 if changed else 0) + REALTIME_DIALOG_MS / 1000
                        drive = _drive(load, deadline=t0 + budget_s - reserve - 2)
                        details.update(drive)
                        details["virtual_s"] = load.at_s
                    finally:
                        played.take("keys", load)
                        load.close()
                    # 2b. fake clock, a new game: steer the snake to its food; does it eat, grow and score?
                    load = Load(browser, url, op_timeout)
                    try:
                        details["eating"] = eating.steer_to_food(load, page_scripts(path))
                    finally:
                        played.take("eating", load)
                        load.close()
                    # 3. fake clock, no keys again: is the page deterministic?
                    again = quiet
                    if changed:
                        load = Load(browser, url, op_timeout)
                        try:
                            again, _ = _opening(load, keys=False)
                        finally:
                            played.take("quiet again", load)
                            load.close()
                except (PageKeepsReloading, PlaywrightError) as e:
                    problems.append(f"the page failed while being played: {str(e).splitlines()[0]}")
                    keyed, again, drive = quiet, quiet, {"game_overs": []}
                changed = changed or len(set(keyed)) > 1 or bool(drive["game_overs"])
                deterministic = again == quiet
                details["deterministic"] = deterministic
                if deterministic:
                    responds = keyed[IDLE + 1:] != quiet[IDLE + 1:]
                else:  # timing differs between loads: fall back to listeners + change while keys were pressed,
                    # and a script that reads the arrow keys at all (measured: a snake with no arrow handling, whose
                    # game-over code added a keydown listener per frame, passed this way once in two plays)
                    responds = (details["key_listeners"] > 0 and len(set(keyed[IDLE:])) > 1
                                and reads_arrow_keys(path))
                # (a snake steered to its food turned on the arrow keys: measured, one moving every animation
                # frame left the board before the opening's key presses and was told the keys changed nothing)
                responds = (responds or bool(drive.get("answered_arrows_when_still"))
                            or bool((details.get("eating") or {}).get("turned")))
            details["canvas_changed"] = changed
            details["responds_to_keys"] = responds
            # 4. real time, a few seconds: errors the fake clock can lose (thrown right after a dialog)
            try:
                load = Load(browser, url, op_timeout, fake_clock=False)
                try:
                    if game:  # steer one way, then another: into a wall, where games end (and break)
                        _real_time_play(load, longer=bool(played.dialogs))
                    else:
                        load.run(REALTIME_MS // 2)
                        _click_buttons(load)
                finally:
                    played.take("real time", load)
                    load.close()
            except (PageKeepsReloading, PlaywrightError) as e:
                problems.append(f"the page failed when played in real time: {str(e).splitlines()[0]}")
        finally:
            browser.close()
    return _verdict(problems, details, played, t0)


def _verdict(extra: list[str], details: dict, played: _Played, t0: float) -> PageVerdict:
    game = details.get("game")
    problems: list[str] = []
    errors: dict[str, dict] = {}
    for e in played.errors:
        errors.setdefault(e["error"][:2000], e)
    details["errors"] = list(errors)
    details["dialogs"] = played.dialogs
    details["blocked_requests"] = list(dict.fromkeys(played.blocked))
    details["loads"] = played.loads
    if errors:
        problems.append("JavaScript errors when the page runs in a browser: "
                        + " | ".join(_where(e) for e in list(errors.values())[:3])[:1200])
    if game and played.dialogs:
        d = played.dialogs[0]
        problems.append(f"uses {d['type']}() for game over: show the game-over message on the page instead (draw it "
                        f"on the canvas or in an element) and restart with a key (the {d['type']} said "
                        f"“{d['message'][:80]}”)")
    area = details.get("play_area")
    if game and area and (area["css_width"] < MIN_AREA_PX or area["css_height"] < MIN_AREA_PX):
        size = f"{area['css_width']}x{area['css_height']}"
        if area["kind"] == "canvas":
            default = (" (300x150 is a canvas's default size: set its width and height attributes)"
                       if (area["width"], area["height"]) == (300, 150) else "")
            problems.append(f"the play area is {size} CSS px: size the canvas (e.g. 400x400){default}")
        else:
            problems.append(f"the play area ({area['what']}) is {size} CSS px: make it at least "
                            f"{MIN_AREA_PX}x{MIN_AREA_PX} (e.g. 400x400)")
    dead = [o for o in details.get("game_overs", []) if o["restarted_by"] is None]
    if dead:
        o = dead[0]
        problems.append(f"the game ended at {o['at_s']:g} s ({o['how']}) and did not restart: pressing Space, "
                        "Enter or R and clicking the play area changed nothing. On game over show the message "
                        "and start a new game when Space or Enter is pressed")
    if area and area["kind"] == "canvas" and not details.get("canvas_changed"):
        problems.append("the canvas never changes after the page loads: start the loop/animation on load")
    elif game and details.get("canvas_changed") is not None and not details.get("responds_to_keys"):
        if details.get("key_listeners"):
            problems.append("pressing the arrow keys changes nothing on the canvas (does the game end at once, "
                            "or ignore the keys?)" if area and area["kind"] == "canvas" else
                            "pressing the arrow keys changes nothing on the page (does the game end at once, "
                            "or ignore the keys?)")
        else:
            problems.append("the game has no keyboard controls: pressing the arrow keys changes nothing. Add a "
                            "keydown listener that steers it")
    problems += eating.problems(details.get("eating") or {})
    blocked = details["blocked_requests"]
    if blocked:
        problems.append(f"blocked a network request (a generated app must work offline): {', '.join(blocked[:3])}")
    problems += extra
    problems = list(dict.fromkeys(problems))
    details["play_s"] = round(time.perf_counter() - t0, 1)
    return PageVerdict(not problems, problems, _summary(problems, details), details)


def _where(e: dict) -> str:
    ctx = []
    if e.get("load") == "real time":
        ctx.append(f"at {e['at_s']:g} s of real-time play")
    elif e.get("load"):
        ctx.append(f"at {e['at_s']:g} s")
    if e.get("doing"):
        ctx.append(e["doing"])
    if e.get("after_dialog"):
        ctx.append(f"right after {_a(e['after_dialog'])}() dialog")
    where = f" {e['place']}" if e.get("place") else ""
    return e["error"] + where + e.get("note", "") + (f" ({', '.join(ctx)})" if ctx else "")


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _summary(problems: list[str], d: dict) -> str:
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return f"{len(problems)} problem(s): {problems[0][:160]}{more}"
    area = d.get("play_area")
    what = f"{area['css_width']}x{area['css_height']} {area['kind']}" if area else "no canvas"
    if not d.get("game"):
        clicked = d.get("buttons_clicked") or []
        anim = (", animates" if d.get("canvas_changed") else ", still") if area and area["kind"] == "canvas" else ""
        return f"loads without errors ({what}{anim}; {len(clicked)} button(s) clicked)"
    overs = d.get("game_overs", [])
    ways = sorted({o["restarted_by"] for o in overs})
    ended = (f"game over {len(overs)}x, restarted by {', '.join(ways)}" if overs else "no game over")
    return (f"played {d.get('virtual_s', 0):g} s with the arrow keys: {what} answers the keys; {ended}; "
            f"{eating.summary(d.get('eating') or {})}no errors")


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m sparkcode.agent.playtest",
                                 description="Play a web page in headless Chromium and say whether it works.")
    ap.add_argument("path")
    ap.add_argument("--game", action="store_true", help="a game: play it with the arrow keys")
    ap.add_argument("--budget", type=float, default=60, help="seconds of wall time for the whole check")
    ap.add_argument("--chromium", default=None)
    ap.add_argument("--json", action="store_true", help="print one line of JSON (used by judge_page)")
    args = ap.parse_args(argv)
    if args.json:
        v = _playtest(Path(args.path).resolve(), args.chromium or chromium_path(), args.budget, args.game)
        print(json.dumps(v.to_dict()))
    else:
        v = judge_page(args.path, game=args.game, timeout_s=args.budget)
        print(("OK: " if v.ok else "NOT OK: ") + v.summary + f" [{v.details.get('duration_s')} s]")
        for pr in v.problems:
            print("  - " + pr)
    return 0 if v.ok else 1


if __name__ == "__main__":
    sys.exit(main())
