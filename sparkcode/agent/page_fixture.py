"""Pytest fixtures that open a workspace's web page in Chromium, for tests of what a page does.

The agent's acceptance tests of a page (acceptance.py imports these into its conftest) and the
benchmark's hidden page tests (bench/hidden_page.py) both open pages here:
- `chromium`: Debian's Chromium through Playwright, one per test session (skipped without it);
- `page`: the workspace's one page opened the same way (tests written in pytest-playwright's
  habit, ``def test_x(page):``); with several pages it is the first by name, index.html first;
- `open_page`: ``page = open_page("tip.html")`` loads a file of the current folder in a fresh
  page (own storage, requests other than file:/data:/blob: blocked, dialogs accepted) and gives
  Playwright's sync `Page` with one change: `fill` sets the value as pasted text would
  (``input`` and ``change`` events), so "abc" into an ``<input type=number>`` leaves it empty as
  in a browser instead of failing the test; and its locators' `first` and `last` may also be
  called, as in Playwright for Node (``page.locator("li").first()``). An error the page throws,
  at any moment of the test, fails the test when it ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import browser_check as bc

_SET_VALUE = """(el, v) => { el.value = v;
    el.dispatchEvent(new Event("input", {bubbles: true}));
    el.dispatchEvent(new Event("change", {bubbles: true})); }"""


class PageUnderTest:
    """Playwright's Page, but `fill` never refuses a value and `goto` takes a file of the current
    folder by name (see the module docstring)."""

    def __init__(self, page):
        self._page = page

    def fill(self, selector: str, value: str, **kw) -> None:
        self._page.wait_for_selector(selector, state="attached", **kw)
        self._page.eval_on_selector(selector, _SET_VALUE, str(value))

    def locator(self, selector: str, **kw):
        return tolerant(self._page.locator(selector, **kw))

    def goto(self, url: str, **kw):
        if "://" not in url and Path(url).is_file():
            url = Path(url).resolve().as_uri()
        return self._page.goto(url, **kw)

    def __getattr__(self, name):
        return getattr(self._page, name)


_TOLERANT = None


def tolerant(locator):
    """The same Locator (an instance of Playwright's class: `expect` takes it), whose `first` and
    `last` may also be called: Node's `locator.first()` is Python's `locator.first`, and the 1.5B
    writes the Node form (measured: a correct to-do page failed "'Locator' object is not callable"
    until the run ended unverified)."""
    global _TOLERANT
    if _TOLERANT is None:
        from playwright.sync_api import Locator

        class TolerantLocator(Locator):
            def __call__(self):
                return self

            @property
            def first(self):
                return tolerant(Locator.first.fget(self))

            @property
            def last(self):
                return tolerant(Locator.last.fget(self))

            def nth(self, index: int):
                return tolerant(Locator.nth(self, index))

            def locator(self, *a, **kw):
                return tolerant(Locator.locator(self, *a, **kw))

            def filter(self, *a, **kw):
                return tolerant(Locator.filter(self, *a, **kw))

        _TOLERANT = TolerantLocator
    return _TOLERANT(locator._impl_obj)


def _offline(route) -> None:
    if route.request.url.startswith(("file:", "data:", "blob:")):
        route.continue_()
    else:
        route.abort()


def launch(playwright):
    return playwright.chromium.launch(executable_path=bc.chromium_path(), args=bc.CHROMIUM_ARGS)


def new_page(browser, path: Path, errors: list[str]):
    """A fresh page on `path`, its uncaught errors appended to `errors`."""
    pg = browser.new_page()
    pg.set_default_timeout(3000)
    pg.on("pageerror", lambda e: errors.append(f"{path.name}: {e}"))
    pg.on("dialog", lambda d: d.accept())
    pg.route("**/*", _offline)
    pg.goto(path.as_uri())
    return pg


@pytest.fixture(scope="session")
def chromium():
    if not bc.available():
        pytest.skip("chromium or playwright is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def open_page(chromium):
    pages, errors = [], []

    def _open(name: str) -> PageUnderTest:
        path = Path(name).resolve()
        assert path.is_file(), f"{name} was not written"
        pg = new_page(chromium, path, errors)
        pages.append(pg)
        return PageUnderTest(pg)

    yield _open
    for pg in pages:
        pg.close()
    if errors:
        pytest.fail("the page threw: " + "; ".join(errors[:3]), pytrace=False)


def only_page(folder: Path) -> Path | None:
    pages = sorted(folder.glob("*.htm*"), key=lambda p: (p.name != "index.html", p.name))
    return pages[0] if pages else None


@pytest.fixture
def page(open_page):
    path = only_page(Path.cwd())
    assert path is not None, "no page (.html) was written"
    return open_page(path.name)
