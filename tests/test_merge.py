"""A whole-file rewrite keeps the public definitions it left out (agent/merge.py)."""

from __future__ import annotations

import ast

from sparkcode.agent.merge import restore_dropped
from sparkcode.agent.names import removal_asked
from sparkcode.agent.tools import Toolbox
from sparkcode.agent.workspace import Workspace

OLD = '''class Inventory:
    def __init__(self):
        self.stock = {}

    def add(self, name, qty=1):
        self.stock[name] = self.stock.get(name, 0) + qty

    def remove(self, name, qty=1):
        self.stock[name] -= qty

    def quantity(self, name):
        return self.stock.get(name, 0)


def helper(x):
    return x


if __name__ == "__main__":
    print(helper(1))
'''

ONLY_NEW_METHOD = '''class Inventory:
    def __init__(self):
        self.stock = {}

    def add(self, name, qty=1):
        self.stock[name] = self.stock.get(name, 0) + qty

    def low_stock(self, threshold=5):
        return sorted(n for n, q in self.stock.items() if q < threshold)

if __name__ == "__main__":
    print(helper(1))'''


def names(src: str) -> list[str]:
    out = []
    for node in ast.parse(src).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.append(node.name)
            out += [f"{node.name}.{m.name}" for m in getattr(node, "body", []) if isinstance(m, ast.FunctionDef)]
    return out


def test_dropped_methods_and_functions_come_back_in_their_old_order_before_the_main_guard():
    merged, kept = restore_dropped(OLD, ONLY_NEW_METHOD)
    assert kept == ["Inventory.remove", "Inventory.quantity", "helper"]
    assert names(merged) == ["Inventory", "Inventory.__init__", "Inventory.add", "Inventory.remove",
                             "Inventory.quantity", "Inventory.low_stock", "helper"]
    assert merged.rstrip().endswith('if __name__ == "__main__":\n    print(helper(1))')
    ns: dict = {}
    exec(compile(merged.replace("__main__", "not main"), "m", "exec"), ns)
    inv = ns["Inventory"]()
    inv.add("a", 2)
    inv.remove("a")
    assert inv.quantity("a") == 1 and inv.low_stock() == ["a"]


def test_what_the_new_text_defines_imports_or_the_task_removes_stays_out():
    old = "def a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"
    new = "from helpers import b\n\n\ndef a():\n    return b()\n"
    merged, kept = restore_dropped(old, new, may_drop=lambda n: removal_asked("Delete the function c.", n))
    assert kept == [] and merged == new


def test_a_rewrite_with_other_indentation_gets_the_method_in_its_own_indentation():
    new = "class Inventory:\n  def __init__(self):\n    self.stock = {}\n"
    merged, kept = restore_dropped(OLD, new)
    assert "Inventory.quantity" in kept
    assert "\n  def quantity(self, name):\n      return self.stock.get(name, 0)\n" in merged  # body: relative
    assert "Inventory.quantity" in names(merged) and "Inventory.add" in names(merged)


def test_a_program_rewritten_without_its_entry_point_gets_it_back_at_the_end():
    old = "import sys\n\n\ndef main():\n    print('sorted')\n    return 0\n\n\nif __name__ == '__main__':\n    sys.exit(main())\n"
    new = "import sys\n\n\ndef main():\n    print('sorted, reversed')\n    return 0\n"
    merged, kept = restore_dropped(old, new)
    assert kept == ['the `if __name__ == "__main__":` block']
    assert merged.endswith("    return 0\n\n\nif __name__ == '__main__':\n    sys.exit(main())\n")
    runs_itself = new + "\n\nmain()\n"  # runs at the top level: an added guard would run it twice
    assert restore_dropped(old, runs_itself) == (runs_itself, [])


def test_nothing_is_merged_when_a_text_does_not_parse():
    assert restore_dropped(OLD, "class Inventory(:\n") == ("class Inventory(:\n", [])
    assert restore_dropped("def (:\n", "x = 1\n") == ("x = 1\n", [])


def test_write_file_merges_only_when_given_a_policy_and_says_what_it_kept(tmp_path):
    (tmp_path / "inventory.py").write_text(OLD)
    plain = Toolbox(Workspace(tmp_path))
    r = plain.call("write_file", {"path": "inventory.py", "content": ONLY_NEW_METHOD})
    assert r.ok and "quantity" not in (tmp_path / "inventory.py").read_text()
    (tmp_path / "inventory.py").write_text(OLD)
    merging = Toolbox(Workspace(tmp_path), may_drop=lambda n: removal_asked("Remove helper().", n))
    r = merging.call("write_file", {"path": "inventory.py", "content": ONLY_NEW_METHOD})
    assert r.ok and "kept Inventory.remove, Inventory.quantity from the old file" in r.output
    text = (tmp_path / "inventory.py").read_text()
    assert "def quantity" in text and "def low_stock" in text and "def helper" not in text
