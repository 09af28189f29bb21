from pathlib import Path

from sparkcode.bench.hidden_page import page_fixtures

chromium, page = page_fixtures(Path(__file__).parent / "todo.html")


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
