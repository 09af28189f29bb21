"""`sparkcode bench tasks`: small multi-step coding tasks judged by hidden tests, sparkcode's agent
and Aider side by side, on the same model.

This module owns the suite's runner and its report; the suite itself is data, one folder per task
under ``data/tasks/<name>/``:

- ``task.txt``: the request, as a user would type it to a coding assistant; it states every
  behaviour the hidden tests check (no hidden gotchas);
- ``workspace/``: the starting files (absent: the task starts in an empty folder);
- ``hidden/``: pytest files the contender never sees (pages and the game are played in headless
  Chromium through playwright / `agent.browser_check`);
- ``solution/``: a reference change, the files that differ from ``workspace/`` after it.

Every task's hidden tests fail on the untouched workspace and pass on workspace + solution
(``tests/test_bench_tasks.py`` checks that for the whole suite).

Per task and contender: ``workspace/`` is copied into a fresh temporary folder, the contender
works there alone, then what it left — less its own state (``.sparkcode/``, ``.aider*``, caches,
symlinks) — is copied into a second folder, ``hidden/`` is added (never into the contender's
folder while it runs), and pytest runs only the hidden files there: its own empty ini, no
``conftest.py`` of the contender's, a timeout. A task passes when every hidden test ran and passed.
Page tasks where Chromium or playwright is missing are "not judged" and left out of pass rates.

Contenders:

- ``sparkcode:<profile>``: `Agent` on the profile's backend (loaded once, reused for every task),
  greedy decoding, the profile's speculation mode and prompt style, at most ``--max-turns`` turns an attempt;
  its status is the agent's `Outcome.status` (``done``, ``unverified``, ``gave_up``, ``max_turns``…);
- ``aider``: Aider (PyPI ``aider-chat``, pinned `AIDER_VERSION`) in its own virtualenv under
  ``$SPARKCODE_HOME/peers/aider-venv`` (created on first use; it pins many packages, so it never
  goes into sparkcode's environment), talking to a ``sparkcode serve`` subprocess that serves the
  same model (``--model``, else the first sparkcode profile's) with the same speculation mode — or
  straight to a remote profile's server. One ``aider --message TASK`` per task, run in the
  workspace with every workspace file and every file the task names added to the chat (as a user
  would pass a new file to create), whole-file edits, no git; its status is
  ``done`` (exit 0), ``exit N``, ``api_error`` (the model server failed it) or ``timeout``.

Recorded per task: pass, hidden tests passed/total, wall seconds (the contender's work on the task;
loading the model and starting the server are not counted, Aider's own start-up is), status, and
tokens out (Aider: from its "Tokens: … received" lines). For sparkcode the report also counts
"false done" — tasks it ended ``done`` whose hidden tests failed, the number that matters most —
and ``unverified`` endings. ``--journal`` records each result as it finishes and a rerun skips what
is there, like ``bench quality``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from ..agent.candidates import DEFAULT_CANDIDATES
from ..agent.names import files_named
from ..errors import SparkcodeError
from .local_server import free_port

TASKS_DIR = Path(__file__).resolve().parent / "data" / "tasks"
DEFAULT_CONTENDERS = "sparkcode:spark,aider"
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
AIDER_VERSION = "0.86.2"
AIDER_EDIT_FORMAT = "whole"
JUDGE_TIMEOUT_S = 180.0
SERVER_START_TIMEOUT_S = 600.0
# what a contender leaves besides its work: never judged, never copied
_STATE = (".sparkcode", ".aider*", "__pycache__", ".pytest_cache", ".git", "*.pyc", ".env")


# ---- the suite --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    name: str
    root: Path

    @property
    def statement(self) -> str:
        return (self.root / "task.txt").read_text(encoding="utf-8").strip()

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def hidden(self) -> Path:
        return self.root / "hidden"

    @property
    def solution(self) -> Path:
        return self.root / "solution"

    @property
    def kind(self) -> str:
        """The part of the name before the first dash: fix, feature, refactor, cli, module, page, game."""
        return self.name.split("-", 1)[0]

    @property
    def hidden_tests(self) -> list[Path]:
        return sorted(p for p in self.hidden.glob("test_*.py") if p.is_file())

    @property
    def needs_browser(self) -> bool:
        """Its hidden tests drive Chromium (pages, the game)."""
        browser = r"\bplaywright\b|\bbrowser_check\b|\bhidden_page\b|\bplaytest\b"
        return any(re.search(browser, p.read_text(encoding="utf-8")) for p in self.hidden_tests)

    def copy_workspace(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        if self.workspace.is_dir():
            shutil.copytree(self.workspace, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_STATE))

    def apply_solution(self, dest: Path) -> None:
        shutil.copytree(self.solution, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_STATE))


def load_tasks(names: Iterable[str] | None = None, root: Path = TASKS_DIR) -> list[Task]:
    """The suite's tasks (all, in name order; or the named ones, in the order given)."""
    found = {p.name: Task(p.name, p) for p in sorted(root.iterdir()) if (p / "task.txt").is_file()} \
        if root.is_dir() else {}
    if not found:
        raise SparkcodeError(f"no tasks under {root} (is the package data installed?)")
    if names is None:
        return list(found.values())
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in found]
    if unknown:
        raise SparkcodeError(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(found)}")
    return [found[n] for n in dict.fromkeys(names)]


# ---- judging ----------------------------------------------------------------------------------------

@dataclass
class Verdict:
    passed: bool | None  # None: not judged (e.g. a page task without Chromium)
    tests_passed: int
    tests_total: int
    message: str


def _copy_work(src: Path, dest: Path) -> None:
    """Copy what a contender left, without its own state and without symlinks (they could point out)."""
    skip = shutil.ignore_patterns(*_STATE)

    def ignore(d, names):
        return set(skip(d, names)) | {n for n in names if os.path.islink(os.path.join(d, n))}

    shutil.copytree(src, dest, ignore=ignore, dirs_exist_ok=True)


def _sparkcode_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def judge(task: Task, result_dir: Path, timeout: float = JUDGE_TIMEOUT_S, workdir: Path | None = None) -> Verdict:
    """Run the task's hidden tests against a copy of `result_dir` (see the module docstring)."""
    if task.needs_browser:
        from ..agent import browser_check

        if not browser_check.available():
            return Verdict(None, 0, 0, "not judged: chromium missing (install Debian's chromium and playwright)")
    with tempfile.TemporaryDirectory(prefix=f"judge-{task.name}-", dir=workdir) as tmp:
        tmp = Path(tmp)
        project = tmp / "project"
        _copy_work(Path(result_dir), project)
        tests = []
        for p in task.hidden.iterdir():
            if p.is_file():
                shutil.copy2(p, project / p.name)
                if p in task.hidden_tests:
                    tests.append(p.name)
        (tmp / "judge.ini").write_text("[pytest]\n")
        xml = tmp / "report.xml"
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        env["PYTHONPATH"] = os.pathsep.join(x for x in (env.get("PYTHONPATH"), _sparkcode_root()) if x)
        cmd = [sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider", "--noconftest",
               "-c", str(tmp / "judge.ini"), "--rootdir", str(project), f"--junitxml={xml}", *sorted(tests)]
        proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return Verdict(False, 0, 0, f"hidden tests timed out after {timeout:g} s")
        finally:
            _kill_group(proc)
        return _verdict(proc.returncode, xml, out)


def _verdict(rc: int, xml: Path, output: str) -> Verdict:
    try:
        cases = list(ET.parse(xml).getroot().iter("testcase"))
    except (ET.ParseError, OSError):
        tail = [ln for ln in output.strip().splitlines() if ln.strip()][-1:] or [f"pytest exited {rc}"]
        return Verdict(False, 0, 0, f"hidden tests did not run: {tail[0][:300]}")
    passed, failures, skipped = 0, [], []
    for c in cases:
        bad = c.find("failure")
        if bad is None:
            bad = c.find("error")
        skip = c.find("skipped")
        if bad is not None:
            why = (bad.get("message") or bad.text or "").strip().splitlines()
            failures.append(f"{c.get('name') or c.get('classname')}: {(why[0] if why else 'failed')[:240]}")
        elif skip is not None:
            skipped.append((skip.get("message") or "").strip())
        else:
            passed += 1
    total = len(cases)
    if total and len(skipped) == total and all("not judged" in s for s in skipped):
        return Verdict(None, 0, total, skipped[0][skipped[0].find("not judged"):][:200])
    if failures:
        return Verdict(False, passed, total, f"{len(failures)} of {total} failed; first: {failures[0]}")
    if skipped:
        return Verdict(False, passed, total, f"{len(skipped)} of {total} skipped: {skipped[0][:200]}")
    if not total or rc != 0:
        return Verdict(False, passed, total, f"pytest exited {rc} with {total} tests")
    return Verdict(True, passed, total, f"{passed}/{total} hidden tests pass")


# ---- contenders ---------------------------------------------------------------------------------------

@dataclass
class Attempt:
    status: str
    summary: str = ""
    wall_s: float = 0.0
    tokens_out: int = 0
    turns: int = 0
    model_s: float = 0.0  # of wall_s, waiting for the model (sparkcode only; Aider does not say)
    verify_s: float = 0.0  # of wall_s, the agent's verifiers, acceptance-test generations included (sparkcode)


class SparkContender:
    """sparkcode's agent with one profile; the backend is loaded once and reused for every task."""

    kind = "sparkcode"

    def __init__(self, profile, threads: int | None = None, max_turns: int = 8,
                 backend_factory: Callable | None = None, candidates: int = 1):
        self.profile = profile
        self.candidates = candidates
        self.name = f"sparkcode:{profile.name}"
        self.model = profile.model
        self.threads = threads
        self.max_turns = max_turns
        self.factory = backend_factory
        self.backend = None

    @property
    def key(self) -> str:
        p = self.profile
        return (f"{self.name}|{p.model}|{p.speculate}|{p.style}|{p.api_base or ''}|turns {self.max_turns}"
                + (f"|candidates {self.candidates}" if self.candidates > 1 else ""))

    def describe(self) -> str:
        p = self.profile
        return (f"{self.name} = {p.model}, speculate {p.speculate}, {p.style} prompt, at most {self.max_turns} turns an attempt, "
                f"up to {self.candidates} candidate replies per attempt" + (" (remote)" if p.is_remote else ""))

    def start(self) -> None:
        from ..profiles import backend_for

        factory = self.factory or (lambda p: backend_for(p, threads=self.threads, show_progress=False))
        self.backend = factory(self.profile)

    def attempt(self, task: Task, root: Path, timeout_s: float) -> Attempt:
        from ..agent.loop import Agent, AgentConfig
        from ..agent.workspace import Workspace
        from ..engine.sampling import SamplingParams

        cfg = AgentConfig(max_turns=self.max_turns, wall_limit_s=timeout_s, speculate=self.profile.speculate,
                          style=self.profile.style, sampling=SamplingParams(temperature=0.0, seed=0),
                          candidates=self.candidates)
        out = Agent(self.backend, Workspace(root), cfg).run(task.statement)
        d = out.to_dict()
        return Attempt(out.status, out.summary, out.wall_s, d["tokens_out"], len(out.turns), out.model_s, out.verify_s)

    def close(self) -> None:
        from ..profiles import close_backend

        if self.backend is not None:
            close_backend(self.backend)
            self.backend = None


def aider_venv() -> Path:
    from .. import models

    return models.home_dir() / "peers" / "aider-venv"


def ensure_aider(venv: Path | None = None, version: str = AIDER_VERSION,
                 log: Callable[[str], None] | None = None) -> Path:
    """The ``aider`` executable of our own virtualenv, created and filled on first use (a few minutes)."""
    venv = venv or aider_venv()
    exe = venv / "bin" / "aider"
    stamp = venv / ".sparkcode-aider-version"
    if exe.is_file() and stamp.is_file() and stamp.read_text().strip() == version:
        return exe
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    log(f"installing aider-chat=={version} into {venv} (its own virtualenv; once, takes a few minutes)")
    if not (venv / "bin" / "python").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                        f"aider-chat=={version}"], capture_output=True, text=True)
    if r.returncode != 0 or not exe.is_file():
        raise SparkcodeError(f"installing aider-chat=={version} into {venv} failed: {(r.stderr or r.stdout)[-1500:]}")
    stamp.write_text(version + "\n")
    return exe


def aider_command(exe: str | Path, model_id: str, api_base: str, message: str, files: list[str],
                  history_dir: Path, edit_format: str = AIDER_EDIT_FORMAT, api_key: str = "x",
                  timeout_s: float | None = None) -> list[str]:
    """One non-interactive Aider run: the message, the files it may edit, nothing else touched."""
    cmd = [str(exe), "--model", f"openai/{model_id}", "--openai-api-base", api_base, "--openai-api-key", api_key,
           "--edit-format", edit_format, "--no-git", "--yes-always", "--no-auto-commits", "--no-dirty-commits",
           "--no-show-model-warnings", "--no-check-update", "--no-analytics", "--no-show-release-notes",
           "--no-pretty", "--no-fancy-input", "--no-detect-urls", "--no-restore-chat-history",
           "--chat-history-file", str(history_dir / "chat.md"),
           "--input-history-file", str(history_dir / "input.txt"),
           "--llm-history-file", str(history_dir / "llm.txt")]
    if timeout_s:
        cmd += ["--timeout", str(int(timeout_s))]
    return cmd + ["--message", message, *files]


_TOKENS = re.compile(r"Tokens:\s*([\d.,]+)(k?)\s+sent,\s*([\d.,]+)(k?)\s+received", re.I)


def aider_tokens(output: str) -> tuple[int, int]:
    """(sent, received) summed over Aider's "Tokens: 1.2k sent, 345 received." lines."""
    def num(v: str, k: str) -> int:
        return round(float(v.replace(",", "")) * (1000 if k else 1))

    sent = received = 0
    for m in _TOKENS.finditer(output):
        sent += num(m.group(1), m.group(2))
        received += num(m.group(3), m.group(4))
    return sent, received


_API_ERROR = re.compile(r"litellm\.\w*(?:Error|Exception)|APIConnectionError|Model .* not found", re.I)


class AiderContender:
    """Aider in its own virtualenv, talking to `sparkcode serve` (started here) or a remote server."""

    kind = "aider"
    name = "aider"

    def __init__(self, model: str = DEFAULT_MODEL, speculate: str = "auto", threads: int | None = None,
                 api_base: str | None = None, api_key: str | None = None, venv: Path | None = None,
                 edit_format: str = AIDER_EDIT_FORMAT, server_log: Path | None = None):
        self.model = model
        self.speculate = speculate
        self.threads = threads
        self.remote_base = api_base
        self.api_key = api_key or "x"
        self.venv = venv
        self.edit_format = edit_format
        self.server_log = server_log
        self.exe: Path | None = None
        self.server: subprocess.Popen | None = None
        self.api_base: str | None = api_base
        self.model_id = model
        self._server_log: Path | None = None
        self._log_is_temp = False

    @property
    def key(self) -> str:
        where = self.remote_base or f"sparkcode serve, speculate {self.speculate}"
        return f"aider|{AIDER_VERSION}|{self.edit_format}|{self.model}|{where}"

    def describe(self) -> str:
        where = (f"the remote server {self.remote_base}" if self.remote_base
                 else f"`sparkcode serve` with {self.model} (speculate {self.speculate})")
        return f"aider = aider-chat {AIDER_VERSION}, {self.edit_format} edit format, no git, talking to {where}"

    def start(self) -> None:
        self.exe = ensure_aider(self.venv)
        if self.remote_base:
            return
        port = free_port()
        cmd = [sys.executable, "-m", "sparkcode.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--model", self.model, "--speculate", self.speculate]
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        if self.server_log:
            log_path, self._log_is_temp = self.server_log, False
        else:
            fd, name = tempfile.mkstemp(prefix="sparkcode-serve-", suffix=".log")
            os.close(fd)
            log_path, self._log_is_temp = Path(name), True
        self._server_log = log_path
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(x for x in (env.get("PYTHONPATH"), _sparkcode_root()) if x)
        env.pop("SPARKCODE_API_KEY", None)  # the server must not ask Aider for a key it does not have
        with open(log_path, "w") as logf:
            self.server = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           env=env, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            self.model_id = self._wait_for_server(base)
        except BaseException:
            self._log_is_temp = False  # keep the log: it says why
            self.close()
            raise
        self.api_base = base + "/v1"

    def _wait_for_server(self, base: str) -> str:
        import httpx

        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise SparkcodeError(f"`sparkcode serve` exited {self.server.returncode} before it was ready: "
                                     f"{self._server_log.read_text(errors='replace')[-1500:]}")
            try:
                r = httpx.get(base + "/v1/models", timeout=5)
                if r.status_code == 200:
                    data = r.json().get("data") or [{}]
                    return data[0].get("id") or self.model
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise SparkcodeError(f"`sparkcode serve` was not ready after {SERVER_START_TIMEOUT_S:.0f} s "
                             f"(log: {self._server_log})")

    def _env(self, home: Path) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIDER_", "OPENAI_", "LITELLM_"))}
        # its own HOME: no ~/.aider.conf.yml of the user's; no model price list fetched from the network
        env.update(HOME=str(home), LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONDONTWRITEBYTECODE="1",
                   TERM="dumb", NO_COLOR="1")
        return env

    def attempt(self, task: Task, root: Path, timeout_s: float) -> Attempt:
        home = (self.venv or aider_venv()).parent / "aider-home"
        home.mkdir(parents=True, exist_ok=True)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
        files += [f for f in files_named(task.statement) if f not in files]  # as an Aider user adds new files
        with tempfile.TemporaryDirectory(prefix="aider-run-") as hist:
            cmd = aider_command(self.exe, self.model_id, self.api_base, task.statement, files, Path(hist),
                                self.edit_format, self.api_key, timeout_s)
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=root, env=self._env(home), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                    errors="replace", start_new_session=True)
            timed_out = False
            try:
                out, _ = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
                out, _ = proc.communicate()
            finally:
                _kill_group(proc)
            wall = time.perf_counter() - t0
        out = out or ""
        (root / ".aider.output.txt").write_text(out)  # its own state: never judged; kept with --keep
        _, received = aider_tokens(out)
        if timed_out:
            status = "timeout"
        elif proc.returncode != 0:
            status = f"exit {proc.returncode}"
        elif _API_ERROR.search(out):
            status = "api_error"
        else:
            status = "done"
        tail = [ln for ln in out.strip().splitlines() if ln.strip()][-3:]
        return Attempt(status, " | ".join(tail)[-400:], wall, received, len(_TOKENS.findall(out)))

    def close(self) -> None:
        if self.server is not None:
            try:
                os.killpg(self.server.pid, signal.SIGTERM)
                self.server.wait(timeout=20)
            except (ProcessLookupError, PermissionError):
                pass
            except subprocess.TimeoutExpired:
                _kill_group(self.server)
                self.server.wait()
            self.server = None
            if self._log_is_temp:
                self._server_log.unlink(missing_ok=True)


def make_contenders(spec: str, *, model: str | None = None, threads: int | None = None, max_turns: int = 8,
                    cwd: Path | None = None, candidates: int = 1) -> list:
    """``sparkcode:spark,aider`` -> contenders. ``model`` overrides every contender's model; Aider
    otherwise uses the first sparkcode profile's model and speculation mode (or its remote server)."""
    from ..profiles import get_profile, load_profiles

    known = load_profiles(cwd or Path.cwd())
    out, spark_profiles, wants_aider = [], [], False
    for raw in [s.strip() for s in spec.split(",") if s.strip()]:
        if raw == "aider":
            wants_aider = True
            out.append(None)  # placed after the profiles are known
            continue
        kind, _, prof = raw.partition(":")
        if kind != "sparkcode":
            raise SparkcodeError(f"unknown contender {raw!r}; use sparkcode:<profile> or aider")
        p = get_profile(prof or "spark", known)
        if model:
            p = replace(p, model=model)
        spark_profiles.append(p)
        out.append(SparkContender(p, threads=threads, max_turns=max_turns, candidates=candidates))
    if not out:
        raise SparkcodeError("no contenders")
    names = [c.name for c in out if c is not None]
    if len(set(names)) != len(names) or sum(c is None for c in out) > 1:
        raise SparkcodeError(f"a contender is named twice: {spec}")
    if wants_aider:
        first = spark_profiles[0] if spark_profiles else None
        if first is not None and first.is_remote and not model:
            key = os.environ.get(first.api_key_env) if first.api_key_env else None
            aider = AiderContender(first.model, api_base=first.api_base, api_key=key)
        else:
            aider = AiderContender(model or (first.model if first else DEFAULT_MODEL),
                                   speculate=first.speculate if first else "auto", threads=threads)
        out = [aider if c is None else c for c in out]
    return out


# ---- the run ---------------------------------------------------------------------------------------------

@dataclass
class TaskResult:
    task: str
    contender: str
    model: str
    passed: bool | None  # None: not judged
    status: str
    wall_s: float
    tokens_out: int
    turns: int = 0
    model_s: float = 0.0
    tests_passed: int = 0
    tests_total: int = 0
    judged: str = ""  # what the hidden tests said
    summary: str = ""  # what the contender said
    files: list[str] = field(default_factory=list)  # files added or changed
    workspace: str = ""  # kept with --keep
    verify_s: float | None = None  # sparkcode: of wall_s, spent verifying (None: not recorded)


def verify_seconds(r: TaskResult) -> float | None:
    """A sparkcode result's verification time: recorded, or read from the session log of a kept
    workspace (results journaled before the field existed)."""
    if r.verify_s is not None or not r.workspace:
        return r.verify_s
    logs = sorted(Path(r.workspace).glob(".sparkcode/sessions/*.jsonl"))
    if not logs:
        return None
    total = 0.0
    for line in logs[-1].read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("type") == "turn":
            total += float(e.get("verify_s", 0.0))
    return round(total, 3)


@dataclass
class TasksResult:
    tasks: list[str]
    contenders: list[dict]  # name, kind, model, description
    results: list[TaskResult] = field(default_factory=list)

    def of(self, contender: str) -> list[TaskResult]:
        return [r for r in self.results if r.contender == contender]

    def get(self, contender: str, task: str) -> TaskResult | None:
        return next((r for r in self.results if r.contender == contender and r.task == task), None)

    def summary(self, contender: str) -> dict:
        from .report import median

        rs = self.of(contender)
        judged = [r for r in rs if r.passed is not None]
        walls = [r.wall_s for r in rs if r.status != "error"]
        passed = sum(bool(r.passed) for r in judged)
        spark = next((c["kind"] for c in self.contenders if c["name"] == contender), "") == "sparkcode"
        return {"tasks": len(rs), "judged": len(judged), "passed": passed,
                "pass_rate": round(100.0 * passed / len(judged), 1) if judged else float("nan"),
                "total_wall_s": round(sum(walls), 2),
                "median_wall_s": round(median(walls), 2) if walls else float("nan"),
                "tokens_out": sum(r.tokens_out for r in rs),
                # only sparkcode's "done" is a claim that the work is right; Aider's means it exited
                "false_done": sum(r.status == "done" and r.passed is False for r in rs) if spark else None,
                "unverified": sum(r.status == "unverified" for r in rs) if spark else None,
                "verify_s": round(sum(verify_seconds(r) or 0.0 for r in rs), 2) if spark else None,
                "statuses": dict(Counter(r.status for r in rs))}

    def to_dict(self) -> dict:
        return {"tasks": self.tasks, "contenders": self.contenders,
                "summary": {c["name"]: self.summary(c["name"]) for c in self.contenders},
                "results": [asdict(r) for r in self.results]}


def _changed_files(task: Task, root: Path) -> list[str]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        own_state = any(part.startswith((".sparkcode", ".aider", "__pycache__", ".pytest")) for part in rel.parts)
        if not p.is_file() or p.is_symlink() or own_state:
            continue
        orig = task.workspace / rel
        if not orig.is_file() or orig.read_bytes() != p.read_bytes():
            out.append(rel.as_posix())
    return out


def run_one(contender, task: Task, *, timeout_s: float = 600, judge_timeout_s: float = JUDGE_TIMEOUT_S,
            workdir: Path | None = None, keep: bool = False) -> TaskResult:
    """One task, one contender (already started): work in a fresh copy, then judge a copy of the result."""
    root = Path(tempfile.mkdtemp(prefix=f"task-{task.name}-", dir=workdir))
    try:
        task.copy_workspace(root)
        t0 = time.perf_counter()
        try:
            att = contender.attempt(task, root, timeout_s)
        except SparkcodeError as e:
            att = Attempt("error", str(e), time.perf_counter() - t0)
        except Exception as e:  # one broken run must not end the suite; the message says what happened
            att = Attempt("error", f"{type(e).__name__}: {e} ({traceback.extract_tb(e.__traceback__)[-1].name})",
                          time.perf_counter() - t0)
        v = judge(task, root, judge_timeout_s, workdir)
        return TaskResult(task.name, contender.name, contender.model, v.passed, att.status, round(att.wall_s, 3),
                          att.tokens_out, att.turns, round(att.model_s, 3), v.tests_passed, v.tests_total, v.message,
                          att.summary[:400],
                          _changed_files(task, root), str(root) if keep else "",
                          round(att.verify_s, 3) if contender.kind == "sparkcode" else None)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def run_tasks(tasks: list[Task], contenders: list, *, timeout_s: float = 600,
              judge_timeout_s: float = JUDGE_TIMEOUT_S, journal: Path | str | None = None,
              progress: Callable[[str], None] | None = None, workdir: Path | None = None,
              keep: bool = False) -> TasksResult:
    """Every task under every contender, one contender after another (each started once), one task
    at a time. With ``journal``, results already recorded for the same contender setup are reused."""
    res = TasksResult([t.name for t in tasks], [{"name": c.name, "kind": c.kind, "model": c.model,
                                                "description": c.describe()} for c in contenders])
    done = _read_journal(journal)
    for c in contenders:
        todo = [t for t in tasks if (c.key, t.name) not in done]
        start_error = None
        if todo:
            try:
                c.start()
            except Exception as e:  # e.g. Aider could not be installed: say so for each task, record nothing
                start_error = f"{c.name} could not start: {type(e).__name__}: {e}"[:600]
                if progress:
                    progress(start_error)
        try:
            for i, t in enumerate(tasks, 1):
                if (c.key, t.name) in done:
                    res.results.append(done[(c.key, t.name)])
                    continue
                if start_error:
                    res.results.append(TaskResult(t.name, c.name, c.model, None, "error", 0.0, 0,
                                                  judged="not judged: the contender did not start",
                                                  summary=start_error))
                    continue
                r = run_one(c, t, timeout_s=timeout_s, judge_timeout_s=judge_timeout_s, workdir=workdir, keep=keep)
                res.results.append(r)
                _append_journal(journal, c.key, r)
                if progress:
                    mark = {True: "pass", False: "FAIL", None: "not judged"}[r.passed]
                    progress(f"[{c.name}] {i}/{len(tasks)} {t.name}: {mark} · {r.status} · {r.wall_s:.1f} s · "
                             f"{r.tokens_out} tokens · {r.judged}")
        finally:
            if todo:
                c.close()
    return res


def _read_journal(journal: Path | str | None) -> dict[tuple[str, str], TaskResult]:
    done: dict[tuple[str, str], TaskResult] = {}
    if journal is None or not Path(journal).exists():
        return done
    for line in Path(journal).read_text().splitlines():
        try:
            rec = json.loads(line)
            done[(rec["key"], rec["result"]["task"])] = TaskResult(**rec["result"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a killed run: that task is simply run again
    return done


def _append_journal(journal: Path | str | None, key: str, r: TaskResult) -> None:
    if journal is None:
        return
    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    with open(journal, "a") as f:
        f.write(json.dumps({"key": key, "result": asdict(r)}) + "\n")


# ---- output ------------------------------------------------------------------------------------------------

def header(res: TasksResult) -> list[str]:
    cols = ["task"]
    for c in res.contenders:
        cols += [f"{c['name']} pass", f"{c['name']} wall s", f"{c['name']} status"]
    return cols


def _fmt_pass(r: TaskResult | None) -> str:
    if r is None:
        return "-"
    return {True: "pass", False: "fail", None: "not judged"}[r.passed]


def table_rows(res: TasksResult) -> list[list]:
    rows = []
    for t in res.tasks:
        row: list = [t]
        for c in res.contenders:
            r = res.get(c["name"], t)
            row += [_fmt_pass(r), f"{r.wall_s:.1f}" if r else "-", r.status if r else "-"]
        rows.append(row)
    row = ["**all**"]
    for c in res.contenders:
        s = res.summary(c["name"])
        row += [f"{s['passed']}/{s['judged']} ({s['pass_rate']:.0f}%)" if s["judged"] else "-",
                f"total {s['total_wall_s']:.1f}, median {s['median_wall_s']:.1f}",
                ", ".join(f"{k} {v}" for k, v in sorted(s["statuses"].items()))]
    rows.append(row)
    return rows


SUMMARY_HEADER = ["contender", "model", "passed", "pass rate %", "total wall s", "median wall s", "tokens out",
                  "false done", "unverified"]


def summary_rows(res: TasksResult) -> list[list]:
    rows = []
    for c in res.contenders:
        s = res.summary(c["name"])
        rows.append([c["name"], c["model"], f"{s['passed']}/{s['judged']}", f"{s['pass_rate']:.1f}",
                     f"{s['total_wall_s']:.1f}", f"{s['median_wall_s']:.1f}", s["tokens_out"],
                     "-" if s["false_done"] is None else s["false_done"],
                     "-" if s["unverified"] is None else s["unverified"]])
    return rows


def print_table(res: TasksResult, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 220)
    t = Table(title=f"tasks: {len(res.tasks)} with hidden tests")
    for h in header(res):
        t.add_column(h, justify="right" if h.endswith("wall s") else "left")
    for r in table_rows(res):
        t.add_row(*(str(v) for v in r))
    console.print(t)
    s = Table(title="summary")
    for h in SUMMARY_HEADER:
        s.add_column(h, justify="left" if h in ("contender", "model", "passed") else "right")
    for r in summary_rows(res):
        s.add_row(*(str(v) for v in r))
    console.print(s)


def write_report(res: TasksResult, out: str, threads: int | None = None, timeout_s: float = 600) -> None:
    from ..agent import browser_check
    from .report import append_section, bar_chart, machine, markdown_table

    png = None
    if out != "-":
        png = Path(out).resolve().parent / f"bench-tasks-{time.strftime('%Y%m%d-%H%M')}.png"
        sums = {c["name"]: res.summary(c["name"]) for c in res.contenders}
        bar_chart(png, f"tasks: {len(res.tasks)} with hidden tests",
                  ["pass rate % (higher is better)", "total wall s", "median wall s", "tokens out"],
                  {n: [0.0 if s["pass_rate"] != s["pass_rate"] else s["pass_rate"], s["total_wall_s"],
                       0.0 if s["median_wall_s"] != s["median_wall_s"] else s["median_wall_s"], float(s["tokens_out"])]
                   for n, s in sums.items()})
    kinds = Counter(t.split("-", 1)[0] for t in res.tasks)
    meta = {"machine": machine(), "threads": threads or "default (physical cores)",
            "tasks": f"{len(res.tasks)} ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}), "
                     "from sparkcode/bench/data/tasks",
            "contenders": "; ".join(c["description"] for c in res.contenders),
            "limits": f"{timeout_s:g} s per task and contender; one task at a time, a fresh copy of the workspace each",
            "judging": "the task's hidden pytest files run on a copy of what the contender left (never shown to it); "
                       "pass = every hidden test passes; pages and the game in headless Chromium"
                       + ("" if browser_check.available() else " (missing here: those tasks are not judged)"),
            "false done": "sparkcode ended `done` but the hidden tests failed"}
    body = markdown_table(header(res), table_rows(res)) + "\n\n" + markdown_table(SUMMARY_HEADER, summary_rows(res))
    lines = []
    for c in res.contenders:
        if c["kind"] != "sparkcode":
            continue
        s = res.summary(c["name"])
        fd = [r.task for r in res.of(c["name"]) if r.status == "done" and r.passed is False]
        lines.append(f"- {c['name']}: {s['false_done']} task(s) ended `done` but failed the hidden tests"
                     + (f" ({', '.join(fd)})" if fd else "") + f"; {s['unverified']} ended `unverified`; "
                     f"{s['verify_s']:.0f} s of its {s['total_wall_s']:.0f} s total wall went to verification "
                     f"(without it: {s['total_wall_s'] - s['verify_s']:.0f} s, though then nothing is verified).")
    if lines:
        body += "\n\n" + "\n".join(lines)
    append_section(out, "Tasks: hidden-test suite", meta, body, png)


# ---- command line ----------------------------------------------------------------------------------------------

def add_arguments(p) -> None:
    """The flags of `sparkcode bench tasks`."""
    def positive_int(v: str) -> int:
        n = int(v)
        if n <= 0:
            raise ValueError(v)
        return n

    p.description = ("Run small coding tasks with hidden tests (bug fixes, features, refactors, CLIs, modules, "
                     "pages, a game) under sparkcode's agent and Aider, and compare pass rates and wall time.")
    p.add_argument("--contenders", default=DEFAULT_CONTENDERS,
                   help=f"comma list of sparkcode:<profile> and aider (default {DEFAULT_CONTENDERS})")
    p.add_argument("--tasks", default=None, help="comma list of task names (default: all; see --list)")
    p.add_argument("--model", "-m", default=None,
                   help="run every contender on this model (default: each profile's own; Aider: the first "
                        "sparkcode profile's)")
    p.add_argument("--timeout", type=positive_int, default=600, help="seconds per task and contender (default 600)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for local models")
    p.add_argument("--max-turns", type=positive_int, default=8, help="sparkcode agent turns per attempt (default 8)")
    p.add_argument("--candidates", type=positive_int, default=DEFAULT_CANDIDATES,
                   help=f"sparkcode's replies per attempt when the first fails its checks, the best-checked kept "
                        f"(default {DEFAULT_CANDIDATES}, as `sparkcode run`; 1 = off)")
    p.add_argument("--journal", default=None,
                   help="JSONL file that records each task as it finishes; a rerun with the same file skips what "
                        "is already there (resume an interrupted run)")
    p.add_argument("--keep", action="store_true", help="keep each task's workspace and record where it is")
    p.add_argument("--list", action="store_true", help="list the tasks and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object with per-task results")
    p.add_argument("--out", default="docs/BENCHMARKS.md", help="markdown file to append to ('-' = print only)")


def main(args) -> int:
    """`sparkcode bench tasks`: see `add_arguments`."""
    tasks = load_tasks(args.tasks.split(",") if args.tasks else None)
    if args.list:
        for t in tasks:
            print(f"{t.name}: {t.statement.splitlines()[0][:110]}")
        return 0
    contenders = make_contenders(args.contenders, model=args.model, threads=args.threads, max_turns=args.max_turns,
                                 candidates=args.candidates)
    log = (lambda line: print(line, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    res = run_tasks(tasks, contenders, timeout_s=args.timeout, journal=args.journal, progress=log, keep=args.keep)
    log(f"done in {time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps(res.to_dict(), ensure_ascii=False))
    else:
        print_table(res)
    if args.out and not (args.json and args.out == "-"):
        import contextlib

        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
            write_report(res, args.out, args.threads, args.timeout)
    return 0 if all(r.status != "error" for r in res.results) else 1
