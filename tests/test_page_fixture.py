"""`agent/page_fixture.py`, the fixtures page tests open pages with (the agent's acceptance tests,
the benchmark's hidden tests): run as pytest runs them, in Debian's Chromium."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sparkcode.agent.browser_check import available

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not available(), reason="needs playwright and Debian chromium")]

LIST_PAGE = """<!DOCTYPE html><html><body><input id="item"><button id="add">Add</button><ul id="list"></ul>
<script>document.getElementById('add').onclick = () => { const li = document.createElement('li');
li.textContent = document.getElementById('item').value; document.getElementById('list').appendChild(li); };
</script></body></html>"""

TESTS = """from playwright.sync_api import expect


def test_node_style_first_and_last(page):
    for text in ("milk", "eggs"):
        page.fill("#item", text)
        page.click("#add")
    assert page.locator("#list li").first().inner_text() == "milk"  # Node's form
    assert page.locator("#list li").first.inner_text() == "milk"  # Python's form
    assert page.locator("#list li").last().inner_text() == "eggs"
    assert page.locator("#list").locator("li").nth(1).inner_text() == "eggs"
    expect(page.locator("#list li").first()).to_have_text("milk")  # still a Locator to expect


def test_a_wrong_expectation_still_fails(page):
    page.fill("#item", "milk")
    page.click("#add")
    assert page.locator("#list li").first().inner_text() == "bread"
"""


def test_locators_take_first_and_last_called_or_not_and_still_judge(tmp_path):
    (tmp_path / "list.html").write_text(LIST_PAGE)
    (tmp_path / "conftest.py").write_text("from sparkcode.agent.page_fixture import chromium, open_page, page  # noqa\n")
    (tmp_path / "test_list.py").write_text(TESTS)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_list.py"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert "1 failed, 1 passed" in r.stdout, r.stdout[-2000:]
    assert "test_a_wrong_expectation_still_fails" in r.stdout and "'bread'" in r.stdout
