"""The three decode workloads of `sparkcode bench speed`, as chat messages.

- *edit*: rewrite a ~190-line module with one small change (lots of copyable text);
- *fresh*: write a new program from a one-line request (nothing to copy);
- *agent*: the last turn of a recorded agent conversation: the model wrote a page, the checks
  passed, and the user asks for a change (earlier turns are context the model may copy).
"""

from __future__ import annotations

from pathlib import Path

from ..agent import prompts

DATA = Path(__file__).parent / "data"

_TODO_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Todo</title>
<style>
  body { font-family: sans-serif; max-width: 480px; margin: 2rem auto; }
  li.done span { text-decoration: line-through; color: #888; }
  button { margin-left: .5rem; }
</style>
</head>
<body>
<h1>Todo</h1>
<form id="add"><input id="text" placeholder="What needs doing?"><button>Add</button></form>
<ul id="list"></ul>
<p id="count"></p>
<script>
const items = JSON.parse(localStorage.getItem('todos') || '[]');
const list = document.getElementById('list');
function save() { localStorage.setItem('todos', JSON.stringify(items)); }
function render() {
  list.innerHTML = '';
  items.forEach((item, i) => {
    const li = document.createElement('li');
    li.className = item.done ? 'done' : '';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = item.done;
    box.onchange = () => { item.done = box.checked; save(); render(); };
    const span = document.createElement('span');
    span.textContent = item.text;
    const del = document.createElement('button');
    del.textContent = 'Delete';
    del.onclick = () => { items.splice(i, 1); save(); render(); };
    li.append(box, span, del);
    list.append(li);
  });
  const left = items.filter(x => !x.done).length;
  document.getElementById('count').textContent = left + ' left';
}
document.getElementById('add').onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById('text');
  if (!input.value.trim()) return;
  items.push({ text: input.value.trim(), done: false });
  input.value = '';
  save();
  render();
};
render();
</script>
</body>
</html>
"""


def edit_messages() -> list[dict]:
    src = (DATA / "units.py").read_text()
    return [{"role": "user", "content": "Rewrite this file with one change: DECIMALS must be 6 instead of 4. "
                                        "Output the complete file in one code block, nothing else.\n\n```python\n"
             + src + "```"}]


def fresh_messages() -> list[dict]:
    return [{"role": "system", "content": prompts.SYSTEM},
            {"role": "user", "content": "Task: build a snake game in one HTML file\n\nWorkspace:\n./  (the workspace root: 0 files, 0 B)\n  (empty)"}]


def agent_messages() -> list[dict]:
    return [
        {"role": "system", "content": prompts.SYSTEM},
        {"role": "user", "content": "Task: build a todo list page in one HTML file\n\nWorkspace:\n./  (the workspace root: 0 files, 0 B)\n  (empty)"},
        {"role": "assistant", "content": "FILE: todo.html\n```html\n" + _TODO_PAGE + "```"},
        {"role": "user", "content": "Results:\n- write_file todo.html: ok\n- check todo.html: OK — HTML parses, 1 inline "
                                    "script(s) pass node --check\n\nNow add a 'Clear completed' button under the list "
                                    "that removes all done items. Write the whole file again."},
    ]


WORKLOADS = {"edit": edit_messages, "fresh": fresh_messages, "agent": agent_messages}
