"""The web page at / in a real browser: prompt -> streamed answer -> live HTML preview -> meter.

Drives Debian's chromium (/usr/bin/chromium) headless through playwright's sync API against a
live server with a scripted backend that streams, word by word, an answer holding a
```html block with a small snake game on a canvas. Skipped when chromium or playwright is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest

try:  # `tests` is a package when run with the repo root on sys.path, a plain folder otherwise
    from tests.test_server_support import FakeBackend, running
except ImportError:
    from test_server_support import FakeBackend, running

from sparkcode.server import create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOT = os.environ.get("SPARKCODE_PAGE_SCREENSHOT", "/tmp/page.png")

SNAKE_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Snake</title>
<style>
  body { margin: 0; background: #101418; color: #e8e8e8; font: 14px sans-serif; text-align: center; }
  canvas { background: #1b2228; margin-top: 8px; border: 2px solid #3a4650; }
</style>
</head>
<body>
<h1 id="title">Snake</h1>
<div>Score: <span id="score">0</span> <span id="state">loading</span></div>
<canvas id="board" width="240" height="160"></canvas>
<script>
  const board = document.getElementById('board');
  const ctx = board.getContext('2d');
  const cell = 10, cols = board.width / cell, rows = board.height / cell;
  let snake = [{x: 5, y: 8}, {x: 4, y: 8}, {x: 3, y: 8}];
  let dir = {x: 1, y: 0}, food = {x: 15, y: 8}, ticks = 0;
  document.getElementById('state').textContent = 'running';
  function step() {
    const head = {x: (snake[0].x + dir.x + cols) % cols, y: (snake[0].y + dir.y + rows) % rows};
    snake.unshift(head);
    if (head.x === food.x && head.y === food.y) {
      food = {x: (food.x * 7 + 3) % cols, y: (food.y * 5 + 1) % rows};
      document.getElementById('score').textContent = String(snake.length - 3);
    } else {
      snake.pop();
    }
    ctx.fillStyle = '#1b2228';
    ctx.fillRect(0, 0, board.width, board.height);
    ctx.fillStyle = '#ff5c5c';
    ctx.fillRect(food.x * cell, food.y * cell, cell - 1, cell - 1);
    ctx.fillStyle = '#4cc38a';
    for (const s of snake) ctx.fillRect(s.x * cell, s.y * cell, cell - 1, cell - 1);
    board.dataset.ticks = String(++ticks);
  }
  document.addEventListener('keydown', (e) => {
    const d = {ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0]}[e.key];
    if (d) dir = {x: d[0], y: d[1]};
  });
  step();
  setInterval(step, 120);
</script>
</body>
</html>"""

ANSWER = ("Here is a small snake game in one self-contained HTML file. Use the arrow keys to steer.\n\n"
          f"```html\n{SNAKE_HTML}\n```\n\nThe snake wraps around the edges; eating the red square grows it.")


def _browser_available() -> str | None:
    if not shutil.which(CHROMIUM):
        return f"{CHROMIUM} is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@pytest.fixture(scope="module")
def backend():
    # ~280 streamed pieces at 10 ms: about 3 s of streaming, long enough to watch it grow
    return FakeBackend(lambda req: ANSWER, delay_s=0.01)


@pytest.fixture(scope="module")
def page_url(backend):
    why = _browser_available()
    if why:
        pytest.skip(why)
    with running(create_app(backend)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def test_prompt_streams_renders_preview_and_meter(page_url, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_url + "/")
    page.wait_for_function("document.getElementById('model').textContent === 'fake-coder'", timeout=10_000)
    assert page.locator("#status").text_content() == "ready"

    page.fill("#prompt", "Write a snake game in a single HTML file")
    page.click("#send")

    # the answer really streams: #output is seen at several growing lengths before it is complete
    lengths: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        n = page.evaluate("document.getElementById('output').textContent.length")
        if not lengths or n != lengths[-1]:
            lengths.append(n)
        if n >= len(ANSWER):
            break
        time.sleep(0.05)
    partial = [n for n in lengths if 0 < n < len(ANSWER)]
    assert len(partial) >= 3, lengths
    assert partial == sorted(partial)
    page.wait_for_function("document.getElementById('send').textContent === 'Send'", timeout=10_000)
    assert page.locator("#output").text_content() == ANSWER
    assert page.locator("#status").text_content() == "done"

    # the preview iframe renders the HTML and runs its script (sandbox="allow-scripts")
    frame = page.frame_locator("#preview")
    frame.locator("canvas#board").wait_for(timeout=10_000)
    assert frame.locator("#title").text_content() == "Snake"
    frame.locator("#state", has_text="running").wait_for(timeout=10_000)
    page.wait_for_timeout(400)
    ticks = frame.locator("canvas#board").get_attribute("data-ticks")
    assert ticks is not None and int(ticks) >= 2  # the game loop is animating

    # the meter shows the server's TTFT and decode speed for this answer
    ttft = page.locator("#meter-ttft").text_content()
    tps = page.locator("#meter-tps").text_content()
    assert re.fullmatch(r"\d+ ms", ttft), ttft
    assert re.fullmatch(r"\d+(\.\d)?", tps) and float(tps) > 0, tps
    assert float(page.locator("#meter").get_attribute("data-ttft")) > 0
    assert float(page.locator("#meter").get_attribute("data-tps")) > 0
    assert page.locator("#turns li").count() == 1
    assert "tok/s" in page.locator("#turns li .m").text_content()

    page.screenshot(path=SCREENSHOT)
    assert not errors, errors
    page.close()


def test_second_turn_sends_the_history_and_adds_a_turn(page_url, browser, backend):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(page_url + "/")
    page.wait_for_function("document.getElementById('model').textContent === 'fake-coder'", timeout=10_000)
    for i, prompt in enumerate(["first", "second"], 1):
        page.fill("#prompt", prompt)
        page.press("#prompt", "Enter")  # Enter sends, like the button
        page.wait_for_function(f"document.querySelectorAll('#turns li').length === {i}", timeout=30_000)
    assert page.locator("#turns li .q").all_text_contents() == ["1. first", "2. second"]
    assert page.locator("#prompt").input_value() == ""
    page.close()
    sent = backend.generations[-1].messages  # the page keeps the conversation and re-sends it
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "first" and sent[2]["content"] == ANSWER and sent[3]["content"] == "second"
