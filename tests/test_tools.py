"""The tool dispatcher: specs, every tool, and that bad calls become ok=False results."""

import json
from pathlib import Path

import pytest

from sparkcode.agent.tools import TOOL_SPECS, ToolResult, Toolbox, cap
from sparkcode.agent.workspace import Workspace


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "ws"
    r.mkdir()
    (r / "app.py").write_text("def add(a, b):\n    return a - b\n\n\nprint(add(1, 2))\n")
    (r / "README.md").write_text("# app\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    return r


@pytest.fixture
def tb(root: Path) -> Toolbox:
    return Toolbox(Workspace(root), command_timeout=10)


def test_specs_shape():
    names = [s["function"]["name"] for s in TOOL_SPECS]
    assert names == ["list_files", "read_file", "write_file", "edit_file", "search", "run", "finish"]
    for s in TOOL_SPECS:
        assert s["type"] == "function"
        params = s["function"]["parameters"]
        assert params["type"] == "object" and set(params["required"]) <= set(params["properties"])
        json.dumps(s)


def test_read_only_specs(root):
    ro = Toolbox(Workspace(root, mode="read-only"))
    assert [s["function"]["name"] for s in ro.specs()] == ["list_files", "read_file", "search", "finish"]


def test_list_and_read(tb):
    r = tb.call("list_files", {})
    assert r.ok and r.output == "2 files\nREADME.md\napp.py"
    r = tb.call("read_file", {"path": "app.py"})
    assert r.ok and r.output.startswith("def add(a, b):\n") and not r.changed_files
    r = tb.call("read_file", {"path": "app.py", "start_line": "2", "end_line": 2})
    assert r.ok and r.output == "    return a - b\n[lines 2-2 of 5]"


def test_write_file(tb, root):
    r = tb.call("write_file", {"path": "pkg/new.py", "content": "x = 1\n"})
    assert r.ok and r.changed_files == ["pkg/new.py"] and r.output.startswith("created pkg/new.py")
    assert "+x = 1" in r.diff
    assert (root / "pkg" / "new.py").read_text() == "x = 1\n"
    r = tb.call("write_file", {"path": "pkg/new.py", "content": "x = 1\n"})
    assert r.ok and not r.changed_files and "nothing written" in r.output


def test_edit_file_search_replace(tb, root):
    r = tb.call("edit_file", {"path": "app.py", "search": "    return a - b\n", "replace": "    return a + b\n"})
    assert r.ok, r.output
    assert r.changed_files == ["app.py"] and "-    return a - b\n+    return a + b\n" in r.diff
    assert "return a + b" in (root / "app.py").read_text()


def test_edit_file_reports_fuzzy_strategy(tb, root):
    r = tb.call("edit_file", {"path": "app.py", "search": "return a - b", "replace": "return a * b"})
    assert r.ok and "matched by exact text" in r.output


def test_edit_file_with_blocks_across_files_is_all_or_nothing(tb, root):
    edits = ("app.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"
             "README.md\n<<<<<<< SEARCH\n# app\n=======\n# calculator\n>>>>>>> REPLACE\n"
             "notes/todo.txt\n<<<<<<< SEARCH\n=======\n- tests\n>>>>>>> REPLACE\n")
    r = tb.call("edit_file", {"edits": edits})
    assert r.ok, r.output
    assert r.changed_files == ["app.py", "README.md", "notes/todo.txt"]
    assert (root / "README.md").read_text() == "# calculator\n"
    assert (root / "notes" / "todo.txt").read_text() == "- tests\n"
    before = (root / "app.py").read_text()
    bad = ("app.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return b + a\n>>>>>>> REPLACE\n"
           "README.md\n<<<<<<< SEARCH\nnot there at all\n=======\nx\n>>>>>>> REPLACE\n")
    r = tb.call("edit_file", {"edits": bad})
    assert not r.ok and "block 2 (README.md)" in r.output and "no block was applied" in r.output
    assert (root / "app.py").read_text() == before


def test_edit_file_blocks_default_to_path_argument(tb, root):
    r = tb.call("edit_file", {"path": "app.py", "edits": "<<<<<<< SEARCH\nprint(add(1, 2))\n=======\n"
                                                         "print(add(2, 3))\n>>>>>>> REPLACE\n"})
    assert r.ok and "add(2, 3)" in (root / "app.py").read_text()


def test_edit_file_errors_are_results(tb, root):
    r = tb.call("edit_file", {"path": "app.py", "search": "return a / b\n", "replace": "x\n"})
    assert not r.ok and "not found" in r.output and "return a - b" in r.output
    r = tb.call("edit_file", {"path": "missing.py", "search": "x\n", "replace": "y\n"})
    assert not r.ok and "no such file" in r.output
    r = tb.call("edit_file", {"edits": "app.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n"})
    assert not r.ok and "missing '======='" in r.output
    r = tb.call("edit_file", {"edits": "just words"})
    assert not r.ok and "no SEARCH/REPLACE blocks" in r.output
    r = tb.call("edit_file", {"path": "app.py", "search": "x"})
    assert not r.ok and "replace" in r.output
    r = tb.call("edit_file", {"path": "app.py", "search": "    return a - b\n", "replace": "    return a - b\n"})
    assert not r.ok and "no change" in r.output
    (root / "blob.bin").write_bytes(b"\x00\x01")
    r = tb.call("edit_file", {"path": "blob.bin", "search": "x", "replace": "y"})
    assert not r.ok and "binary" in r.output


def test_run(tb, root):
    r = tb.call("run", {"command": "python3 app.py"})
    assert r.ok and r.output.startswith("exit code 0 (") and r.output.endswith("-1\n")
    r = tb.call("run", {"command": "exit 4"})
    assert not r.ok and r.output.startswith("exit code 4") and "(no output)" in r.output
    r = tb.call("run", {"command": "sleep 30", "timeout": 1})
    assert not r.ok and r.output.startswith("timed out") and "killed" in r.output


def test_run_output_is_capped(tb):
    r = tb.call("run", {"command": "seq 1 200000"})
    assert r.ok and len(r.output) <= 8000 and "cut" in r.output


def test_finish(tb):
    r = tb.call("finish", {"summary": "fixed add()"})
    assert r == ToolResult(True, "fixed add()", [], None, True)


def test_bad_calls_become_error_results(tb):
    cases = [
        ("rm_rf", {}, "unknown tool 'rm_rf'"),
        ("read_file", {}, "missing required argument 'path'"),
        ("read_file", {"pth": "x"}, "missing required argument 'path' (got pth)"),
        ("read_file", {"path": ["a"]}, "'path' must be a string"),
        ("read_file", {"path": "app.py", "start_line": "ten"}, "'start_line' must be an integer"),
        ("read_file", {"path": "app.py", "start_line": True}, "must be an integer"),
        ("write_file", {"path": "x.txt"}, "missing required argument 'content'"),
        ("run", {"command": ""}, "'command' is empty"),
        ("finish", "not json", "not valid JSON"),
        ("list_files", [1, 2], "arguments must be an object"),
    ]
    for name, args, expected in cases:
        r = tb.call(name, args)
        assert isinstance(r, ToolResult) and not r.ok, (name, args)
        assert expected in r.output, (expected, r.output)


def test_json_string_arguments_and_aliases(tb, root):
    assert tb.call("read_file", '{"path": "README.md"}').output == "# app\n"
    assert tb.call("read_file", {"file_path": "README.md"}).output == "# app\n"
    r = tb.call("write_file", {"filename": "n.txt", "contents": "hi\n"})
    assert r.ok and (root / "n.txt").read_text() == "hi\n"
    assert tb.call("run", {"cmd": "echo ok"}).output.endswith("ok\n")


def test_confinement_refusals_are_results(tb, root, tmp_path):
    (root / "out").symlink_to(tmp_path / "secret.txt")
    for name, args in [("read_file", {"path": "../secret.txt"}),
                       ("read_file", {"path": str(tmp_path / "secret.txt")}),
                       ("read_file", {"path": "out"}),
                       ("write_file", {"path": "out", "content": "pwned"}),
                       ("write_file", {"path": ".git/hooks/post-commit", "content": "evil"}),
                       ("edit_file", {"path": "../secret.txt", "search": "secret", "replace": "pwned"})]:
        r = tb.call(name, args)
        assert not r.ok and r.output.startswith(f"{name}: "), (name, args, r.output)
    assert (tmp_path / "secret.txt").read_text() == "secret\n"
    assert not (root / ".git").exists()


def test_read_only_mode_refuses_writes_and_commands(root):
    tb = Toolbox(Workspace(root, mode="read-only"))
    assert tb.call("read_file", {"path": "app.py"}).ok
    for name, args in [("write_file", {"path": "a.txt", "content": "x"}),
                       ("edit_file", {"path": "app.py", "search": "a - b", "replace": "a + b"}),
                       ("run", {"command": "touch made.txt"})]:
        r = tb.call(name, args)
        assert not r.ok and ("read-only" in r.output), r.output
    assert not (root / "a.txt").exists() and not (root / "made.txt").exists()
    assert "a - b" in (root / "app.py").read_text()


def test_full_mode_runs_unsandboxed(root, monkeypatch):
    monkeypatch.setenv("SPARK_TEST_VAR", "visible")
    full = Toolbox(Workspace(root, mode="full"))
    sandboxed = Toolbox(Workspace(root))
    assert full.call("run", {"command": "echo $SPARK_TEST_VAR"}).output.endswith("visible\n")
    assert not sandboxed.call("run", {"command": "echo $SPARK_TEST_VAR"}).output.endswith("visible\n")


def test_read_file_large_is_capped_with_a_way_on(tb, root):
    (root / "big.txt").write_text("".join(f"line {i}\n" for i in range(5000)))
    r = tb.call("read_file", {"path": "big.txt"})
    assert r.ok and len(r.output) <= 8000 and "read on with start_line=" in r.output


def test_cap():
    assert cap("short") == "short"
    text = cap("a" * 5000 + "b" * 5000, 1000)
    assert len(text) <= 1000 and text.startswith("a") and text.endswith("b") and "characters cut" in text
