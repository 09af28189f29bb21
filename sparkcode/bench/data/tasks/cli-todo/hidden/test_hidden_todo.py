import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def make_run(tmp_path):
    shutil.copy(HERE / "todo.py", tmp_path / "todo.py")

    def run(*args):
        return subprocess.run([sys.executable, "todo.py", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=30)
    return run


def test_add_prints_increasing_ids(tmp_path):
    run = make_run(tmp_path)
    assert run("add", "buy milk").stdout.strip() == "added 1: buy milk"
    assert run("add", "walk the dog").stdout.strip() == "added 2: walk the dog"
    assert (tmp_path / "todo.json").exists()


def test_list_and_done(tmp_path):
    run = make_run(tmp_path)
    run("add", "buy milk")
    run("add", "walk the dog")
    assert run("list").stdout.strip().splitlines() == ["1 [ ] buy milk", "2 [ ] walk the dog"]
    r = run("done", "1")
    assert r.returncode == 0
    assert run("list").stdout.strip().splitlines() == ["1 [x] buy milk", "2 [ ] walk the dog"]


def test_done_unknown_id_exits_1(tmp_path):
    run = make_run(tmp_path)
    run("add", "buy milk")
    r = run("done", "7")
    assert r.returncode == 1
    assert r.stderr.strip()


def test_no_or_unknown_command_exits_2(tmp_path):
    run = make_run(tmp_path)
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2
