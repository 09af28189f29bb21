"""Workspace confinement (the adversarial cases first), reading, atomic writing, listing, map."""

import os
import stat
from pathlib import Path

import pytest

from sparkcode.agent.workspace import ToolError, Workspace
from sparkcode.errors import SparkcodeError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "README.md").write_text("# Demo\n\nA demo project.\n")
    (root / "src" / "pkg" / "main.py").write_text("def main():\n    print('hi')\n")
    (root / "src" / "pkg" / "__init__.py").write_text("")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    return root


@pytest.fixture
def ws(tree: Path) -> Workspace:
    return Workspace(tree)


# ---- adversarial ------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["../outside/secret.txt", "src/../../outside/secret.txt", "..", "../ws2/x",
                                 "src/pkg/../../../outside/secret.txt"])
def test_dotdot_escape_refused(ws, rel):
    with pytest.raises(ToolError, match="escapes the workspace"):
        ws.resolve(rel)
    with pytest.raises(ToolError):
        ws.write_text(rel, "x")


def test_dotdot_inside_is_fine(ws, tree):
    assert ws.resolve("src/pkg/../../README.md") == tree.resolve() / "README.md"


def test_absolute_paths(ws, tree):
    assert ws.resolve(str(tree / "README.md")) == tree.resolve() / "README.md"
    with pytest.raises(ToolError, match="outside the workspace"):
        ws.resolve("/etc/passwd")
    with pytest.raises(ToolError, match="outside the workspace"):
        ws.write_text(str(tree.parent / "outside" / "new.txt"), "x")
    assert not (tree.parent / "outside" / "new.txt").exists()


def test_symlink_out_refused_for_read_and_write(ws, tree):
    secret = tree.parent / "outside" / "secret.txt"
    (tree / "link.txt").symlink_to(secret)
    (tree / "linkdir").symlink_to(tree.parent / "outside")
    with pytest.raises(ToolError, match="symlink"):
        ws.read_text("link.txt")
    with pytest.raises(ToolError, match="symlink"):
        ws.write_text("link.txt", "pwned")
    with pytest.raises(ToolError, match="symlink"):
        ws.write_text("linkdir/new.txt", "pwned")  # a file that does not exist yet, via a dir link
    with pytest.raises(ToolError, match="symlink"):
        ws.read_text("linkdir/secret.txt")
    assert secret.read_text() == "secret\n"
    assert not (tree.parent / "outside" / "new.txt").exists()


def test_symlink_then_dotdot_follows_the_real_path(ws, tree):
    (tree / "deep").mkdir()
    (tree / "deep" / "up").symlink_to(tree.parent / "outside")
    # lexically "deep/up/../README.md" is inside, but the OS resolves "up" first, then ".."
    with pytest.raises(ToolError):
        ws.read_text("deep/up/../outside/secret.txt")


def test_symlink_inside_is_fine(ws, tree):
    (tree / "alias.md").symlink_to(tree / "README.md")
    assert ws.read_text("alias.md").startswith("# Demo")
    ws.write_text("alias.md", "new\n")
    assert (tree / "alias.md").is_symlink()
    assert (tree / "README.md").read_text() == "new\n"


def test_symlink_to_dev_zero_refused(ws, tree):
    (tree / "zero").symlink_to("/dev/zero")
    with pytest.raises(ToolError):
        ws.read_text("zero")
    with pytest.raises(ToolError):
        ws.write_text("zero", "x")


def test_fifo_inside_refused(ws, tree):
    os.mkfifo(tree / "pipe")
    (tree / "pipelink").symlink_to(tree / "pipe")
    for rel in ("pipe", "pipelink"):
        with pytest.raises(ToolError, match="not a regular file"):
            ws.read_text(rel)  # would block forever if it were opened


@pytest.mark.parametrize("rel", [".git/config", ".git/hooks/pre-commit", ".sparkcode/checkpoints.json",
                                 "sub/.git/HEAD", "./.git/x", "src/../.git/config"])
def test_writes_into_git_and_state_dirs_refused(ws, tree, rel):
    with pytest.raises(ToolError, match="not allowed"):
        ws.write_text(rel, "x")
    assert (tree / ".git" / "config").read_text() == "[core]\n"


def test_symlink_into_git_refused_for_write(ws, tree):
    (tree / "cfg").symlink_to(tree / ".git" / "config")
    with pytest.raises(ToolError, match="not allowed"):
        ws.write_text("cfg", "x")


def test_reading_git_is_allowed(ws):
    assert ws.read_text(".git/config") == "[core]\n"


def test_read_only_mode(tree):
    ro = Workspace(tree, mode="read-only")
    assert ro.read_text("README.md").startswith("# Demo")
    with pytest.raises(ToolError, match="read-only"):
        ro.write_text("README.md", "x")
    with pytest.raises(ToolError, match="read-only"):
        ro.resolve("new.txt", for_write=True)
    assert not ro.can_write and not ro.can_run
    assert (tree / "README.md").read_text().startswith("# Demo")


def test_bad_inputs(ws, tree):
    for bad in ("", "   ", "a\0b", None, 3):
        with pytest.raises(ToolError):
            ws.resolve(bad)
    with pytest.raises(ToolError, match="mode"):
        Workspace(tree, mode="yolo")
    with pytest.raises(ToolError, match="not a directory"):
        Workspace(tree / "README.md")
    assert issubclass(ToolError, SparkcodeError)


# ---- reading ----------------------------------------------------------------------------------

def test_read_text_ranges(ws, tree):
    (tree / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    assert ws.read_text("n.txt").count("\n") == 100
    part = ws.read_text("n.txt", start_line=10, end_line=12)
    assert part == "line 10\nline 11\nline 12\n[lines 10-12 of 100]"
    assert ws.read_text("n.txt", start_line=99).startswith("line 99\nline 100\n")
    with pytest.raises(ToolError, match="past the end"):
        ws.read_text("n.txt", start_line=500)
    with pytest.raises(ToolError, match="start_line"):
        ws.read_text("n.txt", start_line=0)
    with pytest.raises(ToolError, match="before start_line"):
        ws.read_text("n.txt", start_line=5, end_line=3)


def test_read_text_truncates_huge_files(ws, tree):
    (tree / "big.txt").write_text("".join(f"{i:06d} " + "x" * 92 + "\n" for i in range(20_000)))  # ~2 MB
    text = ws.read_text("big.txt", max_bytes=10_000)
    assert len(text) < 10_300
    assert "[truncated: showing lines 1-100 of 20000; read on with start_line=101]" in text
    assert ws.read_text("big.txt", start_line=101, end_line=101).startswith("000100 ")


def test_read_text_refuses_binary_and_dirs(ws, tree):
    (tree / "blob.bin").write_bytes(b"\x7fELF\x00\x01\x02" * 100)
    with pytest.raises(ToolError, match="binary"):
        ws.read_text("blob.bin")
    with pytest.raises(ToolError, match="directory"):
        ws.read_text("src")
    with pytest.raises(ToolError, match="no such file"):
        ws.read_text("nope.txt")


def test_read_text_bad_utf8_is_replaced(ws, tree):
    (tree / "latin.txt").write_bytes(b"caf\xe9\n")
    assert ws.read_text("latin.txt") == "caf\ufffd\n"


# ---- writing ----------------------------------------------------------------------------------

def test_write_text_atomic_keeps_mode_and_creates_parents(ws, tree):
    script = tree / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o751)
    ws.write_text("run.sh", "echo new\n")
    assert script.read_text() == "echo new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o751
    ws.write_text("a/b/c/new.py", "x = 1\r\n")
    assert (tree / "a/b/c/new.py").read_bytes() == b"x = 1\r\n"  # written exactly, no newline mangling
    mode = stat.S_IMODE((tree / "a/b/c/new.py").stat().st_mode)
    assert mode & 0o644 == 0o644 or mode == 0o666 & ~_umask()
    assert not [p for p in tree.rglob("*.tmp")]


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_write_text_errors(ws, tree):
    with pytest.raises(ToolError, match="directory"):
        ws.write_text("src", "x")
    with pytest.raises(ToolError, match="parent.*is a file"):
        ws.write_text("README.md/child.txt", "x")
    with pytest.raises(ToolError, match="root"):
        ws.write_text(".", "x")


# ---- overview ---------------------------------------------------------------------------------

def test_list_files_skips_noise_and_sorts(ws, tree):
    for d in ("node_modules/x", "__pycache__", ".venv/lib", ".sparkcode"):
        (tree / d).mkdir(parents=True, exist_ok=True)
        (tree / d / "junk.txt").write_text("junk")
    files = ws.list_files()
    assert list(files) == ["README.md", "src/pkg/__init__.py", "src/pkg/main.py"]
    assert files.total == 3 and not files.truncated


def test_list_files_cap_prefers_shallow(ws, tree):
    (tree / "deep" / "er").mkdir(parents=True)
    for i in range(30):
        (tree / "deep" / "er" / f"f{i:02d}.txt").write_text("x")
    files = ws.list_files(max_files=5)
    assert len(files) == 5 and files.total == 33 and files.truncated
    assert "README.md" in files and files == sorted(files)


def test_tree_summary_shows_tree_sizes_and_key_files(ws):
    text = ws.tree_summary()
    assert text.splitlines()[0].startswith("./  (the workspace root: 3 files")  # paths are relative to it
    assert "README.md  " in text and "main.py  " in text
    assert "--- README.md (whole file)" in text and "A demo project." in text  # small files are shown whole
    assert "def main():" in text


def test_tree_summary_shows_a_long_key_file_by_its_head(tmp_path):
    (tmp_path / "big.py").write_text("".join(f"x{i} = {i}\n" for i in range(150)))  # a key file (< 2 KB), over the room
    text = Workspace(tmp_path).tree_summary(max_chars=1200)
    assert "--- big.py (first 10 lines) …" in text and "x9 = 9" in text and "x10 = 10" not in text


def test_tree_summary_respects_budget_on_big_trees(ws, tree):
    for d in range(30):
        sub = tree / f"module_{d:02d}" / "inner"
        sub.mkdir(parents=True)
        for f in range(20):
            (sub / f"file_with_a_long_name_{f:02d}.py").write_text("pass\n")
    text = ws.tree_summary(max_chars=2000)
    assert len(text) <= 2000
    assert "module_00/" in text and "(20 files" in text  # collapsed into directory totals
    assert "README.md" in text


def test_tree_summary_empty(tmp_path):
    assert "(empty)" in Workspace(tmp_path).tree_summary()
