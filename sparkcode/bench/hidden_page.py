"""The browser fixtures the page tasks' hidden tests share: Debian's chromium through playwright
(`agent/page_fixture.py`, one browser per session), a fresh page on the task's file for each test. A task without
Chromium here is skipped as "not judged"."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..agent import browser_check as bc
from ..agent.page_fixture import chromium, new_page


def page_fixtures(page_file: Path):
    """(chromium, page) fixtures for a hidden test module; assign both to module-level names of
    those names (`chromium, page = page_fixtures(...)`): pytest registers a fixture by the name it
    is bound to."""
    if not bc.available():
        pytest.skip("not judged: chromium missing", allow_module_level=True)

    @pytest.fixture
    def page(chromium):
        assert page_file.is_file(), f"{page_file.name} was not written"
        pg = new_page(chromium, page_file, [])  # the page's own errors are not judged here: what it shows is
        yield pg
        pg.close()

    return chromium, page
