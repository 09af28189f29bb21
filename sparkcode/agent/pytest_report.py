"""How a pytest run is shown to the model: one command line and one digest, for the user's tests
and the acceptance tests alike.

The digest is pytest's short traceback (`--tb=short`: each failing test's failing line and its
``E`` lines), read from the top, so the first failures are shown whole, with the summary line of
every failing test kept at the end. Lines that only restate a bound method (``where '' = <built-in
method strip …>``) are dropped. Measured on the 1.5B: the long traceback's last 2,500 characters
began in the middle of the second failure ("…ip()") and the model rewrote the same code three
times.
"""

from __future__ import annotations

import re
import sys

PYTEST = f"{sys.executable} -m pytest -q -rfE --tb=short --no-header -p no:cacheprovider"
_NOISE = re.compile(r"^E\s+\+.*<(?:built-in )?(?:method|bound method|function) ", re.M)
_SUMMARY = "short test summary info"


def digest(output: str, limit: int = 2500) -> str:
    """The failures first and whole while they fit, then each failing test's summary line."""
    text = "\n".join(line for line in output.strip().splitlines() if not _NOISE.match(line))
    if len(text) <= limit:
        return text
    head, sep, summary = text.partition(_SUMMARY)
    tail = (sep + summary)[-(limit // 2):] if sep else ""
    return head[: limit - len(tail)].rstrip() + "\n…\n" + tail


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
