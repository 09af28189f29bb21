"""SEARCH/REPLACE blocks: parsing (fences, filenames, malformed blocks) and the match ladder."""

import pytest

from sparkcode.agent.edits import (EditBlock, EditMatchError, EditParseError, apply_edit, apply_edit_verbose,
                                   parse_edit_blocks, unified_diff)
from sparkcode.agent.workspace import ToolError

SRC = """import os


def greet(name):
    message = "hello " + name
    print(message)
    return message


class Greeter:
    def run(self):
        greet("world")
        return 0
"""


# ---- applying ---------------------------------------------------------------------------------

def test_exact():
    new, how = apply_edit_verbose(SRC, '    message = "hello " + name\n', '    message = f"hello {name}"\n')
    assert how == "exact"
    assert 'message = f"hello {name}"\n' in new and '"hello " + name' not in new
    assert new.count("\n") == SRC.count("\n")


def test_exact_without_final_newline_in_search():
    new = apply_edit(SRC, "import os", "import sys")
    assert new.startswith("import sys\n\n")


def test_exact_fragment_of_a_line():
    new, how = apply_edit_verbose(SRC, '"hello " + name', 'f"hello {name}"')
    assert how == "exact text"
    assert '    message = f"hello {name}"\n' in new


def test_trailing_whitespace_tolerated():
    search = 'def greet(name):   \n    message = "hello " + name\t\n'
    new, how = apply_edit_verbose(SRC, search, "def greet(name: str):\n    message = 'hi ' + name\n")
    assert how == "trailing whitespace"
    assert "def greet(name: str):\n    message = 'hi ' + name\n    print(message)" in new


def test_indentation_shift_reindents_replacement():
    # the model dropped the method's 8-space indentation and wrote an extra line
    search = 'greet("world")\nreturn 0\n'
    replace = 'greet("world")\nif True:\n    greet("again")\nreturn 1\n'
    new, how = apply_edit_verbose(SRC, search, replace)
    assert how == "indentation"
    assert ('        greet("world")\n        if True:\n            greet("again")\n        return 1\n') in new


def test_indentation_shift_outwards():
    search = '            message = "hello " + name\n            print(message)\n'
    new, how = apply_edit_verbose(SRC, search, '            print(name)\n')
    assert how == "indentation"
    assert "def greet(name):\n    print(name)\n    return message\n" in new


def test_leading_and_trailing_blank_lines_dropped():
    new = apply_edit(SRC, "\n\n    print(message)\n\n\n", "\n\n    print(message.upper())\n\n\n")
    assert "    print(message.upper())\n    return message\n" in new


def test_elided_middle():
    search = "def greet(name):\n...\n    return message\n"
    replace = "def greet(name, punct='!'):\n...\n    return message + punct\n"
    new, how = apply_edit_verbose(SRC, search, replace)
    assert how == "elided middle"
    assert "def greet(name, punct='!'):\n    message = \"hello \" + name\n    print(message)\n" \
           "    return message + punct\n" in new


def test_literal_ellipsis_is_matched_literally_first():
    src = "class P(Protocol):\n    def f(self) -> int:\n        ...\n"
    search, replace = "    def f(self) -> int:\n        ...\n", "    def f(self) -> str:\n        ...\n"
    new, how = apply_edit_verbose(src, search, replace)
    assert how == "exact" and "-> str:\n        ...\n" in new


def test_empty_search_appends_or_creates():
    assert apply_edit("a\n", "", "b\n") == "a\nb\n"
    assert apply_edit("a", "", "b\n") == "a\nb\n"
    assert apply_edit("", "", "new file\n") == "new file\n"


def test_deletion():
    assert apply_edit("a\nb\nc\n", "b\n", "") == "a\nc\n"


def test_crlf_file_keeps_crlf():
    src = "one\r\ntwo\r\nthree\r\n"
    assert apply_edit(src, "two\n", "2\n") == "one\r\n2\r\nthree\r\n"


def test_no_final_newline_kept():
    assert apply_edit("a\nb", "b\n", "c\n") == "a\nc"


def test_ambiguous_match_says_how_many():
    src = "x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n"
    with pytest.raises(EditMatchError, match=r"ambiguous.*matches 3 places.*lines 1, 3, 5"):
        apply_edit(src, "x = 1\n", "x = 2\n")
    assert issubclass(EditMatchError, ToolError)


def test_ambiguous_after_indentation():
    src = "if a:\n    go()\nif b:\n        go()\n"
    with pytest.raises(EditMatchError, match="2 places"):
        apply_edit(src, "  go()\n", "stop()\n")


def test_no_match_quotes_closest_lines():
    search = 'def greet(nme):\n    message = "helo " + nme\n'
    with pytest.raises(EditMatchError) as err:
        apply_edit(SRC, search, "x\n")
    msg = str(err.value)
    assert "not found" in msg and "lines 4-5" in msg
    assert 'def greet(name):\n    message = "hello " + name\n' in msg
    assert "Copy the SEARCH lines exactly" in msg


def test_no_match_notes_already_applied():
    with pytest.raises(EditMatchError, match="applied already"):
        apply_edit(SRC, "import sys\n", "import os\n")


def test_no_match_in_empty_file():
    with pytest.raises(EditMatchError, match="empty"):
        apply_edit("", "x\n", "y\n")


def test_nothing_similar():
    with pytest.raises(EditMatchError, match="nothing in the file resembles"):
        apply_edit("aaaa\nbbbb\n", "zzzzzzzzzzzzzzzzzz 99999999\n", "y\n")


# ---- parsing ----------------------------------------------------------------------------------

def test_parse_plain_block():
    text = "path/to/file.py\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n"
    assert parse_edit_blocks(text) == [EditBlock("path/to/file.py", "old\n", "new\n")]


def test_parse_fenced_with_filename_above_fence():
    text = ("Here is the fix:\n\nsrc/app.py\n```python\n<<<<<<< SEARCH\n    return 1\n=======\n"
            "    return 2\n>>>>>>> REPLACE\n```\n")
    assert parse_edit_blocks(text) == [EditBlock("src/app.py", "    return 1\n", "    return 2\n")]


def test_parse_filename_on_fence_line_and_decorations():
    text = ("```src/a.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n\n"
            "**src/b.py**:\n```\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n```\n"
            "`Makefile`\n<<<<<<< SEARCH\ne\n=======\nf\n>>>>>>> REPLACE\n"
            "```python src/c.py\n<<<<<<< SEARCH\ng\n=======\nh\n>>>>>>> REPLACE\n```\n")
    assert [b.path for b in parse_edit_blocks(text)] == ["src/a.py", "src/b.py", "Makefile", "src/c.py"]


def test_parse_missing_filename_uses_previous_then_default():
    text = ("x.py\n<<<<<<< SEARCH\n1\n=======\n2\n>>>>>>> REPLACE\n"
            "<<<<<<< SEARCH\n3\n=======\n4\n>>>>>>> REPLACE\n")
    assert [b.path for b in parse_edit_blocks(text)] == ["x.py", "x.py"]
    bare = "<<<<<<< SEARCH\n3\n=======\n4\n>>>>>>> REPLACE\n"
    assert parse_edit_blocks(bare, default_path="d.py")[0].path == "d.py"
    with pytest.raises(EditParseError, match="block 1: no file path"):
        parse_edit_blocks(bare)


def test_parse_tolerates_marker_lengths_and_empty_sections():
    text = "f.txt\n<<<<< SEARCH\n=========\nnew\n>>>>>>>>> REPLACE\n"
    assert parse_edit_blocks(text) == [EditBlock("f.txt", "", "new\n")]
    text = "f.txt\n<<<<<<< SEARCH\nold\n=======\n>>>>>>> REPLACE\n"
    assert parse_edit_blocks(text) == [EditBlock("f.txt", "old\n", "")]


def test_parse_crlf_input():
    text = "f.txt\r\n<<<<<<< SEARCH\r\na\r\n=======\r\nb\r\n>>>>>>> REPLACE\r\n"
    assert parse_edit_blocks(text) == [EditBlock("f.txt", "a\n", "b\n")]


def test_parse_no_blocks():
    assert parse_edit_blocks("just prose\n=======\nnot a block\n") == []


def test_malformed_missing_divider():
    text = "a.py\n<<<<<<< SEARCH\nold\nnew\n>>>>>>> REPLACE\n"
    with pytest.raises(EditParseError, match=r"block 1 \(a.py\): missing '=======' between"):
        parse_edit_blocks(text)


def test_malformed_missing_replace_marker():
    text = "a.py\n<<<<<<< SEARCH\nold\n=======\nnew\n"
    with pytest.raises(EditParseError, match=r"block 1 \(a.py\): missing '>>>>>>> REPLACE'"):
        parse_edit_blocks(text)


def test_malformed_second_block_is_named():
    text = ("a.py\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n"
            "b.py\n<<<<<<< SEARCH\nold\n=======\nnew\n"
            "c.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n")
    with pytest.raises(EditParseError, match=r"block 2 \(b.py\): missing '>>>>>>> REPLACE'.*new '<<<<<<< SEARCH'"):
        parse_edit_blocks(text)


def test_malformed_stray_replace_and_eof():
    with pytest.raises(EditParseError, match="no '<<<<<<< SEARCH' before it"):
        parse_edit_blocks("a.py\nold\n>>>>>>> REPLACE\n")
    with pytest.raises(EditParseError, match="missing '=======' and '>>>>>>> REPLACE'"):
        parse_edit_blocks("a.py\n<<<<<<< SEARCH\nold\n")
    with pytest.raises(EditParseError, match="second '======='"):
        parse_edit_blocks("a.py\n<<<<<<< SEARCH\nold\n=======\nnew\n=======\n>>>>>>> REPLACE\n")
    assert issubclass(EditParseError, ToolError)


# ---- diff -------------------------------------------------------------------------------------

def test_unified_diff():
    d = unified_diff("a\nb\n", "a\nc\n", "x.txt")
    assert d.startswith("--- a/x.txt\n+++ b/x.txt\n@@")
    assert "-b\n+c\n" in d
    assert unified_diff("same\n", "same\n", "x") == ""
    assert "\\ No newline at end of file" in unified_diff("a", "b", "x")
