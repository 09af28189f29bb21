"""How a pytest run is shown to the model: one command line and one digest, for the user's tests
and the acceptance tests alike.

The digest is pytest's short traceback (`--tb=short`: each failing test's failing line and its
``E`` lines), read from the top, so the first failures are shown whole, with the summary line of
every failing test kept at the end. Lines that only restate a bound method (``where '' = <built-in
method strip …>``) are dropped. Measured on the 1.5B: the long traceback's last 2,500 characters
began in the middle of the second failure ("…ip()") and the model rewrote the same code three
times. The digest leads with plain words for each failing ``assert <value> == "<text>"``: what the
code gave, what the test wants exactly, and, where one ``print(...)`` of the code wrote it, that
line and the one to write instead (`text_mismatches`).
"""

from __future__ import annotations

import ast
import re
import sys

from .names import NUMBER

PYTEST = f"{sys.executable} -m pytest -q -rfE --tb=short --no-header -p no:cacheprovider"
_NOISE = re.compile(r"^E\s+\+.*<(?:built-in )?(?:method|bound method|function) ", re.M)
_SUMMARY = "short test summary info"


def digest(output: str, limit: int = 2500, sources: dict[str, str] | None = None) -> str:
    """The failures first and whole while they fit, then each failing test's summary line; before
    them, in plain words, each text the code gave where an assert wanted an exact one (and, given the
    code's `sources` by path, the print line that wrote it)."""
    text = "\n".join(line for line in output.strip().splitlines() if not _NOISE.match(line))
    plain = text_mismatches(text, sources or {})
    lead = "In plain words:\n" + "\n".join(f"- {p}" for p in plain) + "\n\n" if plain else ""
    limit -= len(lead)
    if len(text) <= limit:
        return lead + text
    head, sep, summary = text.partition(_SUMMARY)
    tail = (sep + summary)[-(limit // 2):] if sep else ""
    return lead + head[: limit - len(tail)].rstrip() + "\n…\n" + tail


_BLOCK = re.compile(r"^_{3,} (\S+) _{3,}$", re.M)


def text_mismatches(report: str, sources: dict[str, str] | None = None, most: int = 3) -> list[str]:
    """For failing ``assert <code's value> == "<literal text>"`` lines (either order) whose values
    fit on one line each: what the code gave and what the test wants, and how the two differ
    (other words around it, a number written otherwise). Measured: the 1.5B sent `Total sum: 60.0`
    back three times against pytest's diff of `assert r.stdout.strip() == "60.00"`."""
    out = []
    blocks = _BLOCK.split(report)
    for name, body in zip(blocks[1::2], blocks[2::2]):
        lines = body.splitlines()
        sides = next((c for c in map(_compared, lines) if c), None)
        minus = [ln[8:] for ln in lines if ln.startswith("E     - ")]
        plus = [ln[8:] for ln in lines if ln.startswith("E     + ")]
        if not sides or len(minus) != 1 or len(plus) != 1:
            continue
        left, right = sides
        if (left is None) == (right is None):
            continue  # wanted: exactly one side a literal text
        want, got = (left, minus[0]) if right is None else (right, plus[0])
        if want != (plus[0] if right is None else minus[0]):
            continue  # the diff does not show the literal as written: leave it to pytest's lines
        said = f"{name}: the code gave {got!r} where the test wants exactly {want!r}"
        printed = _printed_by(got, sources or {})
        instead = _instead(printed[3], want) if printed else ""
        if instead:  # measured: named with its replacement, the 1.5B mends the line; told only the texts, it does not
            said += f". {printed[0]} line {printed[1]} prints it: `{printed[2]}`{instead}"
        else:
            said += _how_they_differ(got, want)
        out.append(said)
        if len(out) >= most:
            break
    return out


def _printed_by(text: str, sources: dict[str, str]) -> tuple[str, int, str, list[str]] | None:
    """The ``print(...)`` call in `sources` whose output is `text`: (path, line, its code, the source
    of each argument that is not a literal text); None when no one call fits."""
    found = []
    for path, source in sources.items():
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
                    and node.args and not node.keywords):
                continue
            pattern, values = [], []
            for arg in node.args:
                parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
                piece = ""
                for part in parts:
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        piece += re.escape(part.value)
                    else:
                        piece += "(.+?)"
                        values.append(ast.unparse(part.value if isinstance(part, ast.FormattedValue) else part))
                pattern.append(piece)
            if re.fullmatch(" ".join(pattern), text.strip(), re.S):
                found.append((path, node.lineno, ast.get_source_segment(source, node) or ast.unparse(node), values))
    return found[0] if len(found) == 1 else None


def _instead(values: list[str], want: str) -> str:
    """The print that writes `want` from the one value the line prints, when `want` is a number."""
    nums = NUMBER.findall(want)
    if len(values) != 1 or nums != [want]:
        return ""
    return f": write `print({_written_like(want, values[0])})` instead"


def _written_like(number: str, expr: str) -> str:
    """Python that writes `expr` as `number` is written: with as many decimals, or as it is."""
    decimals = len(number.partition(".")[2])
    return f'f"{{{expr}:.{decimals}f}}"' if decimals else expr


def _compared(line: str) -> tuple[str | None, str | None] | None:
    """For a source line ``assert a == b``: each side's text if it is a string literal, else None."""
    if not line.lstrip().startswith("assert "):
        return None
    try:
        node = ast.parse(line.strip()).body[0]
    except SyntaxError:
        return None
    test = node.test if isinstance(node, ast.Assert) else None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return None
    return tuple(n.value.strip() if isinstance(n, ast.Constant) and isinstance(n.value, str) else None
                 for n in (test.left, test.comparators[0]))


def _how_they_differ(got: str, want: str) -> str:
    notes = []
    want_nums, got_nums = NUMBER.findall(want), NUMBER.findall(got)
    if want_nums == [want] and re.search(r"[A-Za-z]", got):
        notes.append(f"only {want}, with no other words on the line")
    if len(want_nums) == 1 and want_nums[0] not in got_nums:
        same = [n for n in got_nums if float(n) == float(want_nums[0])]
        decimals = len(want_nums[0].partition(".")[2])
        if same:
            notes.append(f"the number {same[0]} written as {want_nums[0]}"
                         + (f" ({decimals} decimals, e.g. {_written_like(want_nums[0], 'value')})" if decimals else ""))
    return ": " + "; ".join(notes) if notes else ""


def failed_count(output: str) -> int:
    """How many tests failed or errored, from pytest's closing line ("2 failed, 1 passed …")."""
    return sum(int(n) for n in re.findall(r"(\d+) (?:failed|errors?)\b", output.strip().splitlines()[-1])) \
        if output.strip() else 0


def failing_lines(output: str, test_file: str) -> dict[str, int]:
    """test name -> the line of `test_file` where it failed, from a `--tb=short` report."""
    out: dict[str, int] = {}
    for m in re.finditer(rf"^(?:\S*/)?{re.escape(test_file)}:(\d+): in (\w+)", output, re.M):
        out.setdefault(m.group(2), int(m.group(1)))
    return out


_SECTION = re.compile(r"^_{3,} (?:ERROR (?:at setup of |at teardown of |collecting )?)?(\S+?) _{3,}$", re.M)


def brief(report: str, limit: int = 4) -> list[str]:
    """One line per failing test of a `--tb=short` report: its name and its first ``E`` line, with
    no test code and no file path (what a fresh attempt is told: shown the tests' code or their path,
    the 1.5B wrote tests into the program file or into .sparkcode/)."""
    out = []
    marks = list(_SECTION.finditer(report))
    for m, nxt in zip(marks, marks[1:] + [None]):
        body = report[m.end(): nxt.start() if nxt else len(report)]
        e = next((ln[1:].strip() for ln in body.splitlines() if ln.startswith("E ") and ln[1:].strip()), "")
        name = m.group(1).rsplit("/", 1)[-1].rsplit("::", 1)[-1]
        out.append(f"{name}: {e[:200]}" if e else name)
    return out[:limit]


_FRAME = re.compile(r"^(\S+?):(\d+): in (\w+)$")
# errors in writing Python rather than failed checks (an assertion, pytest.raises' DID NOT RAISE)
_OWN_ERRORS = ("NameError", "TypeError", "AttributeError", "UnboundLocalError")


def own_errors(report: str, test_file: str, names: set[str]) -> dict[str, str]:
    """test name -> its error, for each failing test of a `--tb=short` report that broke inside its
    own code: every frame in `test_file`, a NameError/TypeError/AttributeError, on a line that uses
    none of `names` (what the tests import from the workspace, its modules and programs). Such a test
    fails the same whatever the code does (measured: `tmp_dir / "in.txt"` on the str of a
    TemporaryDirectory, `excinfo.returncode`: every candidate of a to-do CLI failed all 8 tests)."""
    out: dict[str, str] = {}
    marks = list(_SECTION.finditer(report))
    for m, nxt in zip(marks, marks[1:] + [None]):
        lines = report[m.end(): nxt.start() if nxt else len(report)].strip("\n").splitlines()
        frames = [i for i, ln in enumerate(lines) if _FRAME.match(ln)]
        errors = [ln[1:].strip() for ln in lines if ln.startswith("E ") and ln[1:].strip()]
        if not frames or not errors or not errors[0].startswith(_OWN_ERRORS):
            continue
        if not all(_FRAME.match(lines[i]).group(1).endswith(test_file) for i in frames):
            continue
        code = " ".join(ln for ln in lines[frames[-1] + 1:] if not ln.startswith("E ") and ln.strip().strip("^~"))
        if any(re.search(rf"(?<![\w.]){re.escape(n)}\b", code) for n in names):
            continue
        out[m.group(1).rsplit("::", 1)[-1]] = errors[0][:300]
    return out
