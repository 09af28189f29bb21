from pathlib import Path

import pytest

from sparkcode.agent import browser_check as bc

if not bc.available():
    pytest.skip("not judged: chromium missing", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

PAGE = Path(__file__).parent / "todo.html"


@pytest.fixture(scope="module")
def browser():
    assert PAGE.is_file(), f"{PAGE.name} was not written"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=bc.chromium_path(), args=getattr(bc, "CHROMIUM_ARGS", ["--no-sandbox"]))
        yield b
        b.close()


@pytest.fixture
def page(browser):
    pg = browser.new_page()
    pg.set_default_timeout(3000)
    pg.goto(PAGE.as_uri())
    yield pg
    pg.close()


def items(page):
    return page.locator("#todo-list li").all_inner_texts()


def add(page, text, enter=False):
    page.fill("#new-todo", text)
    if enter:
        page.press("#new-todo", "Enter")
    else:
        page.click("#add-todo")


def test_add_with_button_clears_the_input(page):
    add(page, "buy milk")
    texts = items(page)
    assert len(texts) == 1 and "buy milk" in texts[0]
    assert page.input_value("#new-todo") == ""


def test_add_with_enter_appends_at_the_end(page):
    add(page, "first")
    add(page, "second", enter=True)
    texts = items(page)
    assert len(texts) == 2 and "first" in texts[0] and "second" in texts[1]


def test_blank_text_adds_nothing(page):
    add(page, "")
    add(page, "   ")
    assert items(page) == []


def test_delete_removes_that_item(page):
    for t in ("alpha", "bravo", "charlie"):
        add(page, t)
    page.locator("#todo-list li").nth(1).locator(".delete").click()
    texts = items(page)
    assert len(texts) == 2 and "alpha" in texts[0] and "charlie" in texts[1]


def test_count(page):
    assert page.text_content("#todo-count").strip() == "0"
    add(page, "one")
    add(page, "two")
    assert page.text_content("#todo-count").strip() == "2"
    page.locator("#todo-list li").first.locator(".delete").click()
    assert page.text_content("#todo-count").strip() == "1"
