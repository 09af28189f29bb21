"""The browser fixtures the page tasks' hidden tests share: Debian's chromium through playwright,
one browser per test module, a fresh page on the task's file for each test. A task without
Chromium here is skipped as "not judged"."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..agent import browser_check as bc
from ..agent.page_fixture import launch, new_page


def page_fixtures(page_file: Path):
    """(browser, page) fixtures for a hidden test module; assign both to module-level names."""
    if not bc.available():
        pytest.skip("not judged: chromium missing", allow_module_level=True)
    from playwright.sync_api import sync_playwright

    @pytest.fixture(scope="module")
    def browser():
        assert page_file.is_file(), f"{page_file.name} was not written"
        with sync_playwright() as p:
            b = launch(p)
            yield b
            b.close()

    @pytest.fixture
    def page(browser):
        pg = new_page(browser, page_file, [])  # the page's own errors are not judged here: what it shows is
        yield pg
        pg.close()

    return browser, page
