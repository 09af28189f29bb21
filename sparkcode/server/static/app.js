// sparkcode web page logic: stream a chat answer over SSE, show it as code, live-preview its HTML.
// The conversation is kept here and re-sent each turn; the server's prefix cache makes that cheap.
"use strict";

const $ = (id) => document.getElementById(id);
const els = {
  prompt: $("prompt"), send: $("send"), output: $("output"), preview: $("preview"), meter: $("meter"),
  turns: $("turns"), status: $("status"), reset: $("reset"), apikey: $("apikey"), form: $("form"), model: $("model"),
};

const SYSTEM = "You are sparkcode, a fast local coding assistant. Answer concisely. When asked for a web page, " +
  "app or game, reply with one complete, self-contained HTML file (inline CSS and JS, no external resources) " +
  "in a single ```html code block.";

let history = [{ role: "system", content: SYSTEM }];
let turns = [];          // {prompt, text, stats, finish}
let controller = null;   // AbortController of the answer streaming now
let previewTimer = null;
let lastPreview = null;

function apiKey() { return sessionStorage.getItem("sparkcode-api-key") || ""; }

function headers() {
  const h = { "Content-Type": "application/json" };
  if (apiKey()) h["Authorization"] = "Bearer " + apiKey();
  return h;
}

function setStatus(text, isError = false) {
  els.status.textContent = text;
  els.status.classList.toggle("error", isError);
}

function needKey() {
  els.apikey.hidden = false;
  els.apikey.focus();
  setStatus("this server needs an API key", true);
}

els.apikey.addEventListener("change", () => {
  sessionStorage.setItem("sparkcode-api-key", els.apikey.value.trim());
  loadModel();
});

// The first ```html block (closed or still streaming), or the whole text if it is an HTML document.
function extractHtml(text) {
  const fence = text.match(/```html[^\n]*\n([\s\S]*?)(?:```|$)/i);
  if (fence) return fence[1];
  const t = text.trimStart();
  if (/^<!doctype html|^<html[\s>]/i.test(t)) return t;
  return null;
}

function updatePreview(text, force = false) {
  const html = extractHtml(text);
  if (html === null || html === lastPreview) return;
  if (!force) {  // while streaming, re-render at most a few times a second
    if (previewTimer) return;
    previewTimer = setTimeout(() => { previewTimer = null; updatePreview(els.output.textContent, true); }, 400);
    return;
  }
  lastPreview = html;
  els.preview.srcdoc = html;
}

function showMeter(stats) {
  const ttft = stats ? stats.ttft_s : null, tps = stats ? stats.decode_tps : null;
  $("meter-ttft").textContent = ttft == null ? "–" : (ttft * 1000).toFixed(0) + " ms";
  $("meter-tps").textContent = tps == null ? "–" : tps.toFixed(1);
  $("meter-tokens").textContent = stats ? String(stats.decode_tokens) : "–";
  $("meter-cached").textContent = stats ? String(stats.cached_tokens) : "–";
  els.meter.dataset.ttft = ttft == null ? "" : String(ttft);
  els.meter.dataset.tps = tps == null ? "" : String(tps);
}

function renderTurns() {
  els.turns.replaceChildren(...turns.map((t, i) => {
    const li = document.createElement("li");
    li.className = t.finish === "cancelled" ? "cancelled" : "";
    const q = document.createElement("div");
    q.className = "q";
    q.textContent = `${i + 1}. ${t.prompt}`;
    const m = document.createElement("div");
    m.className = "m";
    m.textContent = t.stats
      ? `${(t.stats.ttft_s * 1000).toFixed(0)} ms TTFT · ${t.stats.decode_tps.toFixed(1)} tok/s · ${t.stats.decode_tokens} tok`
      : t.finish;
    li.append(q, m);
    li.addEventListener("click", () => {
      els.output.textContent = t.text;
      updatePreview(t.text, true);
      showMeter(t.stats);
      for (const other of els.turns.children) other.classList.remove("active");
      li.classList.add("active");
    });
    return li;
  }));
  els.turns.scrollTop = els.turns.scrollHeight;
}

function setBusy(busy) {
  els.send.textContent = busy ? "Stop" : "Send";
  els.send.classList.toggle("stop", busy);
  els.reset.disabled = busy;
}

// Server-Sent Events from a fetch body: yields each `data:` payload.
async function* sseData(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of event.split("\n")) if (line.startsWith("data: ")) yield line.slice(6);
    }
  }
}

async function send() {
  const prompt = els.prompt.value.trim();
  if (!prompt) return;
  const messages = history.concat([{ role: "user", content: prompt }]);
  controller = new AbortController();
  setBusy(true);
  setStatus("waiting for the first token…");
  els.output.textContent = "";
  lastPreview = null;
  showMeter(null);
  const started = performance.now();
  let text = "", stats = null, finish = "stop", firstAt = null;
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), signal: controller.signal,
      body: JSON.stringify({ messages, stream: true, stream_options: { include_usage: true } }),
    });
    if (res.status === 401) { needKey(); return; }
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      throw new Error((err.error && err.error.message) || `HTTP ${res.status}`);
    }
    els.prompt.value = "";
    for await (const data of sseData(res)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.sparkcode) stats = chunk.sparkcode;
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) continue;
      if (choice.finish_reason) finish = choice.finish_reason;
      const piece = choice.delta && choice.delta.content;
      if (piece) {
        if (firstAt === null) {
          firstAt = performance.now();
          $("meter-ttft").textContent = (firstAt - started).toFixed(0) + " ms";
        }
        text += piece;
        els.output.textContent = text;
        els.output.scrollTop = els.output.scrollHeight;
        setStatus(`streaming… ${text.length} chars`);
        updatePreview(text);
      }
    }
    setStatus("done");
  } catch (e) {
    if (e.name === "AbortError") { finish = "cancelled"; setStatus("stopped"); }
    else { setStatus(e.message, true); }
  } finally {
    controller = null;
    setBusy(false);
  }
  if (!text && finish !== "cancelled") return;
  history = messages.concat([{ role: "assistant", content: text }]);
  turns.push({ prompt, text, stats, finish });
  showMeter(stats);
  updatePreview(text, true);
  renderTurns();
}

els.form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (controller) controller.abort(); else send();
});

els.prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); els.form.requestSubmit(); }
});

els.reset.addEventListener("click", () => {
  history = [{ role: "system", content: SYSTEM }];
  turns = [];
  els.output.textContent = "";
  els.preview.srcdoc = "";
  lastPreview = null;
  showMeter(null);
  renderTurns();
  setStatus("new chat");
});

async function loadModel() {
  try {
    const res = await fetch("/v1/models", { headers: headers() });
    if (res.status === 401) { needKey(); return; }
    const body = await res.json();
    els.model.textContent = body.data[0].id;
    els.apikey.hidden = !apiKey();
    setStatus("ready");
  } catch (e) {
    setStatus("server unreachable", true);
  }
}

loadModel();
