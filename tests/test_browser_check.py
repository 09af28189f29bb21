"""`check_html_app` in Debian's headless Chromium: a working game, a JS error, a static canvas,
a page that waits for a start key, a non-deterministic page, offline-only, an endless loop."""

from __future__ import annotations

import pytest

from sparkcode.agent.browser_check import available, check_html_app

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not available(), reason="needs playwright and Debian chromium")]

ARROW_HANDLER = """
document.addEventListener('keydown', e => {
  if (e.key === 'ArrowUp') { dx = 0; dy = -1; } if (e.key === 'ArrowDown') { dx = 0; dy = 1; }
  if (e.key === 'ArrowLeft') { dx = -1; dy = 0; } if (e.key === 'ArrowRight') { dx = 1; dy = 0; }
});"""

GOOD_GAME = """<!DOCTYPE html><html><body><canvas id="c" width="200" height="200"></canvas><script>
const g = document.getElementById('c').getContext('2d');
let x = 100, y = 100, dx = 1, dy = 0;
""" + ARROW_HANDLER + """
function frame() {
  x = (x + dx * 2 + 200) % 200; y = (y + dy * 2 + 200) % 200;
  g.fillStyle = '#000'; g.fillRect(0, 0, 200, 200); g.fillStyle = '#0f0'; g.fillRect(x, y, 10, 10);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
</script></body></html>"""

JS_ERROR = """<!DOCTYPE html><html><body><canvas id="c" width="100" height="100"></canvas><script>
const g = document.getElementById('c').getContext('2d');
function loop() { g.fillRect(0, 0, 10, 10); updatePlayer(); requestAnimationFrame(loop); }
requestAnimationFrame(loop);
</script></body></html>"""

STATIC = """<!DOCTYPE html><html><body><canvas id="c" width="100" height="100"></canvas><script>
const g = document.getElementById('c').getContext('2d'); g.fillStyle = 'red'; g.fillRect(10, 10, 50, 50);
</script></body></html>"""

WAITS_FOR_SPACE = """<!DOCTYPE html><html><body><canvas id="c" width="120" height="120"></canvas><script>
const g = document.getElementById('c').getContext('2d'); let running = false, x = 50, y = 50, dx = 1, dy = 0;
g.fillText('Press Space to start', 5, 60);
window.addEventListener('keydown', e => { if (e.code === 'Space') running = true; });
""" + ARROW_HANDLER + """
setInterval(() => { if (!running) return; x += dx; y += dy; g.clearRect(0, 0, 120, 120); g.fillRect(x, y, 4, 4); }, 30);
</script></body></html>"""

ANIMATION_ONLY = """<!DOCTYPE html><html><body><canvas id="c" width="100" height="100"></canvas><script>
const g = document.getElementById('c').getContext('2d'); let x = 0;
setInterval(() => { x = (x + 1) % 100; g.clearRect(0, 0, 100, 100); g.fillRect(x, 10, 5, 5); }, 50);
</script></body></html>"""

REAL_RANDOMNESS = """<!DOCTYPE html><html><body><canvas id="c" width="60" height="60"></canvas><script>
const g = document.getElementById('c').getContext('2d'); const a = new Uint32Array(1);
setInterval(() => { crypto.getRandomValues(a); g.fillStyle = '#' + (a[0] % 0xffffff).toString(16).padStart(6, '0');
  g.fillRect(0, 0, 60, 60); }, 50);
</script></body></html>"""

NO_CANVAS = "<!DOCTYPE html><html><body><h1>Todo</h1><ul id='l'></ul><script>l.innerHTML = '<li>a</li>';</script></body></html>"
NO_CANVAS_ERROR = "<!DOCTYPE html><html><body><script>let x = = 1;</script></body></html>"
EXTERNAL = '<!DOCTYPE html><html><head><script src="https://cdn.example.invalid/lib.js"></script></head><body></body></html>'
# game over after ~40 frames: alert, then location.reload() to restart (what small models often write)
RELOADS_ON_GAME_OVER = """<!DOCTYPE html><html><body><canvas id="c" width="200" height="200"></canvas><script>
const g = document.getElementById('c').getContext('2d'); let x = 100, y = 100, dx = 1, dy = 0, t = 0;
""" + ARROW_HANDLER + """
function frame() {
  x = (x + dx * 2 + 200) % 200; y = (y + dy * 2 + 200) % 200; t++;
  g.fillStyle = '#000'; g.fillRect(0, 0, 200, 200); g.fillStyle = '#0f0'; g.fillRect(x, y, 10, 10);
  if (t > 40) { alert('Game over'); location.reload(); return; }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
</script></body></html>"""

RELOADS_FOREVER = ("<!DOCTYPE html><html><body><canvas id='c'></canvas>"
                   "<script>setTimeout(() => location.reload(), 1);</script></body></html>")
# on each collision frame a new interval is started, and each interval starts another frame loop
RUNAWAY_TIMERS = """<!DOCTYPE html><html><body><canvas id="c" width="100" height="100"></canvas><script>
const g = document.getElementById('c').getContext('2d'); let x = 0;
function loop() { requestAnimationFrame(loop); x++; g.fillRect(x % 100, 5, 4, 4); if (x > 30) setInterval(loop, 100); }
loop();
</script></body></html>"""
ENDLESS = "<!DOCTYPE html><html><body><canvas></canvas><script>while (true) {}</script></body></html>"


def page(tmp_path, html: str, name: str = "app.html"):
    p = tmp_path / name
    p.write_text(html)
    return p


def test_good_canvas_game_moving_on_arrow_keys(tmp_path):
    r = check_html_app(page(tmp_path, GOOD_GAME))
    assert r.ok, r
    assert r.errors == [] and r.canvas_changed and r.responds_to_keys
    assert r.details["canvas"]["width"] == 200 and r.details["deterministic"] is True
    assert r.details["key_listeners"] >= 1


def test_js_error_is_reported_with_its_message(tmp_path):
    r = check_html_app(page(tmp_path, JS_ERROR))
    assert not r.ok
    assert any("updatePlayer is not defined" in e for e in r.errors), r.errors


def test_static_canvas_never_changes(tmp_path):
    r = check_html_app(page(tmp_path, STATIC))
    assert r.canvas_changed is False and r.responds_to_keys is False
    assert r.errors == [] and not r.ok
    assert "never changes" in r.summary()


def test_game_that_waits_for_a_start_key(tmp_path):
    r = check_html_app(page(tmp_path, WAITS_FOR_SPACE))
    assert r.ok and r.canvas_changed and r.responds_to_keys, r
    assert r.details["animates_before_start"] is False


def test_animation_without_key_handling(tmp_path):
    r = check_html_app(page(tmp_path, ANIMATION_ONLY))
    assert r.ok and r.canvas_changed and not r.responds_to_keys, r


def test_page_using_real_randomness_is_flagged_non_deterministic(tmp_path):
    r = check_html_app(page(tmp_path, REAL_RANDOMNESS))
    assert r.canvas_changed and r.details["deterministic"] is False
    assert not r.responds_to_keys  # no key listener: no false positive from the noise


def test_pages_without_a_canvas(tmp_path):
    ok = check_html_app(page(tmp_path, NO_CANVAS, "a.html"))
    assert ok.ok and ok.details["canvas"] is None and not ok.canvas_changed
    bad = check_html_app(page(tmp_path, NO_CANVAS_ERROR, "b.html"))
    assert not bad.ok and any("SyntaxError" in e for e in bad.errors)


def test_network_requests_are_blocked_and_reported(tmp_path):
    r = check_html_app(page(tmp_path, EXTERNAL))
    assert not r.ok
    assert any("cdn.example.invalid" in e and "offline" in e for e in r.errors), r.errors


def test_a_game_that_reloads_itself_on_game_over_is_played_through_the_reloads(tmp_path):
    for _ in range(2):  # the reload lands at a different moment of each check: it must pass every time
        r = check_html_app(page(tmp_path, RELOADS_ON_GAME_OVER))
        assert r.ok and r.canvas_changed and r.responds_to_keys, r


def test_a_page_that_only_reloads_is_not_ok(tmp_path):
    r = check_html_app(page(tmp_path, RELOADS_FOREVER))
    assert not r.ok and not r.canvas_changed, r


def test_runaway_timers_are_stopped_with_an_error_that_says_so(tmp_path):
    r = check_html_app(page(tmp_path, RUNAWAY_TIMERS))
    assert not r.ok and any("callbacks waiting at once" in e and "started again and again" in e
                            for e in r.errors), r.errors
    assert not any("did not finish" in e for e in r.errors)


def test_endless_loop_is_cut_off(tmp_path):
    r = check_html_app(page(tmp_path, ENDLESS), timeout_s=3)
    assert not r.ok and r.errors


def test_missing_file(tmp_path):
    r = check_html_app(tmp_path / "nope.html")
    assert not r.ok and "does not exist" in r.errors[0]
