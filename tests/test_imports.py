"""The import a changed file forgot is added when one workspace module defines the name (agent/imports.py)."""

from __future__ import annotations

import subprocess
import sys

from sparkcode.agent.imports import add_missing_imports
from sparkcode.agent.workspace import Workspace


def ws_with(tmp_path, files: dict[str, str]) -> Workspace:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return Workspace(tmp_path)


def test_a_moved_function_gets_imported_where_it_is_used(tmp_path):
    ws = ws_with(tmp_path, {
        "validators.py": "import re\n\n\ndef is_valid_email(a):\n    return '@' in a\n",
        "newsletter.py": '"""Doc."""\nimport re\n\nsubs = []\n\n\ndef subscribe(a):\n    if not is_valid_email(a):\n'
                         "        raise ValueError(a)\n    subs.append(a)\n",
    })
    notes = add_missing_imports(ws, ["newsletter.py", "validators.py"])
    assert notes == ["added `from validators import is_valid_email` to newsletter.py "
                     "(it used is_valid_email without importing it)"]
    text = (tmp_path / "newsletter.py").read_text()
    assert text.startswith('"""Doc."""\nimport re\nfrom validators import is_valid_email\n')
    r = subprocess.run([sys.executable, "-c", "import newsletter; newsletter.subscribe('a@b.c'); print(newsletter.subs)"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and "a@b.c" in r.stdout, r.stderr


def test_nothing_is_added_when_the_name_is_bound_ambiguous_private_or_unknown(tmp_path):
    ws = ws_with(tmp_path, {
        "a.py": "def helper():\n    return 1\n\n\ndef _hidden():\n    return 2\n",
        "b.py": "def helper():\n    return 3\n",
        "c.py": "def run(xs):\n    total = 0\n    for x in xs:\n        total += x\n    try:\n        pass\n"
                "    except ValueError as e:\n        print(e)\n    return helper() + _hidden() + nowhere() + len(xs) + total\n",
        "d.py": "from a import *\n\n\ndef f():\n    return helper()\n",
    })
    before = {p: (tmp_path / p).read_text() for p in ("c.py", "d.py")}
    assert add_missing_imports(ws, ["c.py", "d.py", "notes.txt"]) == []
    assert {p: (tmp_path / p).read_text() for p in before} == before
