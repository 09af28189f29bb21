from pathlib import Path

from sparkcode.bench.hidden_page import page_fixtures

chromium, page = page_fixtures(Path(__file__).parent / "tip.html")


def text(page, sel):
    return page.text_content(sel).strip()


def set_value(page, sel, value):
    # set through the DOM, not by typing: an <input type="number"> must not make the test fail on "abc"
    page.eval_on_selector(sel, """(el, v) => { el.value = v;
        el.dispatchEvent(new Event("input", {bubbles: true}));
        el.dispatchEvent(new Event("change", {bubbles: true})); }""", value)


def calc(page, bill, percent=None):
    set_value(page, "#bill", bill)
    if percent is not None:
        set_value(page, "#percent", percent)
    page.click("#calculate")


def test_percent_starts_at_15(page):
    assert page.input_value("#percent") == "15"


def test_the_example(page):
    calc(page, "40")
    assert text(page, "#tip") == "6.00"
    assert text(page, "#total") == "46.00"


def test_other_percentage(page):
    calc(page, "50", "20")
    assert text(page, "#tip") == "10.00"
    assert text(page, "#total") == "60.00"


def test_invalid_bills(page):
    for bad in ("", "abc", "-5"):
        page.reload()
        calc(page, bad)
        assert "Enter a valid bill" in text(page, "#error")
        assert text(page, "#tip") == ""
        assert text(page, "#total") == ""
