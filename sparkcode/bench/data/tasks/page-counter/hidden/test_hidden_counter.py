from pathlib import Path

import pytest

from sparkcode.agent import browser_check as bc

if not bc.available():
    pytest.skip("not judged: chromium missing", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

PAGE = Path(__file__).parent / "index.html"


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
