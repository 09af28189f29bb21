"""Shadow-git checkpoints: exact restore, isolation from the user's own git, undo of runs."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from sparkcode.agent.checkpoint import Checkpoint, CheckpointError, undo_last
from sparkcode.agent.workspace import Workspace

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _state(root: Path) -> dict:
    """Every file (bytes, exec bit), symlink and directory under root, minus .git and .sparkcode."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if d != ".git" and not (rel_dir == Path(".") and d == ".sparkcode")]
        for d in dirnames:
            p = Path(dirpath) / d
            out[(rel_dir / d).as_posix()] = ("link", os.readlink(p)) if p.is_symlink() else ("dir",)
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_symlink():
                out[(rel_dir / f).as_posix()] = ("link", os.readlink(p))
            else:
                out[(rel_dir / f).as_posix()] = ("file", p.read_bytes(), bool(p.stat().st_mode & stat.S_IXUSR))
    return out


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "deep" / "er").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('v1')\n")
    (root / "src" / "deep" / "er" / "nested.txt").write_text("nested\n")
    (root / "data.bin").write_bytes(bytes(range(256)) * 4)
    (root / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "empty_dir").mkdir()
    (root / "link").symlink_to("src/app.py")
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / ".gitattributes").write_text("* text eol=crlf\n")
    (root / "debug.log").write_text("ignored by the user's git, still snapshotted\n")
    return root


def _mess_up(root: Path) -> None:
    (root / "src" / "app.py").write_text("print('v2')\n")  # modified
    (root / "src" / "deep" / "er" / "nested.txt").unlink()  # deleted (and its dirs emptied)
    (root / "data.bin").write_bytes(b"\x00corrupted")  # binary modified
    (root / "crlf.txt").write_bytes(b"one\ntwo\n")
    (root / "run.sh").chmod(0o644)
    (root / "debug.log").unlink()
    shutil.rmtree(root / "empty_dir")
    (root / "link").unlink()
    (root / "link").write_text("now a file\n")
    (root / "new_dir" / "sub").mkdir(parents=True)  # created
    (root / "new_dir" / "sub" / "created.py").write_text("x = 1\n")
    (root / "new_empty").mkdir()
    (root / "build").mkdir()
    (root / "build" / "out.o").write_bytes(b"\x7fELF")
    (root / "src" / "added.txt").write_text("added\n")


def test_restore_gives_back_the_exact_tree(ws):
    before = _state(ws)
    cp = Checkpoint(ws)
    commit = cp.snapshot("before")
    assert len(commit) == 40
    _mess_up(ws)
    assert _state(ws) != before
    assert {"src/app.py", "new_dir/sub/created.py", "debug.log"} <= set(cp.changed_files(commit))
    cp.restore(commit)
    assert _state(ws) == before


def test_restore_to_a_later_snapshot_and_back(ws):
    cp = Checkpoint(ws)
    first = cp.snapshot("first")
    state1 = _state(ws)
    _mess_up(ws)
    state2 = _state(ws)
    second = cp.snapshot("second")
    cp.restore(first)
    assert _state(ws) == state1
    cp.restore(second)
    assert _state(ws) == state2


def test_empty_workspace(tmp_path):
    cp = Checkpoint(tmp_path)
    commit = cp.snapshot("empty")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "d").mkdir()
    cp.restore(commit)
    assert _state(tmp_path) == {}


def test_never_touches_the_users_git_or_state(ws):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=u", "-c", "user.email=u@x", *args], cwd=ws, env=env,
                              capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("add", "src/app.py")
    git("commit", "-q", "-m", "user commit")
    (ws / ".git" / "custom-file").write_text("mine\n")
    user_head, user_status = git("rev-parse", "HEAD"), git("status", "--porcelain")
    user_index = (ws / ".git" / "index").read_bytes()
    cp = Checkpoint(ws)
    commit = cp.snapshot("s")
    _mess_up(ws)
    (ws / "src" / "app.py").write_text("print('v1')\n")
    cp.restore(commit)
    # read before any git command: `git status` itself may refresh the index's stat data
    assert (ws / ".git" / "index").read_bytes() == user_index
    assert git("rev-parse", "HEAD") == user_head
    assert git("status", "--porcelain") == user_status
    assert (ws / ".git" / "custom-file").read_text() == "mine\n"
    assert ".sparkcode" not in user_status  # .sparkcode/.gitignore keeps it out of the user's repo
    assert (ws / ".sparkcode" / "checkpoints.json").exists()


def test_snapshot_excludes_sparkcode_dir(ws):
    cp = Checkpoint(ws)
    commit = cp.snapshot("s")
    files = cp._git("ls-tree", "-r", "--name-only", commit).split()
    assert not [f for f in files if f.startswith(".sparkcode")]
    assert "debug.log" in files and ".gitignore" in files


def test_user_git_environment_cannot_break_it(ws, monkeypatch):
    monkeypatch.setenv("GIT_DIR", str(ws / "nowhere"))
    monkeypatch.setenv("GIT_WORK_TREE", "/")
    monkeypatch.setenv("GIT_INDEX_FILE", str(ws / "bogus-index"))
    cp = Checkpoint(ws)
    commit = cp.snapshot("s")
    (ws / "src" / "app.py").write_text("changed\n")
    cp.restore(commit)
    assert (ws / "src" / "app.py").read_text() == "print('v1')\n"
    assert not (ws / "bogus-index").exists() and not (ws / "nowhere").exists()


def test_unknown_commit(ws):
    cp = Checkpoint(ws)
    cp.snapshot("s")
    with pytest.raises(CheckpointError, match="unknown checkpoint"):
        cp.restore("0" * 40)


def test_snapshots_are_recorded_per_run(ws):
    a = Checkpoint(ws, run_id="run-a")
    c1 = a.snapshot("start of a")
    c2 = a.snapshot("after edit")
    b = Checkpoint(ws, run_id="run-b")
    c3 = b.snapshot("start of b")
    recs = Checkpoint(ws).snapshots()
    assert [(r["run_id"], r["commit"], r["message"]) for r in recs] == [
        ("run-a", c1, "start of a"), ("run-a", c2, "after edit"), ("run-b", c3, "start of b")]
    assert all(isinstance(r["time"], float) for r in recs)


def test_undo_last_restores_before_the_most_recent_run(ws):
    v1 = _state(ws)
    run1 = Checkpoint(ws, run_id="run-1")
    run1.snapshot("start")
    (ws / "src" / "app.py").write_text("print('run 1')\n")
    run1.snapshot("after edit")
    v2 = _state(ws)
    run2 = Checkpoint(ws, run_id="run-2")
    run2.snapshot("start")
    (ws / "src" / "app.py").write_text("print('run 2')\n")
    (ws / "run2.txt").write_text("made by run 2\n")
    run2.snapshot("mid-run")
    (ws / "src" / "app.py").unlink()

    rec = undo_last(Workspace(ws))
    assert rec["run_id"] == "run-2" and len(rec["saved"]) == 40
    assert _state(ws) == v2
    rec = undo_last(ws)  # a second undo goes one run further back
    assert rec["run_id"] == "run-1"
    assert _state(ws) == v1
    with pytest.raises(CheckpointError, match="nothing to undo"):
        undo_last(ws)


def test_undo_with_no_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to undo"):
        undo_last(tmp_path)
