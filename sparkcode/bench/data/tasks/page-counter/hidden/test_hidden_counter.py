from pathlib import Path

from sparkcode.bench.hidden_page import page_fixtures

chromium, page = page_fixtures(Path(__file__).parent / "index.html")


def count(page):
    return page.text_content("#count").strip()


def test_starts_at_zero(page):
    assert count(page) == "0"


def test_plus_and_minus(page):
    for _ in range(3):
        page.click("#inc")
    assert count(page) == "3"
    page.click("#dec")
    assert count(page) == "2"


def test_can_go_below_zero(page):
    page.click("#dec")
    page.click("#dec")
    assert count(page) == "-2"


def test_reset(page):
    page.click("#inc")
    page.click("#inc")
    page.click("#reset")
    assert count(page) == "0"
    page.click("#inc")
    assert count(page) == "1"
