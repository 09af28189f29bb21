"""A program's error message printed right before a failing exit goes to stderr (stderr.py)."""

from __future__ import annotations

import subprocess
import sys

from sparkcode.agent.stderr import errors_to_stderr
from sparkcode.agent.workspace import Workspace

CLI = '''"""Converter."""
from __future__ import annotations

import argparse


def main(argv=None):
    args = argparse.ArgumentParser().parse_known_args(argv)[1]
    if not args:
        print("Error: missing subcommand")
        sys.exit(2)
    if args[0] == "x":
        print(f"Error: unknown {args[0]}",
              "try c2f")
        exit(3)
    print("fine")
    sys.exit(0)


if __name__ == "__main__":
    main()
'''


def test_an_error_printed_before_a_failing_exit_goes_to_stderr_and_nothing_else_changes(tmp_path):
    (tmp_path / "conv.py").write_text(CLI)
    notes = errors_to_stderr(Workspace(tmp_path), ["conv.py"])
    assert notes == ["conv.py: the error message printed before a failing exit now goes to stderr (2 prints got "
                     "file=sys.stderr)"]
    text = (tmp_path / "conv.py").read_text()
    assert text.startswith('"""Converter."""\nfrom __future__ import annotations\nimport sys\n')
    assert 'print("fine")' in text and text.count("file=sys.stderr") == 2
    r = subprocess.run([sys.executable, "conv.py"], cwd=tmp_path, capture_output=True, text=True)
    assert (r.returncode, r.stdout, r.stderr.strip()) == (2, "", "Error: missing subcommand")
    r = subprocess.run([sys.executable, "conv.py", "x"], cwd=tmp_path, capture_output=True, text=True)
    assert (r.returncode, r.stderr.strip()) == (3, "Error: unknown x try c2f")
    assert errors_to_stderr(Workspace(tmp_path), ["conv.py"]) == []  # nothing left to fix


def test_a_successful_exit_a_computed_status_and_a_broken_file_are_left_alone(tmp_path):
    src = 'import sys\n\nprint("done")\nsys.exit(0)\nprint("maybe")\nsys.exit(main())\n'
    (tmp_path / "ok.py").write_text(src)
    (tmp_path / "bad.py").write_text('print("x"\nsys.exit(1)\n')
    assert errors_to_stderr(Workspace(tmp_path), ["ok.py", "bad.py"]) == []
    assert (tmp_path / "ok.py").read_text() == src
