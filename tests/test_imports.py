"""The import a changed file forgot is added when one workspace module defines the name (agent/imports.py)."""

from __future__ import annotations

import subprocess
import sys

from sparkcode.agent.imports import add_missing_imports, with_missing_imports
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


def test_a_standard_module_used_without_its_import_is_imported(tmp_path):
    ws = ws_with(tmp_path, {
        "csvsum.py": "import csv\nimport sys\n\n\ndef total(path):\n    if not os.path.exists(path):\n"
                     "        sys.exit(1)\n    return json.dumps(sum(1 for _ in csv.reader(open(path))))\n",
        # `datetime.now()` means the class: `import datetime` would not give it, so nothing is added
        "when.py": "def stamp():\n    return datetime.now()\n",
        # a workspace module named like a standard one is the workspace's: imported as a workspace module
        "shelve_user.py": "def f():\n    return shelve.thing()\n",
        "shelve.py": "def thing():\n    return 1\n",
        # a workspace module used with a name it does not define: not guessed
        "other_user.py": "def h():\n    return shelve.open()\n",
        # used bare (passed around), not as module.attr: not guessed
        "bare.py": "def g():\n    return print(math)\n",
    })
    notes = add_missing_imports(ws, ["csvsum.py", "when.py", "shelve_user.py", "other_user.py", "bare.py"])
    assert sorted(notes) == ["added `import json` to csvsum.py (it used json without importing it)",
                             "added `import os` to csvsum.py (it used os without importing it)",
                             "added `import shelve` to shelve_user.py (it used shelve without importing it)"]
    head = (tmp_path / "csvsum.py").read_text().splitlines()[:4]
    assert head[:2] == ["import csv", "import sys"] and sorted(head[2:]) == ["import json", "import os"]
    for name in ("when.py", "other_user.py", "bare.py"):
        assert "import" not in (tmp_path / name).read_text()
    r = subprocess.run([sys.executable, "-c", "import shelve_user; print(shelve_user.f())"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    (tmp_path / "data.csv").write_text("a\nb\n")
    r = subprocess.run([sys.executable, "-c", "import csvsum; print(csvsum.total('data.csv'))"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "2", r.stderr


def test_a_name_from_a_standard_module_the_file_imports_whole_is_imported_from_it(tmp_path):
    # measured: the test writer's to-do tests had `import tempfile` and then `TemporaryDirectory()`:
    # every test failed with that NameError, whatever the code did
    ws = ws_with(tmp_path, {"todo.py": "def add(task):\n    return task\n"})
    tests = ("import subprocess\nimport tempfile\n\n\ndef test_add():\n    with TemporaryDirectory() as d:\n"
             "        assert subprocess.run(['true'], cwd=d).returncode == 0\n")
    fixed, added = with_missing_imports(tests, ws)
    assert added == ["from tempfile import TemporaryDirectory"]
    assert fixed.splitlines()[:3] == ["import subprocess", "import tempfile", "from tempfile import TemporaryDirectory"]
    # not when two imported modules define the name, nor for a module the file does not import, nor a private name
    for ambiguous in ("import os\nimport shutil\n\n\ndef f():\n    return chown('a', 'b')\n",
                      "def f():\n    return TemporaryDirectory()\n",
                      "import tempfile\n\n\ndef f():\n    return _infer_return_type()\n"):
        assert with_missing_imports(ambiguous, ws) == (ambiguous, [])
