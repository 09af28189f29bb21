"""SEARCH/REPLACE edit blocks: parsing them out of model text and applying them to a file.

The format (after Aider's editblock coder; the code is ours)::

    path/to/file.py
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

Parsing is lenient where models are sloppy (5-9 marker characters, the block inside ```
fences, the path on the fence line or up to three lines above, a missing path meaning the
previous block's file) and strict where guessing would be dangerous: a block missing its
``=======`` or ``>>>>>>> REPLACE`` is an `EditParseError` naming the block and what is missing.

Applying tries, in order: an exact match (line endings aside); a match ignoring trailing
whitespace; a match ignoring a uniform indentation shift (the replacement is re-indented by
the same offset); the same three with leading/trailing blank lines of SEARCH dropped; and an
elided middle (a ``...`` line in both SEARCH and REPLACE: the parts around it are matched in
order, the middle is kept). Empty SEARCH appends (or creates). A SEARCH that matches more than
once, or not at all, is an `EditMatchError`; the no-match message quotes the file's closest
lines so the model can copy them and retry.
"""

from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass
from typing import Callable

from .workspace import ToolError

HEAD_RE = re.compile(r"^\s*<{5,9}\s*SEARCH\s*>?\s*$")
DIVIDER_RE = re.compile(r"^\s*={5,9}\s*$")
UPDATED_RE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*<?\s*$")
FENCE_RE = re.compile(r"^\s*(?:`{3,}|~{3,})\s*(.*?)\s*$")
_BARE_NAMES = frozenset({"Makefile", "Dockerfile", "Gemfile", "Rakefile", "Procfile", "Justfile",
                         "Jenkinsfile", "LICENSE", "Containerfile", "Vagrantfile"})
_DOTS = "..."


class EditParseError(ToolError):
    """Text that tries to be SEARCH/REPLACE blocks but is malformed."""


class EditMatchError(ToolError):
    """A SEARCH section that matches nowhere, or in more than one place."""


@dataclass
class EditBlock:
    path: str
    search: str
    replace: str


# ---- parsing --------------------------------------------------------------------------------

def parse_edit_blocks(text: str, default_path: str | None = None) -> list[EditBlock]:
    """Every SEARCH/REPLACE block in `text`, in order; [] when there are none.

    `default_path` names the file for blocks with no path of their own (before any block
    names one): the `edit_file` tool passes its `path` argument here.
    """
    lines = text.replace("\r\n", "\n").splitlines(keepends=True)
    blocks: list[EditBlock] = []
    i = 0
    lookback_floor = 0
    while i < len(lines):
        line = lines[i]
        n = len(blocks) + 1
        if UPDATED_RE.match(line):
            raise EditParseError(f"block {n}: found '>>>>>>> REPLACE' with no '<<<<<<< SEARCH' before it")
        if not HEAD_RE.match(line):
            i += 1
            continue
        path = _find_filename(lines, lookback_floor, i) or (blocks[-1].path if blocks else default_path)
        if not path:
            raise EditParseError(f"block {n}: no file path before '<<<<<<< SEARCH'; "
                                 "put the path alone on the line above it")
        where = f"block {n} ({path})"
        j = i + 1
        search: list[str] = []
        while j < len(lines) and not DIVIDER_RE.match(lines[j]):
            if HEAD_RE.match(lines[j]):
                raise EditParseError(f"{where}: missing '=======': a new '<<<<<<< SEARCH' starts "
                                     f"at line {j + 1} before this block's SEARCH section ended")
            if UPDATED_RE.match(lines[j]):
                raise EditParseError(f"{where}: missing '=======' between the SEARCH and REPLACE "
                                     f"sections ('>>>>>>> REPLACE' at line {j + 1} came first)")
            search.append(lines[j])
            j += 1
        if j >= len(lines):
            raise EditParseError(f"{where}: missing '=======' and '>>>>>>> REPLACE' after the SEARCH section")
        j += 1
        replace: list[str] = []
        while j < len(lines) and not UPDATED_RE.match(lines[j]):
            if HEAD_RE.match(lines[j]):
                raise EditParseError(f"{where}: missing '>>>>>>> REPLACE': a new '<<<<<<< SEARCH' "
                                     f"starts at line {j + 1} before this block was closed")
            if DIVIDER_RE.match(lines[j]):
                raise EditParseError(f"{where}: a second '=======' at line {j + 1}; "
                                     "end the REPLACE section with '>>>>>>> REPLACE'")
            replace.append(lines[j])
            j += 1
        if j >= len(lines):
            raise EditParseError(f"{where}: missing '>>>>>>> REPLACE' at the end of the block")
        blocks.append(EditBlock(path, "".join(search), "".join(replace)))
        i = j + 1
        lookback_floor = i
    return blocks


def _find_filename(lines: list[str], floor: int, head: int) -> str | None:
    """The path named on one of the (up to three) lines above a SEARCH marker, if any."""
    for k in range(head - 1, max(floor, head - 3) - 1, -1):
        raw = lines[k].strip()
        if not raw:
            continue
        fence = FENCE_RE.match(raw)
        if fence:
            rest = fence.group(1).split()
            if rest and _looks_like_path(_clean(rest[-1])):
                return _clean(rest[-1])
            continue  # ``` or ```python: keep looking above
        name = _clean(raw)
        return name if _looks_like_path(name) else None
    return None


def _clean(s: str) -> str:
    s = s.strip().rstrip(":").strip()
    s = s.lstrip("#").strip()
    for ch in ("**", "`", '"', "'", "*"):
        if len(s) > 2 * len(ch) and s.startswith(ch) and s.endswith(ch):
            s = s[len(ch):-len(ch)].strip()
    return s


def _looks_like_path(s: str) -> bool:
    if not s or len(s) > 255 or any(c.isspace() for c in s) or s[0] in "<=>":
        return False
    if s in _BARE_NAMES:
        return True
    return "/" in s or ("." in s.strip(".") and not s.endswith("."))


# ---- applying -------------------------------------------------------------------------------

def apply_edit(content: str, search: str, replace: str) -> str:
    """`content` with `search` replaced by `replace` (see the module docstring for the rules)."""
    return apply_edit_verbose(content, search, replace)[0]


def apply_edit_verbose(content: str, search: str, replace: str) -> tuple[str, str]:
    """Like `apply_edit`, also naming the strategy that matched ("exact", "indentation", ...)."""
    if not search.strip():
        if not replace:
            return content, "nothing to add"
        sep = "\n" if content and not content.endswith("\n") else ""
        return content + sep + replace, "append" if content else "create"
    lines = _lines(content)
    s_lines, r_lines = _lines(search), _lines(replace)
    result = _try_all(lines, s_lines, r_lines, 0)
    if result is not None:
        start, end, new, how = result
        return "".join(lines[:start] + new + lines[end:]), how
    elided = _try_elided(lines, s_lines, r_lines)
    if elided is not None:
        return "".join(elided), "elided middle"
    raise EditMatchError(_no_match_message(content, lines, s_lines, replace))


def _lines(text: str) -> list[str]:
    """Split on \\n only, keeping terminators, so "".join() gives `text` back exactly."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _bare(line: str) -> str:
    return line.rstrip("\n").rstrip("\r")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _find(lines: list[str], s_lines: list[str], key: Callable[[str], str], lo: int) -> list[int]:
    want = [key(x) for x in s_lines]
    m = len(want)
    keys = [key(x) for x in lines]
    return [s for s in range(lo, len(lines) - m + 1) if keys[s] == want[0] and keys[s:s + m] == want]


def _find_indented(lines: list[str], s_lines: list[str], lo: int) -> list[tuple[int, str, int]]:
    """Starts where s_lines match up to a uniform indent shift: (start, content prefix, search indent)."""
    nonblank = [x for x in s_lines if x.strip()]
    if not nonblank:
        return []
    dq = min(_indent(x) for x in nonblank)
    want = [x.rstrip()[dq:] if x.strip() else "" for x in s_lines]
    m = len(want)
    hits = []
    for s in range(lo, len(lines) - m + 1):
        window = lines[s:s + m]
        if any(bool(w.strip()) != bool(x.strip()) for w, x in zip(window, s_lines)):
            continue
        present = [w for w in window if w.strip()]
        dc = min(_indent(w) for w in present)
        if [w.rstrip()[dc:] if w.strip() else "" for w in window] == want:
            prefix = min(present, key=_indent)[:dc]
            hits.append((s, prefix, dq))
    return hits


def _ambiguous(starts: list[int], how: str) -> EditMatchError:
    shown = ", ".join(str(s + 1) for s in starts[:6]) + (", …" if len(starts) > 6 else "")
    extra = "" if how == "exact" else f" (matching {how})"
    return EditMatchError(f"the SEARCH text is ambiguous: it matches {len(starts)} places{extra}, "
                          f"starting at lines {shown}; include more surrounding lines so it matches once")


def _fit(window: list[str], new: list[str]) -> list[str]:
    """Give the replacement the matched lines' line endings and final-newline state."""
    if not new:
        return new
    crlf = window and window[0].endswith("\r\n")
    if crlf:
        new = [x[:-1] + "\r\n" if x.endswith("\n") and not x.endswith("\r\n") else x for x in new]
    eol = "\r\n" if crlf else "\n"
    if window and window[-1].endswith("\n") and not new[-1].endswith("\n"):
        new = new[:-1] + [new[-1] + eol]
    elif window and not window[-1].endswith("\n") and new[-1].endswith("\n"):
        new = new[:-1] + [new[-1].rstrip("\r\n")]
    return new


def _reindent(r_lines: list[str], prefix: str, dq: int) -> list[str]:
    delta = len(prefix) - dq
    out = []
    for x in r_lines:
        if not x.strip():
            out.append(x)
        elif delta >= 0:
            out.append(prefix[:delta] + x if len(prefix) >= delta else " " * delta + x)
        else:
            out.append(x[min(-delta, _indent(x)):])
    return out


def _try_substring(lines, s_lines, r_lines, lo) -> tuple[int, int, list[str], str] | None:
    """SEARCH as an exact piece of text that need not start or end on a line boundary."""
    needle = "".join(s_lines)
    offsets = [0]
    for x in lines[lo:]:
        offsets.append(offsets[-1] + len(x))
    text = "".join(lines[lo:])
    positions = [m.start() for m in re.finditer(re.escape(needle), text)]
    if not positions:
        return None
    to_line = lambda pos: bisect.bisect_right(offsets, pos) - 1  # noqa: E731
    if len(positions) > 1:
        raise _ambiguous([lo + to_line(p) for p in positions], "exact text")
    pos = positions[0]
    first, last = to_line(pos), to_line(pos + len(needle) - 1)
    before = text[offsets[first]:pos]
    after = text[pos + len(needle):offsets[last + 1]]
    return lo + first, lo + last + 1, _lines(before + "".join(r_lines) + after), "exact text"


def _try_strategies(lines, s_lines, r_lines, lo) -> tuple[int, int, list[str], str] | None:
    m = len(s_lines)
    for how, key in (("exact", _bare), ("trailing whitespace", str.rstrip)):
        starts = _find(lines, s_lines, key, lo)
        if len(starts) > 1:
            raise _ambiguous(starts, how)
        if starts:
            s = starts[0]
            return s, s + m, _fit(lines[s:s + m], list(r_lines)), how
        if how == "exact":
            found = _try_substring(lines, s_lines, r_lines, lo)
            if found is not None:
                return found
    hits = _find_indented(lines, s_lines, lo)
    if len(hits) > 1:
        raise _ambiguous([h[0] for h in hits], "indentation")
    if hits:
        s, prefix, dq = hits[0]
        return s, s + m, _fit(lines[s:s + m], _reindent(r_lines, prefix, dq)), "indentation"
    return None


def _try_all(lines, s_lines, r_lines, lo) -> tuple[int, int, list[str], str] | None:
    found = _try_strategies(lines, s_lines, r_lines, lo)
    if found is not None:
        return found
    lead = next((k for k, x in enumerate(s_lines) if x.strip()), len(s_lines))
    trail = next((k for k, x in enumerate(reversed(s_lines)) if x.strip()), 0)
    if not (lead or trail):
        return None
    core = s_lines[lead:len(s_lines) - trail]
    r = list(r_lines)
    r_lead = min(lead, next((k for k, x in enumerate(r) if x.strip()), len(r)))
    r = r[r_lead:]
    r_trail = min(trail, next((k for k, x in enumerate(reversed(r)) if x.strip()), len(r)))
    r = r[:len(r) - r_trail]
    found = _try_strategies(lines, core, r, lo)
    if found is not None:
        return found[0], found[1], found[2], found[3] + ", blank lines dropped"
    return None


def _split_dots(lines: list[str]) -> list[list[str]]:
    pieces: list[list[str]] = [[]]
    for x in lines:
        if x.strip() == _DOTS:
            pieces.append([])
        else:
            pieces[-1].append(x)
    return pieces


def _try_elided(lines, s_lines, r_lines) -> list[str] | None:
    s_pieces, r_pieces = _split_dots(s_lines), _split_dots(r_lines)
    if len(s_pieces) < 2 or len(s_pieces) != len(r_pieces):
        return None
    out = list(lines)
    cursor = 0
    for sp, rp in zip(s_pieces, r_pieces):
        if not any(x.strip() for x in sp):
            if any(x.strip() for x in rp):
                raise EditMatchError("the elided ('...') edit adds text next to a '...' with no SEARCH "
                                     "lines to anchor it; include the lines around it")
            continue
        try:
            found = _try_all(out, sp, rp, cursor)
        except EditMatchError as e:
            raise EditMatchError(f"in the part of an elided ('...') edit starting {_bare(sp[0])!r}: {e}") from e
        if found is None:
            return None
        start, end, new, _ = found
        out[start:end] = new
        cursor = start + len(new)
    return out


def _no_match_message(content: str, lines: list[str], s_lines: list[str], replace: str) -> str:
    if not lines:
        return "the SEARCH text was not found: the file is empty (use an empty SEARCH to add text)"
    note = ""
    if replace.strip() and replace in content:
        note = "\nNote: the REPLACE text is already in the file; this edit may have been applied already."
    best = _closest(lines, s_lines)
    if best is None:
        return ("the SEARCH text was not found, and nothing in the file resembles it; "
                "read the file and copy the lines exactly" + note)
    start, end, ratio = best
    quoted = "".join(lines[start:end])
    if not quoted.endswith("\n"):
        quoted += "\n"
    return (f"the SEARCH text was not found. The closest text in the file (lines {start + 1}-{end}, "
            f"{ratio:.0%} similar) is:\n```\n{quoted}```\n"
            "Copy the SEARCH lines exactly from the file (every character and space) and retry." + note)


def _closest(lines: list[str], s_lines: list[str], max_quote: int = 40) -> tuple[int, int, float] | None:
    """(start, end, similarity) of the window of the file most like the SEARCH lines."""
    m = max(1, min(len(s_lines), len(lines)))
    target = "".join(x.strip() + "\n" for x in s_lines)
    wanted = {x.strip() for x in s_lines if x.strip()}
    stripped = [x.strip() for x in lines]
    hits = [0]
    for x in stripped:
        hits.append(hits[-1] + (1 if x and x in wanted else 0))
    starts = range(0, len(lines) - m + 1)
    candidates = set(sorted(starts, key=lambda s: (-(hits[s + m] - hits[s]), s))[:8])
    first = next((x.strip() for x in s_lines if x.strip()), "")
    if first and len(lines) <= 20_000:
        offset = next(k for k, x in enumerate(s_lines) if x.strip())
        pool = {x: k for k, x in reversed(list(enumerate(stripped))) if x}
        for near in difflib.get_close_matches(first, list(pool), n=4, cutoff=0.4):
            candidates.add(min(max(pool[near] - offset, 0), len(lines) - m))
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(target)
    best: tuple[int, int, float] | None = None
    for s in sorted(candidates):
        matcher.set_seq1("".join(x + "\n" for x in stripped[s:s + m]))
        ratio = matcher.ratio()
        if best is None or ratio > best[2]:
            best = (s, min(s + m, s + max_quote), ratio)
    if best is None or best[2] < 0.3:
        return None
    return best


# ---- display --------------------------------------------------------------------------------

def unified_diff(old: str, new: str, path: str, context: int = 3) -> str:
    """A git-style unified diff of one file ("" when nothing changed)."""
    out = []
    for line in difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                     f"a/{path}", f"b/{path}", n=context):
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)
