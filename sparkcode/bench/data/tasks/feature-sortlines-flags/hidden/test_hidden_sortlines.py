import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def run(tmp_path, *flags):
    data = tmp_path / "lines.txt"
    data.write_text("b\na\nc\na\n")
    return subprocess.run([sys.executable, str(HERE / "sortlines.py"), *flags, str(data)],
                          capture_output=True, text=True, timeout=30)


def test_default_is_unchanged(tmp_path):
    assert run(tmp_path).stdout.split() == ["a", "a", "b", "c"]


@pytest.mark.parametrize("flag", ["-r", "--reverse"])
def test_reverse(tmp_path, flag):
    assert run(tmp_path, flag).stdout.split() == ["c", "b", "a", "a"]


@pytest.mark.parametrize("flag", ["-u", "--unique"])
def test_unique(tmp_path, flag):
    assert run(tmp_path, flag).stdout.split() == ["a", "b", "c"]


def test_reverse_and_unique_combined(tmp_path):
    assert run(tmp_path, "-r", "-u").stdout.split() == ["c", "b", "a"]
    assert run(tmp_path, "--unique", "--reverse").stdout.split() == ["c", "b", "a"]


def test_missing_file_exits_1(tmp_path):
    r = subprocess.run([sys.executable, str(HERE / "sortlines.py"), str(tmp_path / "nope.txt")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
