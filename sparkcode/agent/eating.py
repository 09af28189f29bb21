"""Does eating work? The part of the playtest that steers a snake-like game to its food.

A person playing a snake game steers to the food and watches the snake grow and the score go
up. This module does the same on one fake-clock `Load`: it finds the game's state by name in
the page's scripts (a list of points named like a snake's body, a point named like food, a
number named like a score — top-level ``let``/``const``/``var`` or one level into a global
object such as ``game.snake``), steers the head to the food with the arrow keys, and reports
what changed when the head got there: did the food go, did the snake grow, did the score move.
It also times the head's moves (a snake moved on every animation frame, ~60 a second, is too fast
for anyone: the loop's ``requestAnimationFrame`` line is named), notes whether the snake turned
on the keys, and, when the game is over before it can be steered, which segments share a point and
the declaration that took the head object itself (``let head = snake[0]``). Once eating works it
asks for a score a person can read: between eating and the next move, the new score is in the
page's text or drawn on a canvas (`browser_check` records ``fillText``), or, with no score found
in the state, some text says "score".
`problems(result)` turns that into sentences for the coding model.

Pages whose state cannot be found this way (no such names) are not judged here: the result
says why, and the rest of the playtest judges them as before.
"""

from __future__ import annotations

import re

from .browser_check import Load
from .names import JS_RESERVED, NUMBER

EAT_S = 15  # virtual seconds of steering toward the food, at most
STEP_MS = 16  # how often the state is read while steering: about once an animation frame
WALL_S = 10  # wall time the steering may take at most (a page that never eats: ~9 s here)
AFTER_MOVES = 3  # head moves watched after eating, for the growth to show
MAX_MOVES_PER_S = 30  # faster than this no person can steer (an animation frame is 60 a second)
EARLY_MOVES = 2  # a game over within this many moves, never turned, was over before it could be steered
# (measured: the head-moved-in-place page ended after 0 moves in 3 plays of 4 and after 1 in the other)

SNAKE_NAME = re.compile(r"snake|body|segment|tail|trail|worm|serpent", re.I)
FOOD_NAME = re.compile(r"food|apple|fruit|pellet|treat|berry|cherry|prize|snack|bait|mouse|egg|target", re.I)
SCORE_NAME = re.compile(r"score|points", re.I)
NOT_SCORE = re.compile(r"best|high|max|top|record", re.I)
_IDENT = re.compile(r"\b[A-Za-z_$][\w$]*\b")

# Reads the values behind `names` in the page's global scope (lexical `let`/`const` too, hence
# eval) and one level into global objects: points, lists of points and numbers, nothing else.
READ_JS = r"""
(names) => {
  const point = v => {
    if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.x === 'number' && typeof v.y === 'number') return [v.x, v.y];
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') return [v[0], v[1]];
    return null;
  };
  const describe = v => {
    if (typeof v === 'number' && isFinite(v)) return {kind: 'number', value: v};
    const p = point(v);
    if (p) return {kind: 'point', xy: p};
    if (Array.isArray(v) && v.length > 0 && v.length <= 5000) {
      const pts = v.map(point);
      if (pts.every(q => q)) return {kind: 'points', xy: pts};
    }
    return null;
  };
  const out = {};
  for (const name of names) {
    let v;
    try { v = (0, eval)(name); } catch (e) { continue; }
    const d = describe(v);
    if (d) { out[name] = d; continue; }
    if (!name.includes('.') && v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Node) && v !== window) {
      for (const k of Object.keys(v).slice(0, 200)) {
        let d2 = null;
        try { d2 = describe(v[k]); } catch (e) {}
        if (d2) out[name + '.' + k] = d2;
      }
    }
  }
  return out;
}
"""

# What a person can read on the page: its text, and the text drawn on canvases (latest last).
SHOWN_JS = r"""
() => ({dom: document.body ? document.body.innerText.slice(0, 4000) : '', drawn: (window.__sparkDrawnText || []).slice(),
        canvas: !!document.querySelector('canvas')})
"""
FORGET_DRAWN_JS = "() => { if (window.__sparkDrawnText) window.__sparkDrawnText.length = 0; }"

_KEYWORDS = JS_RESERVED | set("""window document console Math JSON Date Array Object String Number
Boolean Symbol Error Promise Map Set requestAnimationFrame setTimeout setInterval clearTimeout clearInterval
addEventListener alert confirm prompt location event e i j k x y""".split())


def names_in(scripts: str) -> list[str]:
    """Identifiers the page's scripts use that could name game state (keywords and builtins left out)."""
    seen = dict.fromkeys(m.group(0) for m in _IDENT.finditer(scripts))
    return [n for n in seen if n not in _KEYWORDS and not n[0].isdigit()][:400]


def pick(state: dict) -> dict | None:
    """Which names hold the snake, the food and the score; None when there is no snake and food."""
    def best(kind: str, pattern: re.Pattern, exclude: re.Pattern | None = None) -> str | None:
        named = [n for n, d in state.items() if d["kind"] == kind and pattern.search(n.rsplit(".", 1)[-1])
                 and not (exclude and exclude.search(n.rsplit(".", 1)[-1]))]
        return min(named, key=len) if named else None

    snake = best("points", SNAKE_NAME)
    if snake is None:  # the only list of points, whatever its name
        lists = [n for n, d in state.items() if d["kind"] == "points"]
        snake = lists[0] if len(lists) == 1 else None
    food = best("point", FOOD_NAME)
    if snake is None or food is None:
        return None
    score = best("number", SCORE_NAME, NOT_SCORE)
    return {"snake": snake, "food": food, "score": score}


class _Reader:
    def __init__(self, load: Load, names: dict):
        self.load, self.names = load, names
        self.wanted = [n for n in names.values() if n]

    def read(self) -> dict | None:
        """{"body": [[x, y], ...], "food": [x, y], "score": n | None}, or None if the state is gone."""
        got = self.load.evaluate(READ_JS, self.wanted)
        body, food = got.get(self.names["snake"]), got.get(self.names["food"])
        if not body or not food or body["kind"] != "points" or food["kind"] != "point":
            return None
        score = got.get(self.names["score"]) if self.names["score"] else None
        return {"body": [tuple(p) for p in body["xy"]], "food": tuple(food["xy"]),
                "score": score["value"] if score and score["kind"] == "number" else None}


_KEY = {(1, 0): "ArrowRight", (-1, 0): "ArrowLeft", (0, 1): "ArrowDown", (0, -1): "ArrowUp"}


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


def _taken(food: tuple, old_body: list, new_body: list, head_at: int, reach: float) -> bool:
    """Whether the food at `food` went because the snake got there: its place is in the body, or
    the head is within one move of it."""
    if any(_same(food, p) for p in old_body + new_body):
        return True
    head = new_body[head_at]
    return max(abs(head[0] - food[0]), abs(head[1] - food[1])) <= reach + 1e-6


def _same(a: tuple, b: tuple) -> bool:
    return abs(a[0] - b[0]) < 1e-6 and abs(a[1] - b[1]) < 1e-6


def _choose(head: tuple, food: tuple, moving: tuple | None) -> tuple:
    """A direction toward the food that does not reverse into the body."""
    dx, dy = food[0] - head[0], food[1] - head[1]
    wants = [(_sign(dx), 0)] if dx else []
    wants += [(0, _sign(dy))] if dy else []
    if abs(dy) > abs(dx):
        wants.reverse()
    reverse = moving and (-moving[0], -moving[1])
    for w in wants:
        if w != reverse:
            return w
    if moving and moving[0]:  # the food is straight behind: turn aside first
        return (0, 1 if head[1] <= food[1] else -1)
    return (1 if head[0] <= food[0] else -1, 0)


def frame_loop(scripts: str) -> str | None:
    """The function a script runs on every animation frame (``requestAnimationFrame(gameLoop)``
    inside gameLoop), or None."""
    for m in re.finditer(r"requestAnimationFrame\(\s*([\w$]+)\s*\)", scripts):
        name = re.escape(m.group(1))
        if re.search(rf"function\s+{name}\s*\(|\b{name}\s*=\s*(?:function|\()", scripts[:m.start()]):
            return m.group(1)
    return None


def head_taken_as_is(scripts: str, snake: str) -> tuple[str, str, str, str] | None:
    """The declaration that names the snake's head object itself (``let head = snake[0];``), whose
    fields the code then changes in place, as (the line, ``let head``, ``head``, ``snake[0]``), or None."""
    body = re.escape(snake)
    end = rf"(?:0|{body}\.length\s*-\s*1)"
    for m in re.finditer(rf"(\b(?:let|var|const)\s+([\w$]+))\s*=\s*({body}\s*\[\s*{end}\s*\])\s*;?", scripts):
        var = re.escape(m.group(2))
        rest = scripts[m.end():m.end() + 1500]
        if re.search(rf"\b{var}\.[xy]\s*(?:[-+*/]?=(?!=)|\+\+|--)|(?:\+\+|--){var}\.[xy]\b", rest):
            return m.group(0).strip(), m.group(1), m.group(2), m.group(3)
    return None


def steer_to_food(load: Load, scripts: str) -> dict:
    """Steer the head to the food for up to `EAT_S` virtual seconds; what happened, as a dict."""
    found = load.evaluate(READ_JS, names_in(scripts))
    names = pick(found or {})
    if names is None:
        return {"checked": False, "why": "no list of points named like a snake and point named like food found"}
    reader = _Reader(load, names)
    result: dict = {"checked": True, "names": names}
    state = reader.read()
    if state is None:
        return {"checked": False, "why": "the game's state could not be read"}
    load.start(load.snap())
    head_at = 0  # which end of the list is the head: 0 or -1, learned from the first moves
    moving, pressed = None, None
    moved_at: list[float] = []  # virtual time of each head move (how many: the moves)
    reach = 0.0  # the longest head move seen between two reads
    reached = None  # the state when the head got to the food
    shown = None  # the page's text and the score, from eating to the next move
    loads = load.loads
    t_end = load.t_ms + EAT_S * 1000
    while load.t_ms < t_end:
        load.run(STEP_MS)
        if load.loads > loads or load.dialogs:
            result["ended"] = "the game ended (or the page reloaded) before the snake reached the food"
            result["last_body"] = [list(p) for p in state["body"][:50]]
            result["head_taken_as_is"] = head_taken_as_is(scripts, names["snake"])
            break
        new = reader.read()
        if new is None:
            result["ended"] = "the game's state went away while steering"
            break
        if new["body"] != state["body"]:
            old = set(state["body"])
            if len(new["body"]) > 1 and new["body"][-1] not in old and new["body"][0] in old:
                head_at = -1
            before, after = state["body"][head_at], new["body"][head_at]
            delta = (after[0] - before[0], after[1] - before[1])
            if delta != (0, 0):
                moved_at.append(load.at_s)
                now = (_sign(delta[0]), _sign(delta[1])) if (delta[0] == 0) != (delta[1] == 0) else moving
                if moving and now != moving:
                    result["turned"] = True  # only the steering keys turn a snake
                moving = now
            size = max(abs(delta[0]), abs(delta[1]))
            if not reach or size <= 4 * reach:  # (a jump across the board is a wrap-around, not a move)
                reach = max(reach, size)
        # the food went where the head was (food that moves by itself, away from the snake, is not eaten)
        taken = new["food"] != state["food"] and _taken(state["food"], state["body"], new["body"], head_at, reach)
        ate = (taken or len(new["body"]) > len(state["body"])
               or (new["score"] is not None and state["score"] is not None and new["score"] > state["score"]))
        if reached is None and ate:
            reached = {"state": state, "moves": len(moved_at), "at_s": load.at_s}
            load.evaluate(FORGET_DRAWN_JS)
        if reached is not None:
            if shown is None and len(moved_at) > reached["moves"]:
                # what a person reads in play, from eating to the next move (a game over drawn later says less)
                shown = {**(load.evaluate(SHOWN_JS) or {}), "score": new["score"]}
            if len(moved_at) - reached["moves"] >= AFTER_MOVES:
                state = new
                break
            state = new
            continue
        head = new["body"][head_at]
        if _same(head, new["food"]):  # the head is on the food: the next reads show whether it was eaten
            if "stood_on_food" not in result:
                result["stood_on_food"] = {"head": list(head), "food": list(new["food"]), "at_s": load.at_s}
        want = _choose(head, new["food"], moving)
        if _KEY[want] != pressed or (moving and want != moving):
            load.press(_KEY[want])
            pressed = _KEY[want]
        state = new
    result["moves"] = len(moved_at)
    if len(moved_at) >= 5 and moved_at[-1] > moved_at[0]:
        result["moves_per_s"] = round((len(moved_at) - 1) / (moved_at[-1] - moved_at[0]), 1)
        result["frame_loop"] = frame_loop(scripts)
    if reached is None:
        result["ate"] = False
        return result
    before = reached["state"]
    result.update(ate=True, at_s=reached["at_s"], length_before=len(before["body"]), length_after=len(state["body"]),
                  score_before=before["score"], score_after=state["score"])
    shown = shown or {**(load.evaluate(SHOWN_JS) or {}), "score": state["score"]}
    texts = [t for t in dict.fromkeys([shown.get("dom") or ""] + list(shown.get("drawn") or [])) if t.strip()]
    result.update(shown_text=texts[-12:], canvas=bool(shown.get("canvas")), score_in_play=shown["score"],
                  score_shown=score_shown(texts, before["score"], shown["score"]))
    return result


def score_shown(texts: list[str], before: float | None, after: float | None) -> bool:
    """Whether a person can read the score: with a score the code keeps and that went up, its new
    value is in the page's text or drawn on a canvas; without one found, some text says "score"."""
    if after is None or before is None or after == before:
        return any(SCORE_NAME.search(t) for t in texts)
    return any(float(n) == after for t in texts for n in NUMBER.findall(t))


def problems(result: dict) -> list[str]:
    """What the coding model must fix, from `steer_to_food`'s result."""
    if not result.get("checked"):
        return []
    found = _speed(result) + _eating(result)
    if not found and result.get("ate") and not result.get("score_shown", True):
        found = [_score_not_shown(result)]  # once the game plays: a score a person can read
    return found


def _speed(result: dict) -> list[str]:
    fast = result.get("moves_per_s") or 0
    if fast <= MAX_MOVES_PER_S:
        return []
    # measured: a head moved 20 px every animation frame left the board in 0.3 s
    loop = result.get("frame_loop")
    how = (f"`requestAnimationFrame({loop})` runs {loop}() on every frame, about 60 times a second: delete that "
           f"line, and where the loop is started (`{loop}();`) write `setInterval({loop}, 100);` instead "
           "(10 moves a second)" if loop else
           "Move it on a timer, e.g. setInterval(step, 100) for 10 moves a second, instead of on every animation frame")
    return [f"the snake moves {fast:.0f} times a second: far too fast for a person to steer. {how}"]


def _eating(result: dict) -> list[str]:
    if result.get("ate"):
        out = []
        n = result["length_before"]
        if result["length_after"] <= n:
            out.append(f"when the snake eats the food it does not grow: it was {n} segment(s) long before eating and "
                       f"{result['length_after']} after. On the move where the head reaches the food, add a segment "
                       "(do not remove the tail on that move)")
        before, after = result["score_before"], result["score_after"]
        if before is not None and after == before:
            out.append(f"eating the food does not change the score (it stayed {before:g}): add to the "
                       "score when the snake eats")
        return out
    if result.get("ended") and not result.get("turned") and result.get("moves", 0) <= EARLY_MOVES:
        out = ["the game ended before the snake could be steered: it is over as soon as it starts"]
        body = [tuple(p) for p in result.get("last_body") or []]
        twice = next((p for p in dict.fromkeys(body) if body.count(p) > 1), None)
        if twice:  # measured: `let head = snake[0]; head.x += 20; snake.unshift(head)` — every segment one object
            out[0] += (f": when it ended, {body.count(twice)} of the snake's {len(body)} segments were at the same "
                       f"point {twice}, so the head already touches its own body. Is the head moved in place and "
                       "added again? Each move must add a new head object, e.g. {x: head.x + dx, y: head.y + dy}")
            found = result.get("head_taken_as_is")
            if found:
                line, declared, var, segment = found
                out[0] += (f". `{line}` makes {var} the old head object itself, not a copy: changing {var}.x or "
                           f"{var}.y moves the old head too. Copy it: `{declared} = {{...{segment}}};`")
        return out
    stood = result.get("stood_on_food")
    if stood:
        return [f"the snake's head reached the food (head at {tuple(stood['head'])}, food at {tuple(stood['food'])}) "
                "and nothing happened: when the head reaches the food, the snake must eat it — grow, add to the "
                "score and place new food"]
    return []


def _score_not_shown(result: dict) -> str:
    """The sentence for a page whose score a person cannot read (measured: the README's snake kept none)."""
    name = (result.get("names") or {}).get("score") or "score"
    how = (f"draw it on every frame, after clearing the canvas: `ctx.fillText('Score: ' + {name}, 10, 20);`"
           if result.get("canvas") else f"put it in an element and update it when it changes: "
           f"`scoreElement.textContent = 'Score: ' + {name};`")
    said = [line.strip()[:60] for t in result.get("shown_text") or [] for line in t.splitlines()
            if SCORE_NAME.search(line)]
    score = result.get("score_in_play")
    if score is None:
        return ("the page shows no score: nothing on the page or drawn on the canvas says \"Score\". Keep a score "
                f"(`let score = 0;`, back to 0 in a new game), add 1 each time the snake eats, and {how}")
    seen = f" (the page shows {said[-1]!r})" if said else ""
    return (f"the score went from {result['score_before']:g} to {score:g} when the snake ate, but the "
            f"page does not show {score:g}{seen}: {how}")


def summary(result: dict) -> str:
    """A clause for the playtest's one-line summary ("" when eating was not checked)."""
    if not result.get("checked"):
        return ""
    if not result.get("ate"):
        return "steered to the food but did not reach it; "
    score = (f", score {result['score_before']:g} -> {result['score_after']:g}"
             if result["score_before"] is not None and result["score_after"] is not None else "")
    shown = "" if result.get("score_shown", True) else ", no score shown"
    return f"ate at {result['at_s']:g} s (length {result['length_before']} -> {result['length_after']}{score}{shown}); "
