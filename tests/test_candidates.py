"""When an attempt's first reply fails its checks, more are drawn at once, each checked, the best
kept (agent/candidates.py and `Agent._best_of`), with a scripted model: which one is kept, what
the files end as, what the model sees next, and when no more are drawn."""

from __future__ import annotations

from sparkcode.agent.loop import Agent, AgentConfig
from sparkcode.agent.workspace import Workspace
from sparkcode.backends.scripted import ScriptedBackend

TESTS = """from calc import add, mul


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6
"""


def calc(add: str, mul: str, extra: str = "") -> str:
    return f"FILE: calc.py\n```python\ndef add(a, b):\n    return {add}\n\n\ndef mul(a, b):\n    return {mul}\n```\n{extra}"


BOTH_WRONG = calc("a - b", "a + b")
ONE_WRONG = calc("a + b", "a + b")
RIGHT = calc("a + b", "a * b")
SYNTAX = "FILE: calc.py\n```python\ndef add(a, b)\n    return a + b\n```\nFILE: notes.txt\n```\nscratch\n```"


def agent(tmp_path, replies, **cfg):
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    (ws_dir / "test_calc.py").write_text(TESTS)
    cfg = {"browser_check": False, "acceptance": False, "candidates": 3, **cfg}
    backend = ScriptedBackend(replies)
    return Agent(backend, Workspace(ws_dir), AgentConfig(**cfg)), backend


def test_a_first_reply_that_passes_draws_no_more(tmp_path):
    a, backend = agent(tmp_path, [RIGHT])
    out = a.run("write calc.py with add and mul")
    assert out.status == "done" and len(backend.requests) == 1


def test_the_first_candidate_that_passes_is_kept_and_the_rest_are_not_checked(tmp_path):
    a, backend = agent(tmp_path, [BOTH_WRONG, RIGHT, SYNTAX])
    out = a.run("write calc.py with add and mul")
    assert out.status == "done"
    assert "a * b" in (a.ws.root / "calc.py").read_text()
    assert not (a.ws.root / "notes.txt").exists()  # the third candidate was never carried out
    first_three = backend.requests[:3]
    assert len(backend.requests) == 3 and len(out.turns) == 1
    assert first_three[0].sampling.temperature == 0.0  # the first as the turn would be sampled anyway
    assert all(r.sampling.temperature > 0 for r in first_three[1:])
    assert len({r.sampling.seed for r in first_three[1:]}) == 2
    assert all(r.messages == first_three[0].messages for r in first_three)
    assert out.turns[0].completion_tokens == sum(len(t) // 4 + 1 for t in (BOTH_WRONG, RIGHT, SYNTAX))


def test_with_no_candidate_passing_the_one_failing_least_is_kept_and_repaired(tmp_path):
    a, backend = agent(tmp_path, [BOTH_WRONG, ONE_WRONG, SYNTAX, RIGHT])
    out = a.run("write calc.py with add and mul")
    assert out.status == "done" and len(out.turns) == 2
    assert len(backend.requests) == 4  # three candidates, then one repair turn (not three)
    repair = backend.requests[3].messages
    assert repair[-2] == {"role": "assistant", "content": ONE_WRONG}  # the model sees the kept reply as its own
    assert "test_mul" in repair[-1]["content"] and "FAILED" in repair[-1]["content"]
    assert not (a.ws.root / "notes.txt").exists()  # the last candidate's extra file went with it
    assert "a * b" in (a.ws.root / "calc.py").read_text()


def test_candidates_cut_at_the_wall_time_limit_leave_the_best_one_checked_in_place(tmp_path):
    """Measured: the limit passed while candidates 2 and 3 were written; the files were put back as
    before them for the cut one, and the run ended with no csvsum.py at all."""
    import time

    def until_the_limit(request):
        while not request.should_stop():
            time.sleep(0.05)
        return RIGHT  # cut after its first chunk: no whole reply

    a, backend = agent(tmp_path, [ONE_WRONG, until_the_limit, until_the_limit], wall_limit_s=1.5)
    out = a.run("write calc.py with add and mul")
    assert out.status == "timeout", out.summary
    assert (a.ws.root / "calc.py").read_text() == ONE_WRONG.split("```python\n")[1].split("```")[0]
    assert out.files_written == ["calc.py"]


def test_a_candidate_that_writes_nothing_never_beats_one_that_wrote_code(tmp_path):
    a, backend = agent(tmp_path, ["I would write calc.py like this: add and mul.", BOTH_WRONG, RIGHT])
    out = a.run("write calc.py with add and mul")
    assert out.status == "done" and "a * b" in (a.ws.root / "calc.py").read_text()


def test_a_candidate_that_copies_the_file_unchanged_ranks_below_one_that_changed_it(tmp_path):
    other_wrong = calc("a - b", "a ** b")  # changed, and fails both tests as the copies do
    a, backend = agent(tmp_path, [BOTH_WRONG, BOTH_WRONG, other_wrong, RIGHT])
    (a.ws.root / "calc.py").write_text(calc("a - b", "a + b").split("```python\n")[1].split("```")[0])
    out = a.run("fix calc.py: add and mul are wrong")
    assert out.status == "done" and len(backend.requests) == 4
    assert backend.requests[3].messages[-2] == {"role": "assistant", "content": other_wrong}
    # the first reply copied the file: the other candidates were drawn hotter, spread up to HOTTEST_CANDIDATE
    from sparkcode.agent.candidates import CANDIDATE_TEMPERATURE, HOTTEST_CANDIDATE

    assert [r.sampling.temperature for r in backend.requests[1:3]] == [CANDIDATE_TEMPERATURE, HOTTEST_CANDIDATE]
    (tmp_path / "new").mkdir()
    a, backend = agent(tmp_path / "new", [BOTH_WRONG, ONE_WRONG, RIGHT])
    assert a.run("write calc.py with add and mul").status == "done"
    assert [r.sampling.temperature for r in backend.requests[1:3]] == [CANDIDATE_TEMPERATURE] * 2  # it wrote something new


def test_the_other_candidates_are_warm_and_spread_hot_when_the_first_reply_copied_the_files():
    from sparkcode.agent.candidates import CANDIDATE_TEMPERATURE, HOTTEST_CANDIDATE, candidate_samplings
    from sparkcode.engine.sampling import SamplingParams

    temps = [s.temperature for s in candidate_samplings(SamplingParams(temperature=0.0), 4, copied=True)]
    assert temps[0] == 0.0 and temps[1] == CANDIDATE_TEMPERATURE and temps[-1] == HOTTEST_CANDIDATE
    assert temps == sorted(temps) and len(set(temps)) == 4
    warm = candidate_samplings(SamplingParams(temperature=0.0), 4)
    assert [s.temperature for s in warm[1:]] == [CANDIDATE_TEMPERATURE] * 3
    assert len({s.seed for s in warm}) == 4  # each its own draw
    assert [s.greedy_first for s in warm] == [False, True, True, True]  # each opens with the action, then spreads
    hot_turn = candidate_samplings(SamplingParams(temperature=1.2), 3)
    assert all(s.temperature == 1.2 for s in hot_turn)  # never cooler than the turn itself


def test_no_candidates_without_a_batching_backend(tmp_path):
    class OneAtATime:  # a backend that streams one reply at a time and cannot batch
        def __init__(self, replies):
            self.inner = ScriptedBackend(replies)
            self.name = "one"

        def stream_chat(self, request):
            return self.inner.stream_chat(request)

    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    (ws_dir / "test_calc.py").write_text(TESTS)
    backend = OneAtATime([RIGHT])
    out = Agent(backend, Workspace(ws_dir), AgentConfig(browser_check=False, acceptance=False, candidates=3)).run(
        "write calc.py with add and mul")
    assert out.status == "done" and len(backend.inner.requests) == 1


def test_a_fresh_start_draws_candidates_again(tmp_path):
    # attempt 1: three failing candidates, then two failed repair rounds -> a fresh start with three more
    a, backend = agent(tmp_path, [BOTH_WRONG, BOTH_WRONG, BOTH_WRONG, calc("a - b", "a - b"), calc("0", "0"),
                                  BOTH_WRONG, RIGHT, SYNTAX], fresh_after=2)
    out = a.run("write calc.py with add and mul")
    assert out.status == "done", out.summary
    assert len(backend.requests) == 8  # 3 candidates, 2 repair turns, 3 candidates again
    fresh = backend.requests[5:8]
    assert fresh[0].messages == fresh[2].messages and len(fresh[0].messages) == 2  # back at the task
    # the run's first reply alone, then 2 more together; after a failed attempt all 3 together at once
    assert backend.batches == [2, 3] and all(r.sampling.temperature > 0 for r in fresh)
    assert len({r.sampling.seed for r in fresh}) == 3
    assert "a * b" in (a.ws.root / "calc.py").read_text() and not (a.ws.root / "notes.txt").exists()


def page(problems: int) -> str:
    """A page reply with `problems` things the static page check refuses (missing local scripts)."""
    links = "".join(f'<script src="lib{i}.js"></script>' for i in range(problems))
    return f"FILE: game.html\n```html\n<!DOCTYPE html>\n<html><head>{links}</head>\n<body><p>hi</p></body>\n</html>\n```"


def test_pages_are_ranked_by_how_many_problems_they_have(tmp_path):
    (tmp_path / "ws").mkdir()
    backend = ScriptedBackend([page(2), page(1), page(3), page(0)])
    a = Agent(backend, Workspace(tmp_path / "ws"), AgentConfig(browser_check=False, acceptance=False, candidates=3))
    out = a.run("make a page that says hi")
    assert len(backend.requests) == 4
    assert backend.requests[3].messages[-2]["content"] == page(1)  # the one with the fewest problems was kept
    assert out.status == "unverified" and "lib0.js" not in (a.ws.root / "game.html").read_text()
