"""Acceptance tests derived from the task statement: written by the model, run in the sandbox.

`AcceptanceTests` is the verifier that asks the model. The first time Python code changed and
compiles, the examples the task states in code are taken word for word (`examples.py`,
``.sparkcode/acceptance/test_stated.py``), and a separate short generation sees the task and
the workspace's names and signatures (`names.outline`) — never the code — and writes pytest
tests into ``.sparkcode/acceptance/test_task.py`` (stopped after `MAX_NEW_TESTS` tests). From then on every verification runs both;
a failing test goes back to the coding model with pytest's report.

Tests can be wrong too. Each failing test is remembered with the versions of the code it failed
on (a hash of the workspace's files); a test that has failed in ``review_after`` verifications
(on new versions, or on the same version the model stands by) is shown to the model again with
the task, the whole test file and the failures — every test due in one generation — and the
file is either kept or rewritten, at most `max_reviews` times per test. A test that breaks inside
its own code (`pytest_report.own_errors`) is not reviewed — no code can pass it — but written
again with its error shown, and disputed at once if it is still broken after that. A reviewed test that
then fails on `dispute_after` *different* versions of the code is *disputed*: it no longer
blocks the model, and the run cannot end "done" — it ends "unverified", naming the disputed
tests (the code or the tests may be wrong). A model that keeps rewriting the same wrong code
does not make a test disputed (measured: with two failures of any kind, correct tests were
disputed and runs ended early on buggy code).
Tests are never silently dropped; a demand for wording the task never gave (an error message
the model made up) is relaxed to "a message is there" (wording.py), with a note. A test file that does not parse or load is written again once. The tests get the usual imports (os, sys, subprocess, pytest…) put on top,
since small models forget them. Each test runs in its own copy of the workspace (`CONFTEST`).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import components
from ..backends.base import Backend, ChatRequest, Constraint, collect
from ..engine.sampling import SamplingParams
from ..engine.stats import Stats
from . import browser_check, prompts
from .checks import CheckResult, code_sources
from .examples import CALL_START, NOT_LITERAL, drop_contradicted, literal_value, stated_examples
from .imports import with_missing_imports
from .names import code_key, is_cli, outline, python_names, renames_in
from .pytest_report import PYTEST, digest, failing_lines, own_errors
from .rename import apply_renames
from .shell import Limits, run_command
from .verify import VerifyContext, past, raise_if_cut
from .wording import (drop_asserts, drop_made_up_raises, drop_raises, raises_of, relax_made_up_wording,
                      strip_expected_of_stripped)
from .workspace import SKIP_DIRS, Workspace

TEST_DIR = ".sparkcode/acceptance"
TEST_PATH = f"{TEST_DIR}/test_task.py"  # what the model wrote
STATED_PATH = f"{TEST_DIR}/test_stated.py"  # the task's own examples (examples.py), never reviewed
# What the test writer's reply must look like (an embedded engine enforces it token by token):
# one ```python block whose first definition is a test, after nothing but imports, decorators,
# comments and blank lines; a review may answer KEEP instead. Measured, bench tasks: for a new
# module the 1.5B wrote the module itself in 4 of its test-writing replies (rle twice in a row,
# durations twice: "import pytest" and then `def encode(text):`), each a generation lost.
_TEST_FILE_GBNF = r"""
file ::= "```python\n" preamble "def test_" body
preamble ::= (("import " | "from " | "#" | "@") [^\n]* "\n" | "\n")*
body ::= [^`]* "```"
"""
TEST_FILE = Constraint("root ::= file" + _TEST_FILE_GBNF)
TEST_FILE_OR_KEEP = Constraint('root ::= file | "KEEP" [^`]*' + _TEST_FILE_GBNF)
_BLOCK = re.compile(r"```(?:python|py)?[^\n]*\n(.*?)```", re.S)
_FAILED = re.compile(r"^(?:FAILED|ERROR) \S*?::(\w+)", re.M)
_PASSED = re.compile(r"^PASSED \S*?::(\w+)", re.M)
COLLECTION = "<collection>"
_SPARKCODE_ROOT = str(Path(__file__).resolve().parents[2])  # the conftest imports the page fixtures from here
_MISSING_NAME = re.compile(r"cannot import name '(\w+)'|No module named '(?:[\w.]*\.)?(\w+)'")


# The writer is asked for "2 to 6" tests; a reply is stopped after this many (measured, module-roman: 31 one-line
# tests of to_roman(1), to_roman(5)…, 700 tokens, 66 s of the run's 300; module-versions: 19)
MAX_NEW_TESTS = 8

HEADER = "import json\nimport os\nimport re\nimport subprocess\nimport sys\n\nimport pytest\n\n"

# Each acceptance test runs in its own copy of the workspace (the folder pytest starts in): a
# program that keeps state in the current folder (todo.json) starts every test afresh, and the
# user's workspace is never written by a test (measured: to-do tests saw each other's tasks and
# the run ended on a todo.json the tests had left). A large workspace runs in place.
CONFTEST = f"""import os
import shutil

import pytest

from sparkcode.agent.page_fixture import chromium, open_page, page  # noqa: F401 (tests of pages)

_ROOT = os.getcwd()
_SKIP = {sorted(SKIP_DIRS)!r}


def _small(root, max_files=2000, max_bytes=50 << 20):
    files = size = 0
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x not in _SKIP]
        files += len(names)
        size += sum(os.path.getsize(os.path.join(d, n)) for n in names if os.path.isfile(os.path.join(d, n)))
        if files > max_files or size > max_bytes:
            return False
    return True


_COPY = _small(_ROOT)  # measured once per pytest run, not once per test


@pytest.fixture(autouse=True)
def _own_copy_of_the_workspace(tmp_path, monkeypatch):
    if not _COPY:
        yield
        return
    for name in os.listdir(_ROOT):
        src = os.path.join(_ROOT, name)
        if name in _SKIP:
            continue
        if os.path.isdir(src):
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns(*_SKIP), symlinks=True)
        else:
            shutil.copy2(src, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    yield
"""


@dataclass
class _TestRecord:
    failed_on: list[str] = field(default_factory=list)  # the code version of each failing verification
    reviews: int = 0
    anchored: bool = False  # it failed on an assertion of a value the task states: never reviewed or disputed
    refuted: bool = False  # it fails on the original code, which the task says must keep working the same
    broken: str = ""  # its error, when it last failed inside its own code (`pytest_report.own_errors`)


class AcceptanceTests:
    name = "acceptance"

    def __init__(self, backend: Backend, max_tokens: int = 700, review_after: int = 2, max_reviews: int = 1,
                 dispute_after: int = 3,
                 speculate: str = "auto", note=lambda msg: None, log=lambda reply: None,
                 original: dict[str, bytes] | None = None, existing: set[str] | frozenset = frozenset()):
        """`original`: the workspace's text files before the run, when the task says the code must
        behave as before (`preserves_behaviour`): the tests are checked against it (`_against_original`).
        `existing`: the public names the workspace had before the run (a task that names one of them may
        only mention it; the new functions it names must be tested, `untested_functions`)."""
        self.backend = backend
        self.max_tokens = max_tokens
        self.deadline: float | None = None  # the run's wall-time limit (set from each VerifyContext)
        self.review_after = review_after
        self.max_reviews = max_reviews
        self.dispute_after = dispute_after
        self.speculate = speculate
        self.note = note
        self.log = log  # each generation's reply, for the session log
        self.stats: list[Stats] = []  # the generations this verifier asked for
        self.source: str | None = None
        self.stated: str | None = None
        self.gave_up: str | None = None
        self.records: dict[str, _TestRecord] = {}
        self.rewritten: list[str] = []
        self.original = original
        self.existing = set(existing)
        self._unloadable_on_original: set[str] = set()
        self._original_report = ""

    # ---- the Verifier protocol ----------------------------------------------------------------
    def verify(self, ctx: VerifyContext) -> list[CheckResult]:
        self.deadline = ctx.deadline
        if not tested_here(ctx) or any(not r.ok for r in ctx.earlier):
            return []  # nothing to run yet, or the code does not even compile: that goes back first
        if not any(p.endswith(".py") for p in ctx.changed) and not browser_check.available():
            return []  # a page and no browser: the page checks say what is missing
        hint = components.missing_hint("pytest")
        if hint:
            return [CheckResult("acceptance tests", True, "not run", missing=[hint])]
        if self.source is None and self.gave_up is None:
            self._write(ctx)
        if self.source is None and not self.stated:
            return [CheckResult("acceptance tests", True, "none could be written", missing=[f"acceptance tests: {self.gave_up}"])]
        result = self._run(ctx)
        # (between candidates no test changes: each is judged by the same tests)
        if not ctx.ranking and (self._rewrite_refuted(ctx) or (not result.ok and self._review(ctx, result.message))):
            result = self._run(ctx)
        untried, unused = self._gaps(ctx, self.source or "")
        if result.ok and untried:  # passing tests that never try what the task states verify less than asked
            shown = ", ".join(f'"{v}"' for v in untried[:6])
            result.missing.append(f"the acceptance tests never try the values the task states {shown}: what it says "
                                  "of them is not verified")
        if result.ok and unused:  # and tests that never call a function the task names verify nothing of it
            result.missing.append(f"the acceptance tests never call {', '.join(unused)}, which the task names: what "
                                  "it says of them is not verified")
        refuted = sorted(n for n, rec in self.records.items() if rec.refuted)
        if result.ok and refuted:  # set aside as wrong, and not replaced: less was checked than asked
            result.missing.append(f"acceptance tests {', '.join(refuted)} fail on the original code, which the task "
                                  "says must behave the same: set aside, so what they meant to check is not verified")
        return [result]

    # ---- writing ------------------------------------------------------------------------------
    def _ask(self, messages: list[dict], sampling: SamplingParams | None = None,
             constraint: Constraint = TEST_FILE, max_tests: int | None = None) -> str:
        """One generation of the test writer. With `max_tests`, new tests (not a rewrite of the file):
        the reply is stopped once it starts one test more, and ends after the first `max_tests`."""
        deadline = self.deadline
        parts: list[str] = []  # the reply so far
        request = ChatRequest(messages, max_tokens=self.max_tokens, sampling=sampling or SamplingParams(),
                              speculate=self.speculate, keep_cache=True, constraint=constraint,
                              should_stop=lambda: past(deadline) or (max_tests is not None and
                                                                     _count_tests("".join(parts)) > max_tests))
        done = collect(self.backend, request, on_text=parts.append)
        raise_if_cut(done.finish_reason, deadline)  # measured: the writer's second generation ran from 279 s to 360 s of 300
        self.stats.append(done.stats)
        self.log(done.text)
        if max_tests is not None and _count_tests(done.text) > max_tests:
            self.note(f"acceptance tests: the writer was stopped after {max_tests} tests")
            return first_tests(done.text, max_tests)
        return done.text

    def _write(self, ctx: VerifyContext) -> None:
        if self.stated is None:
            self.stated = stated_examples(ctx.task, ctx.ws)
            if self.stated:
                self._save(ctx.ws, self.stated, STATED_PATH)
        self.note("writing acceptance tests from the task statement")
        request = prompts.acceptance_request(ctx.task, outline(ctx.ws))
        system = {"role": "system", "content": prompts.acceptance_system(what_is_tested(ctx))}
        messages = [system, {"role": "user", "content": request}]
        for attempt in range(2):
            # a retry is sampled and does not see the refused reply: greedy and shown it, the 1.5B wrote
            # it again token for token, and sampled at 0.7 with it in view too (measured: a dict repeating
            # the key "the", in two fix-word-count runs, each ending unverified)
            reply = self._ask(messages, SamplingParams(temperature=0.7, top_p=0.95, seed=attempt) if attempt else None,
                              max_tests=MAX_NEW_TESTS)
            source, error = usable_tests(reply, ctx.ws, ctx.task)
            if source:
                # what is dropped first: a stated value only a dropped test tried is not covered (measured:
                # "The cat and the hat." was in a test with a repeated key alone, and no test took its place)
                source = self._ready(source, ctx.task)
                self._save(ctx.ws, self._cover(ctx, messages + [{"role": "assistant", "content": reply}], source))
                return
            messages = [system, {"role": "user", "content": request + "\n\n" + prompts.acceptance_retry(error)}]
        self.gave_up = f"the model's tests could not be used ({error})"

    def _cover(self, ctx: VerifyContext, messages: list[dict], source: str) -> str:
        """Values the task quotes are its examples, and the functions it names are what it asks for:
        tests that use none of some of them, or never call a new one, get one more generation to add
        them (measured: tests for to_roman/from_roman that never tried the stated invalid numerals
        "ABC" and "IIII" passed a from_roman that crashes on them)."""
        missing, unused = self._gaps(ctx, source)
        if not missing and not unused:
            return source
        self.note("acceptance tests: adding tests for " + "; ".join(
            ([f"the stated values {', '.join(repr(v) for v in missing[:5])}"] if missing else [])
            + ([f"{', '.join(unused)}, never called"] if unused else [])))
        ask = prompts.acceptance_cover(missing, unused)
        more, _ = parse_tests(self._ask(messages + [{"role": "user", "content": ask}], max_tests=MAX_NEW_TESTS))
        better = more and self._ready(with_new_tests(source, more), ctx.task)  # (`source` is ready: the new ones are made so)
        if not better or tests_the_workspace(better, ctx.ws, ctx.task):
            return source
        fewer = sum(map(len, self._gaps(ctx, better))) < len(missing) + len(unused)
        return better if fewer else source

    def _gaps(self, ctx: VerifyContext, source: str) -> tuple[list[str], list[str]]:
        """What tests `source` and the task's own examples (`self.stated`) leave untried: the values
        the task quotes and the new functions it names. One judgement for the writer's extra request
        (`_cover`) and for the verdict (measured: the task's examples already tried "" and "IIII", and
        the writer was asked for them again, 50 s of module-roman's 300)."""
        stated = self.stated or ""
        values = [v for v in uncovered_values(ctx.task, source)
                  if v in uncovered_values(ctx.task, stated, all_when_unparsed=True)]
        return values, untested_functions(ctx.task, f"{source}\n{stated}", ctx.ws, self.existing)

    def _save(self, ws: Workspace, source: str, rel: str = TEST_PATH) -> None:
        """Write `source` (for TEST_PATH: made `_ready` by the caller) with its header."""
        if not source.startswith(HEADER):
            source = HEADER + source
        if rel == TEST_PATH:
            self.source = source
        path = ws.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)

    def _ready(self, source: str, task: str) -> str:
        """The tests without the demands no right code can meet, each kind dropped or relaxed with a
        note (running it again on its result changes nothing)."""
        # (code that must behave as before may raise what the task never names: the original judges those)
        raises = (lambda s: (s, [])) if preserves_behaviour(task) else (lambda s: drop_made_up_raises(s, task))
        steps = [(lambda s: drop_contradicted(s, self.stated or ""),
                  "demand(s) the task's own examples contradict dropped ({firsts})"),
                 (lambda s: relax_made_up_wording(s, task),
                  "demand(s) of wording the task does not state relaxed to 'a message is there' ({first!r}…)"),
                 (raises, "demand(s) of an error the task never speaks of dropped ({firsts})"),
                 (drop_launch_errors, "demand(s) that starting the program raises {first} dropped (no program can "
                                      "make the test's own launch fail)"),
                 (drop_repeated_keys, "assert(s) comparing with a dict that repeats the key {first} dropped (Python "
                                      "keeps only its last value: no code can pass them)"),
                 (strip_expected_of_stripped, "text(s) compared with a stripped output stripped too ({first!r})")]
        for step, says in steps:
            source, found = step(source)
            if found:
                self.note(f"acceptance tests: {len(found)} "
                          + says.format(first=found[0], firsts=", ".join(map(str, found[:3]))))
        return fix_raises_around_a_child(declare_fixtures(source))

    # ---- running ------------------------------------------------------------------------------
    def _run(self, ctx: VerifyContext) -> CheckResult:
        conftest = ctx.ws.root / TEST_DIR / "conftest.py"
        if not conftest.is_file() or conftest.read_text() != CONFTEST:
            conftest.parent.mkdir(parents=True, exist_ok=True)
            conftest.write_text(CONFTEST)
        pages = any(p.endswith((".html", ".htm")) for p in ctx.ws.list_files())
        r = run_command(f"{PYTEST} --continue-on-collection-errors {TEST_DIR}", ctx.ws.root, timeout=ctx.timeout,
                        env_extra=_test_env(), limits=Limits(address_space=None) if pages else None)  # Chromium reserves far more than 2 GB
        r.output = r.output.replace(f"{ctx.ws.root}/", "")  # tests run in a copy: pytest names files absolutely
        if r.ok:
            fixed = f" (rewritten after review: {', '.join(self.rewritten)})" if self.rewritten else ""
            return CheckResult(TEST_PATH, True, f"acceptance tests pass{fixed}", behavioural=True)
        version = fingerprint(ctx.ws)
        failing, code_fault = self._failing(r.output, ctx)
        self._against_original(ctx, failing)
        left = {n for n in failing if not self.records.get(n, _TestRecord()).refuted}
        if failing and not left:  # every failing test is one the original code fails too (a refactor's)
            return CheckResult(TEST_PATH, True, "acceptance tests pass but for ones the original code fails",
                               behavioural=True)
        failing = left
        self._remember(failing, r.output, ctx, version)
        disputed = self._disputed(failing)
        if failing and failing <= set(disputed):  # reviewed, kept, and still failing: not obeyed forever
            return CheckResult(TEST_PATH, True, "acceptance tests pass but for disputed ones", behavioural=True,
                               missing=[f"acceptance tests {', '.join(sorted(failing))} fail on every version of the "
                                        "code even after review: the code or the tests may be wrong"])
        cases = len(failing - set(disputed))
        if COLLECTION in failing or code_fault:  # the tests do not even load: every one of them fails (ranks versions)
            cases = max(cases, _count_tests(self.source) + _count_tests(self.stated))
        report = digest(r.output, sources=code_sources(ctx.ws))
        return CheckResult(TEST_PATH, False, prompts.acceptance_failed(report), behavioural=True,
                           cases_failed=cases)

    def _failing(self, output: str, ctx: VerifyContext) -> tuple[set[str], bool]:
        """(the tests a run failed — `COLLECTION` when the file did not load — and whether the fault
        is the code's although the tests did not load)."""
        if f"ERROR collecting {TEST_DIR}/" not in output:
            return set(_FAILED.findall(output)) or {COLLECTION}, False
        # a test file does not load (the model's, or the task's own examples: measured, a class-wrapped
        # durations.py failed 2 tests while the 12 examples, which could not import parse_duration, went
        # uncounted, and it ranked best): their fault, unless they import a name the task states (the code
        # lacks it) or importing the code raised (measured: a candidate's rle.py raised at import, and the
        # tests, blamed, were written again twice, 46 s each)
        missing = _MISSING_NAME.findall(output)
        code_fault = bool(missing and all(_in_task(m, ctx.task) for m in missing)) or raised_in_code(output, ctx.ws)
        return (set() if code_fault else {COLLECTION}), code_fault

    def _remember(self, failing: set[str], output: str, ctx: VerifyContext, version: str) -> None:
        """Each failing test's record: the `version` of the code it failed on, whether it broke in its
        own code, whether the assertion that failed checks a value the task states."""
        lines = failing_lines(output, TEST_PATH)
        broken = own_errors(output, TEST_PATH, workspace_names(self.source or "", ctx.ws))
        for name in failing:
            rec = self.records.setdefault(name, _TestRecord())
            rec.failed_on.append(version)
            rec.broken = broken.get(name, "")
            rec.anchored = rec.anchored or (name in lines and asserts_stated_value(self.source or "", lines[name], ctx.task))

    def _disputed(self, failing: set[str]) -> list[str]:
        """Tests no longer obeyed: reviewed, never anchored to a stated value, and failing on
        `dispute_after` versions of the code — or still broken after their rewrite (no version of
        the code can pass them)."""
        return sorted(n for n, rec in self.records.items() if not rec.anchored and rec.reviews >= self.max_reviews
                      and (len(set(rec.failed_on)) >= self.dispute_after or (n in failing and rec.broken)))

    # ---- guarding against wrong tests ---------------------------------------------------------
    def _against_original(self, ctx: VerifyContext, failing: set[str]) -> None:
        """When the task says the code must behave as before, the original code is an oracle: a
        failing test that the original (with the task's renames applied) also fails is wrong and is
        set aside; one the original passes is right and is never disputed. Tests the original cannot
        even load (new modules, new names) are not judged (measured: a test calling
        `daily_report([10, 20, 30]) == 60` on a dict-taking function made the model break a correct
        report.py)."""
        todo = [n for n in failing if n != COLLECTION and not self.records.get(n, _TestRecord()).refuted
                and not self.records.get(n, _TestRecord()).anchored]
        key = hashlib.sha1(f"{self.source}\0{self.stated}".encode()).hexdigest()
        if not self.original or not todo or key in self._unloadable_on_original:
            return
        import tempfile

        with tempfile.TemporaryDirectory(prefix="sparkcode-original-") as d:
            root = Path(d)
            for rel, data in self.original.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                try:
                    data = apply_renames(data.decode(), renames_in(ctx.task)).encode()
                except UnicodeDecodeError:
                    pass
                (root / rel).write_bytes(data)
            for f in (ctx.ws.root / TEST_DIR).glob("*.py"):
                (root / TEST_DIR).mkdir(parents=True, exist_ok=True)
                (root / TEST_DIR / f.name).write_text(f.read_text())
            r = run_command(f"{PYTEST} -rA {TEST_DIR}", root, timeout=ctx.timeout, env_extra=_test_env(),
                            limits=Limits(address_space=None))
        if "ERROR collecting" in r.output or r.exit_code not in (0, 1) or r.timed_out:
            self._unloadable_on_original.add(key)  # these tests cannot judge the original: not tried again
            return
        failed = set(_FAILED.findall(r.output))
        passed = set(_PASSED.findall(r.output))
        self._original_report = digest(r.output.replace(f"{root}/", ""), 1500)
        refactor = pure_refactor(ctx.task)
        # a feature's test of what it adds fails on the original too: never refuted; one that tries
        # nothing the task adds checks what was there before (measured: `sortlines.py in.txt` held to
        # "a\nb" for the lines b, a, c, a, and the -r/-u code that passed it had lost its sorting)
        added = set() if refactor else added_by_task(ctx.task, self.original)
        for name in todo:
            rec = self.records.setdefault(name, _TestRecord())
            if name in passed:
                rec.anchored = True  # the original does it: the code must too
            elif name in failed and (refactor or added and not tries_any(self.source or "", name, added)):
                rec.refuted = True
                self.note(f"acceptance test {name} fails on the original code, which the task says must behave "
                          "the same: set aside")

    def _rewrite_refuted(self, ctx: VerifyContext) -> bool:
        """Tests the original code fails are shown to the test writer once, with the original's
        failure, to be rewritten as checks of what the original does (measured: set aside and not
        replaced, nothing checked daily_report any more and a version that dropped its money format
        ended "done"). True if the file changed; the new tests are judged afresh."""
        due = [n for n, rec in self.records.items() if rec.refuted and rec.reviews < self.max_reviews]
        if not due:
            return False
        for n in due:
            self.records[n].reviews += 1
        self.note(f"acceptance tests {', '.join(due)} fail on the original code: asking for them again")
        failure = ("on the ORIGINAL code, before any change, which the task says must keep behaving the same "
                   f"(so these tests are wrong):\n{self._original_report}")
        if not self._ask_to_rewrite(ctx, due, failure):
            return False
        for n in due:
            self.records[n] = _TestRecord(reviews=self.max_reviews)  # a new test of that name: judged afresh
        return True

    def _review(self, ctx: VerifyContext, failure: str) -> bool:
        """Review the tests that failed often enough, all in one generation; True if the file changed."""
        due = [n for n, rec in self.records.items() if len(rec.failed_on) >= self.review_after
               and rec.reviews < self.max_reviews and not rec.anchored and not n.startswith("test_stated_example")]
        broken = [n for n in due if self.records[n].broken]
        due = broken or due  # no review can keep a broken test: those are written again first, alone
        if not due:
            return False
        for n in due:
            rec = self.records[n]
            rec.reviews, rec.failed_on = rec.reviews + 1, []
        if COLLECTION in due:  # the file itself does not load: write it again
            self.note("the acceptance tests do not load: writing them again")
            self.source = None
            (ctx.ws.root / TEST_PATH).unlink(missing_ok=True)  # a rewrite that fails leaves no broken file behind
            self._write(ctx)
            return True
        if broken:
            self.note(f"acceptance tests {', '.join(broken)} fail inside their own code: writing them again")
            errors = "\n".join(f"{n}: {self.records[n].broken}" for n in broken)
            # sampled: greedy, the 1.5B wrote the same `tmp_dir / "in.txt"` on a str again, token for token
            return self._ask_to_rewrite(ctx, broken, errors, prompts.acceptance_broken,
                                        SamplingParams(temperature=0.7, top_p=0.95, seed=len(self.rewritten)))
        self.note(f"acceptance tests {', '.join(due)} keep failing: reviewing them against the task")
        return self._ask_to_rewrite(ctx, due, digest(failure, 1800))

    def _ask_to_rewrite(self, ctx: VerifyContext, due: list[str], failure: str, ask=prompts.acceptance_review,
                        sampling: SamplingParams | None = None) -> bool:
        """Show the test writer the tests, the failing ones and why (`ask`: the prompt, a review by
        default); True if it rewrote the file (KEEP, the same file, or tests that do not test the
        workspace leave it as it is)."""
        reply = self._ask([{"role": "system", "content": prompts.acceptance_system(what_is_tested(ctx))},
                           {"role": "user", "content": ask(ctx.task, outline(ctx.ws), self._body(), failure, due)}],
                          sampling, TEST_FILE_OR_KEEP)
        if reply.strip().upper().startswith("KEEP"):
            return False
        new, _ = usable_tests(reply, ctx.ws, ctx.task)
        if not new or new.strip() == self._body().strip():
            return False
        self._save(ctx.ws, self._ready(new, ctx.task))
        self.rewritten += [n for n in due if n not in self.rewritten]
        return True

    def _body(self) -> str:
        """The tests without the imports put on top of them."""
        return (self.source or "").removeprefix(HEADER)


_TEST_START = re.compile(r"^(?:[ \t]*(?:@|#).*\n)*def test_", re.M)  # with its decorators and comments


def first_tests(reply: str, n: int) -> str:
    """A test writer's reply cut before its (n + 1)-th test (and that test's decorators), its code
    block closed."""
    starts = [m.start() for m in _TEST_START.finditer(reply)]
    if len(starts) <= n:
        return reply
    return reply[:starts[n]].rstrip() + "\n```"


_COMMAND_LINE = re.compile(r"\bpython3? [\w./-]+\.py\b")


def what_is_tested(ctx: VerifyContext) -> str:
    """What the tests exercise, for the writer's example (`prompts.acceptance_system`): "pages" in a
    workspace without Python; "programs" when a file runs as a program and the task gives a command
    line or names no function to call (options of sortlines.py); else "modules"."""
    python = [p for p in ctx.ws.list_files() if p.endswith(".py")]
    if not python:
        return "pages"
    programs = any(is_cli(ctx.ws, p) for p in python)
    if programs and (_COMMAND_LINE.search(ctx.task) or not CALL_START.search(ctx.task)):
        return "programs"
    return "modules"


_SAME_AS_BEFORE = re.compile(r"\b(?:behav\w*|work\w*|function\w*)\b[^.\n]{0,30}\b(?:the same|as before|unchanged)\b", re.I)


def preserves_behaviour(task: str) -> bool:
    """The task says the code must keep doing what it does ("everything should work the same as
    before", "must behave exactly as before"): a refactor, whose original is an oracle."""
    return bool(_SAME_AS_BEFORE.search(task))


def pure_refactor(task: str) -> bool:
    """A change of structure that asks for no new behaviour (rename, move, extract): every test must
    pass on the original code too. "Add -r; without it, work as before" is not one."""
    return bool(re.search(r"\b(?:renam\w*|refactor\w*|move\w*|extract\w*|deduplicat\w*)\b|\bin one place\b", task, re.I)
                and not re.search(r"\badd(?:s|ed|ing)?\b|\bnew (?:option|flag|command|feature|argument)s?\b"
                                  r"|\b(?:now|except|instead|fix\w*)\b", task, re.I))


_CHANGES_WHAT_IS_THERE = re.compile(r"\b(?:now|except|instead|fix\w*|bugs?|wrong|broken)\b", re.I)
_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def added_by_task(task: str, original: dict[str, bytes]) -> set[str]:
    """What a task adds that the original code lacks: the options (``-r``, ``--reverse``) and calls
    (``sort_versions(…)``) it names that appear nowhere in the original files. Empty when the task
    also changes what is there (a fix, "now", "instead"): then any test may be of a change."""
    if _CHANGES_WHAT_IS_THERE.search(task):
        return set()
    text = "\n".join(b.decode(errors="replace") for b in original.values())
    named = set(_OPTION.findall(task)) | {m.group(1) for m in CALL_START.finditer(task)}
    return {w for w in named if not re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)}


def tries_any(source: str, test: str, words: set[str]) -> bool:
    """Whether the test function `test` (a parametrized id's own name) uses one of `words`: as a
    name, an attribute, or a word of a string (``"-r"``, ``"sortlines.py -u in.txt"``). True when
    the test cannot be found."""
    name = test.split("[", 1)[0]
    try:
        fn = next((n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    except SyntaxError:
        return True
    if fn is None:
        return True
    used = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | {n.attr for n in ast.walk(fn)
                                                                       if isinstance(n, ast.Attribute)}
    for n in ast.walk(fn):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            used |= set(n.value.split())
    return bool(used & words)


def original_files(ws: Workspace, max_files: int = 200, max_bytes: int = 2 << 20) -> dict[str, bytes] | None:
    """The workspace's text files now (before a run: code and the data it reads), or None when
    there are too many."""
    files = [f for f in ws.list_files() if not f.startswith(".sparkcode/")]
    out, size = {}, 0
    for rel in files[:max_files]:
        try:
            out[rel] = (ws.root / rel).read_bytes()
        except OSError:
            continue
        size += len(out[rel])
        if size > max_bytes:
            return None
    return out or None


def _test_env() -> dict[str, str]:
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": _SPARKCODE_ROOT}
    if os.environ.get("SPARKCODE_CHROMIUM"):  # the sandbox scrubs the environment; the page tests need it
        env["SPARKCODE_CHROMIUM"] = os.environ["SPARKCODE_CHROMIUM"]
    return env


def _count_tests(source: str | None) -> int:
    return len(re.findall(r"^def test", source or "", re.M))


def tested_here(ctx: VerifyContext) -> bool:
    """Python code, or a page that is not a game (a game's behaviour is its playtest's) when pages
    are checked in a browser at all."""
    return any(p.endswith(".py") or (p.endswith((".html", ".htm")) and ctx.browser and not ctx.game)
               for p in ctx.changed)


def with_new_tests(source: str, more: str) -> str:
    """`source` with the test functions of `more` that it lacks appended (and `more`'s imports on
    top); `more` itself when it is a whole file again (it has every test of `source`)."""
    def tests(text: str) -> dict[str, ast.AST]:
        return {n.name: n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")}

    old, new = tests(source), tests(more)
    if old.keys() <= new.keys():
        return more
    lines = more.splitlines()
    imports = [ast.get_source_segment(more, n) for n in ast.parse(more).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    added = ["\n".join(lines[n.lineno - 1 - len(n.decorator_list):n.end_lineno]) for name, n in new.items() if name not in old]
    if not added:
        return source
    head = "".join(f"{i}\n" for i in imports if i and i not in source)
    return head + source.rstrip() + "\n\n\n" + "\n\n\n".join(added) + "\n"


def usable_tests(reply: str, ws: Workspace, task: str) -> tuple[str | None, str]:
    """(the test file a reply holds, "") made ready to run — imports it made up and never uses
    dropped, the workspace names it uses but forgot to import imported — or (None, why it cannot
    be used)."""
    source, error = parse_tests(reply)
    if not source:
        return None, error
    source = with_missing_imports(drop_unused_made_up_imports(source, ws, task), ws)[0]
    error = tests_the_workspace(source, ws, task)
    return (None, error) if error else (source, "")


def parse_tests(reply: str) -> tuple[str | None, str]:
    """(python source, "") from a reply's code block, or (None, why it cannot be used). A block
    cut off by the token limit loses its unfinished last lines, not the whole file."""
    blocks = _BLOCK.findall(reply)
    if not blocks and "```" in reply:  # an unclosed block: the reply ran out of tokens
        blocks = [re.split(r"```(?:python|py)?[^\n]*\n", reply, maxsplit=1)[-1]]
    source = max(blocks, key=len) if blocks else reply
    lines = source.splitlines()
    error = ""
    for cut in range(len(lines), max(len(lines) - 40, 0), -1):  # drop an unfinished tail
        try:
            tree = ast.parse("\n".join(lines[:cut]))
        except SyntaxError as e:
            error = error or f"SyntaxError on line {e.lineno}: {e.msg}"
            continue
        tests = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name.startswith("test")]
        if not tests:
            return None, "no test function (def test_...): write tests, not the program"
        return "\n".join(lines[:cut]).strip() + "\n", ""
    return None, error or "no code"


_QUOTED = re.compile(r'"([^"\n]{0,40})"')


def uncovered_values(task: str, source: str, all_when_unparsed: bool = False) -> list[str]:
    """The double-quoted values of the task that no string in the tests contains ("" needs an
    empty string in the tests). Tests that do not parse cover nothing, or (by default) are not judged."""
    try:
        strings = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    except SyntaxError:
        if not all_when_unparsed:
            return []
        strings = []
    out = []
    for v in dict.fromkeys(_QUOTED.findall(task)):
        found = "" in strings if v == "" else any(v.strip() in s for s in strings)
        if not found:
            out.append(v)
    return out


def untested_functions(task: str, source: str, ws: Workspace, existing: set[str] | frozenset = frozenset()) -> list[str]:
    """Top-level functions and classes the run added to the workspace (not among `existing`) that
    the task names as a call (``sort_versions(versions)``) and that the tests never mention: nothing
    the task says of them is checked (measured: module-versions' tests called compare 29 times and
    sort_versions never, and a sort that broke the stated tie order ended `done`). A name the
    workspace had before may be mentioned only as context ("next to mean(xs)"). Tests that do not
    parse are not judged."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    named = dict.fromkeys(m.group(1) for m in CALL_START.finditer(task))
    defined = {n.qualname for n in python_names(ws) if "." not in n.qualname}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return [n for n in named if n in defined and n not in existing and n not in used]


def asserts_stated_value(source: str, line: int, task: str) -> bool:
    """Whether the statement of `source` at `line` compares with a value the task states word for
    word: `[0, 1, 2]` for "page 1 should be [0, 1, 2]", '21.75' for "(21.75 for the sales.csv
    here)". Such a test is the task's own example, however often the code fails it (measured: a
    correct `paginate(…, 1, 3) == [0, 1, 2]` was disputed after three wrong fixes and the run ended
    "unverified" on the buggy code). Small numbers (exit statuses, counts under 10) and one-letter
    strings say too little to count."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    stmts = [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and not isinstance(n, (ast.FunctionDef, ast.ClassDef))
             and n.lineno <= line <= (n.end_lineno or n.lineno)]
    if not stmts:
        return False
    stmt = min(stmts, key=lambda n: (n.end_lineno or n.lineno) - n.lineno)
    test = stmt.test if isinstance(stmt, ast.Assert) else None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False  # only `assert x == value`: not `!=`, `>`, nor a comparison buried in a call
    values = [v for v in (literal_value(s) for s in (test.left, test.comparators[0])) if v is not NOT_LITERAL]
    flat_task = _flat(task)
    for v in values:
        if isinstance(v, str):
            if len(v.strip()) >= 2 and re.search(rf"(?<!\w){re.escape(v.strip())}(?!\w)", task):
                return True
        elif isinstance(v, (list, tuple, dict, set)) and not v:
            continue  # [] is in "mean([])" and says nothing
        elif isinstance(v, bool) or v is None:
            continue
        elif isinstance(v, (int, float)):
            # a percentage ("the rate is now 25%") is a rate, not a result: `quote(100) == 25` is not anchored
            if (abs(v) >= 10 or v != int(v)) and re.search(rf"(?<![\w.]){re.escape(str(v))}{'0*' if '.' in str(v) else ''}"
                                                           r"(?![\w]|\.\d|\s*%|\s*percent)", task):
                return True
        elif _flat(repr(v)) in flat_task:
            return True
    return False


def _flat(text: str) -> str:
    """Text with its spaces dropped and double quotes made single: `{"a": 1}` and `{'a':1}` agree."""
    return re.sub(r"\s+", "", text).replace('"', "'")


FIXTURES = ("open_page", "page", "tmp_path", "capsys", "monkeypatch")  # the ones tests use without declaring


def declare_fixtures(source: str) -> str:
    """A test that uses a fixture it does not take as a parameter gets the parameter (measured: the
    1.5B wrote `page = open_page("tip.html")` in `def test_tip():`, a NameError on a correct page)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.splitlines(keepends=True)
    for fn in [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]:
        params = {a.arg for a in fn.args.args}
        used = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assigned = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        missing = [f for f in FIXTURES if f in used and f not in params | assigned]
        if not missing:
            continue
        i = fn.lineno - 1
        lines[i] = re.sub(rf"(def\s+{fn.name}\s*\()(\s*\)?)",
                          lambda m: m.group(1) + ", ".join(missing) + (", " if m.group(2).strip() != ")" else "")
                          + m.group(2), lines[i], count=1)
    return "".join(lines)


# what `subprocess.run` with neither `check` nor `timeout` can raise (`_is_child_call`): not
# CalledProcessError or TimeoutExpired (measured: `pytest.raises(subprocess.CalledProcessError)` around
# such a run, in every error test of a to-do CLI)
_LAUNCH_ERRORS = {"FileNotFoundError", "OSError", "PermissionError"}  # the test's own start of the child failed
_RAISED_BY_RUN = _LAUNCH_ERRORS | {"Exception", "BaseException"}
# what a test reads of the caught error -> what the child's run holds of it
_CHILD_READS = {"code": "returncode", "returncode": "returncode", "stderr": "stderr", "stdout": "stdout",
                "output": "stdout"}
_READ = re.compile(r"\.(?:value\.)?(" + "|".join(_CHILD_READS) + r")\b")


def _is_child_call(node: ast.AST, plain: bool = True) -> bool:
    """`node` is a `subprocess.run(...)` statement (`plain`: with neither `check` nor `timeout`)."""
    call = node.value if isinstance(node, (ast.Expr, ast.Assign)) else None
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "run"
            and isinstance(call.func.value, ast.Name) and call.func.value.id == "subprocess"
            and not (plain and any(k.arg in ("check", "timeout") for k in call.keywords)))


def drop_launch_errors(source: str) -> tuple[str, list[str]]:
    """`with pytest.raises(FileNotFoundError): subprocess.run(["python", "convert.py", ...])` can pass
    only if the test cannot start Python: nothing the program does raises in the test. Such a block
    checks no program and is dropped, with the test if nothing is left of it (measured:
    `test_file_not_found` of a temperature converter, disputed in four runs whose code passed every
    hidden test, each ending "unverified")."""
    return drop_raises(source, lambda node, kinds: set(kinds) <= _LAUNCH_ERRORS
                       and all(_is_child_call(b, plain=False) for b in node.body))


def _raises_what_a_child_cannot(item: ast.withitem) -> bool:
    names = set(raises_of(item))
    return isinstance(item.optional_vars, (ast.Name, type(None))) and bool(names) and not names & _RAISED_BY_RUN


def fix_raises_around_a_child(source: str) -> str:
    """`with pytest.raises(SystemExit): subprocess.run([...])` can never pass: an error in the child
    process does not raise in the test. It becomes what it means, the program failing: the run, then
    `assert r.returncode != 0` (measured: six such tests failed every version of sortlines.py)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.splitlines(keepends=True)
    withs = []  # (the with, the function it is in)
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        withs += [(n, fn) for n in ast.walk(fn) if isinstance(n, ast.With) and len(n.items) == 1
                  and _raises_what_a_child_cannot(n.items[0]) and n.body and all(_is_child_call(b) for b in n.body)
                  and _only_exit_code_read(n.items[0].optional_vars, fn)]
    for w, fn in sorted(withs, key=lambda p: p[0].lineno, reverse=True):
        indent = " " * w.col_offset
        info = w.items[0].optional_vars
        # an exit status the test reads later says which failure it means, 0 included (measured: SystemExit
        # with `excinfo.value.code == 0` became `!= 0` and `== 0`, a test no program can pass)
        status_read = info is not None and any(
            isinstance(n, ast.Attribute) and n.attr in ("code", "returncode") and n.lineno > w.end_lineno
            and (_is_name(n.value, info.id) or isinstance(n.value, ast.Attribute) and _is_name(n.value.value, info.id))
            for n in ast.walk(fn))
        new = []
        for b in w.body:
            text = ast.unparse(b)
            name = b.targets[0].id if isinstance(b, ast.Assign) and isinstance(b.targets[0], ast.Name) else "_result"
            if not isinstance(b, ast.Assign):
                text = f"{name} = {text}"
            new += [f"{indent}{text}\n"] + ([] if status_read else [f"{indent}assert {name}.returncode != 0\n"])
        if info is not None:  # `excinfo.value.code` read later in the test is the child's exit status
            for i in range(w.end_lineno, fn.end_lineno):
                lines[i] = re.sub(rf"\b{info.id}" + _READ.pattern, lambda m: f"{name}.{_CHILD_READS[m.group(1)]}",
                                  lines[i])
        lines[w.lineno - 1:w.end_lineno] = new
    return "".join(lines)


def _only_exit_code_read(info: ast.expr | None, fn: ast.AST) -> bool:
    """No `as` name, or one read only as what a child's run also holds (`name.value.code`, pytest's
    exit status of a SystemExit; `name.returncode`, `name.value.stderr`…: `_CHILD_READS`)."""
    if info is None:
        return True
    reads = [n for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == info.id and isinstance(n.ctx, ast.Load)]
    known = [n for n in ast.walk(fn) if isinstance(n, ast.Attribute) and n.attr in _CHILD_READS
             and (_is_name(n.value, info.id) or isinstance(n.value, ast.Attribute) and n.value.attr == "value"
                  and _is_name(n.value.value, info.id))]
    return len(reads) == len(known)


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _imported_modules(tree: ast.AST, relative: bool = True) -> set[str]:
    """The top-level module of every import in `tree` (`from a.b import c` -> "a")."""
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
             if isinstance(n, ast.ImportFrom) and (relative or not n.level)}
    return mods


def unknown_imports(source: str, ws: Workspace, task: str) -> list[str]:
    """Modules the tests import that are not in the workspace, cannot be imported here and are not
    named in the task: made up (measured: `from text import tip` in the tests of a page, and the
    coding model then wrote a text.py to satisfy them)."""
    import importlib.util

    tree = ast.parse(source)
    mods = _imported_modules(tree, relative=False)
    ours = {part.removesuffix(".py") for f in ws.list_files() for part in Path(f).parts}
    out = []
    for m in sorted(mods - {""} - ours):
        if re.search(rf"\b{re.escape(m)}\b", task):
            continue
        try:
            if importlib.util.find_spec(m) is not None:
                continue
        except (ImportError, ValueError):
            pass
        out.append(m)
    return out


def drop_unused_made_up_imports(source: str, ws: Workspace, task: str) -> str:
    """Top-level imports of made-up modules (`unknown_imports`) whose names the tests never use
    are removed; a made-up import that is used is left for `tests_the_workspace` to refuse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    made_up = set(unknown_imports(source, ws, task))
    if not made_up:
        return source
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    lines = source.splitlines(keepends=True)
    for node in sorted(tree.body, key=lambda n: n.lineno, reverse=True):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in made_up:
            bound = {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import) and all(a.name.split(".")[0] in made_up for a in node.names):
            bound = {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            continue
        if not bound & used:
            del lines[node.lineno - 1:node.end_lineno]
    return "".join(lines)


def tests_the_workspace(source: str, ws: Workspace, task: str = "") -> str:
    """"" when the tests exercise the workspace's code; else why not: tests that define the
    functions under test themselves pass whatever the workspace holds (measured: a test file with
    its own copy of to_roman passed while roman.py crashed on import)."""
    tree = ast.parse(source)
    ours = {n.qualname for n in python_names(ws) if "." not in n.qualname}
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}
    if defined & ours:
        return (f"the tests define {', '.join(sorted(defined & ours))} themselves: import it from the workspace "
                "instead, and test that")
    modules = {p.removesuffix(".py") for f in ws.list_files() if f.endswith(".py") for p in Path(f).parts}
    imported = _imported_modules(tree)
    files = set(ws.list_files())
    runs = any(isinstance(n, ast.Constant) and n.value in files for n in ast.walk(tree))
    pages = [f for f in files if f.endswith((".html", ".htm"))]
    runs = runs or bool(pages) and any(isinstance(n, ast.arg) and n.arg in ("page", "open_page") for n in ast.walk(tree))
    if not (imported & modules) and not runs:
        return "the tests neither import a workspace module nor run a workspace file"
    kept, twice = drop_repeated_keys(source)
    if twice and not _count_tests(kept):  # (asserts of such dicts are dropped when tests are left: `_save`)
        return (f"a dict in the tests has the key {twice[0]} more than once, so Python keeps only its last value: "
                "write each expected dict with each key once")
    made_up = unknown_imports(source, ws, task)
    if made_up:
        return (f"the tests import {', '.join(made_up)}, which is not in the workspace and the task does not name: "
                "import only the workspace's modules (or test a page through open_page)")
    return ""


_FRAME_FILE = re.compile(r"^([^\s:]+\.py):\d+: in ", re.M)


def raised_in_code(report: str, ws: Workspace) -> bool:
    """A pytest report's traceback passes through the workspace's own code (not the tests)."""
    files = set(ws.list_files())
    return any(f in files and not f.startswith(TEST_DIR) for f in _FRAME_FILE.findall(report))


def workspace_names(source: str, ws: Workspace) -> set[str]:
    """What tests can use of the workspace: the names they import from its modules, its modules and
    its programs' file names."""
    modules = {Path(f).stem for f in ws.list_files() if f.endswith(".py")}
    names = set(modules) | {Path(f).name for f in ws.list_files()}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return names
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] in modules:
            names |= {a.asname or a.name for a in n.names}
        elif isinstance(n, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names if a.name.split(".")[0] in modules}
    return names


def repeated_dict_keys(tree: ast.AST) -> list:
    """Constant keys written twice in one dict literal (measured: the 1.5B merged the task's
    wrong-today and wanted dicts into ``{"the": 2, ..., "the": 1, "hat.": 1}``, which no fix passes)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            out += [k for i, k in enumerate(keys) if k in keys[:i] and k not in out]
    return out


def drop_repeated_keys(source: str) -> tuple[str, list[str]]:
    """(the tests without the asserts that hold a dict literal with a key written twice, the keys):
    no code can pass them, and the other tests of the file still check the task (measured: both of
    the writer's files for fix-word-count had one such dict beside a right test of "don't", and
    refused whole, the run ended with no tests and a counter that splits "don't")."""
    return drop_asserts(source, lambda node: repr(keys[0]) if (keys := repeated_dict_keys(node)) else None)


def _in_task(match: tuple[str, str], task: str) -> bool:
    name = match[0] or match[1]
    return bool(re.search(rf"\b{re.escape(name)}\b", task))


def fingerprint(ws: Workspace) -> str:
    """A hash of the workspace's code (`names.code_key`: a comment is not a new version; state under
    .sparkcode/ excluded): one version of the code (measured: three copies of cart.py that differed
    in comments alone made a right test "fail on every version" and the run stop being told)."""
    h = hashlib.sha1()
    for rel in ws.list_files():
        h.update(rel.encode())
        try:
            data = (ws.root / rel).read_bytes()
        except OSError:
            continue
        try:
            h.update(code_key(rel, data.decode()).encode())
        except UnicodeDecodeError:
            h.update(data)
    return h.hexdigest()[:16]
