"""The workspace: the one directory the agent's file tools may touch, and how they touch it.

`Workspace.resolve` is the single gate every file tool goes through. It confines a path to the
root: `..` escapes, absolute paths elsewhere, symlinks (anywhere in the chain) that resolve
outside, and device files / FIFOs / sockets are refused; writes are also refused under `.git`
or `.sparkcode` and in read-only mode. The returned path is the fully resolved one, so the
operation that follows acts on what was checked. What it cannot stop: a race where something
else swaps a directory for a symlink between the check and the use, and hard links (a hard link
to an outside file is indistinguishable from a file of the workspace). Shell commands are not
confined by this class at all; see `shell.py`.

Modes: "read-only" (read and list only), "workspace-write" (the default: writes inside the
root, commands in a limited shell), "full" (as workspace-write for file tools; the shell runs
with the user's environment and no resource limits, see `tools.Toolbox`).
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import SparkcodeError

MODES = ("read-only", "workspace-write", "full")
PROTECTED_DIRS = frozenset({".git", ".sparkcode"})
SKIP_DIRS = frozenset({".git", ".sparkcode", "node_modules", "__pycache__", ".venv",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".eggs"})  # and *.egg-info
_BINARY_SNIFF = 8192
_WALK_CAP = 20_000  # entries collected by list_files / tree_summary before giving up counting
_KEY_NAMES = ("pyproject.toml", "package.json", "Cargo.toml", "go.mod", "setup.py", "Makefile",
              "__main__.py", "main.py", "app.py", "cli.py", "manage.py", "index.js", "index.ts",
              "main.go", "main.rs", "lib.rs", "main.c", "main.cpp")


class ToolError(SparkcodeError):
    """A tool call the workspace refuses or cannot do; the message goes back to the model."""


class FileList(list):
    """Relative posix paths, sorted; `total` counts every file seen (more than len() if cut)."""

    def __init__(self, paths: list[str], total: int):
        super().__init__(paths)
        self.total = total

    @property
    def truncated(self) -> bool:
        return self.total > len(self)


@dataclass
class _Entry:
    path: str
    size: int


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if n < 10 else f"{n:.0f} {unit}"
    return f"{n:.0f} GB"


class Workspace:
    def __init__(self, root: Path | str, mode: str = "workspace-write"):
        if mode not in MODES:
            raise ToolError(f"unknown workspace mode {mode!r}; use one of {', '.join(MODES)}")
        given = Path(os.path.abspath(os.path.expanduser(str(root))))
        real = Path(os.path.realpath(given))
        if not real.is_dir():
            raise ToolError(f"workspace {root} is not a directory")
        self.root = real
        self._given_root = given
        self.mode = mode

    @property
    def can_write(self) -> bool:
        return self.mode != "read-only"

    @property
    def can_run(self) -> bool:
        return self.mode != "read-only"

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}, mode={self.mode!r})"

    # ---- the gate -------------------------------------------------------------------------

    def resolve(self, rel: str, for_write: bool = False) -> Path:
        """The real path for `rel` (relative to the root, or absolute inside it), or ToolError."""
        if not isinstance(rel, str) or not rel.strip():
            raise ToolError("path must be a non-empty string")
        if "\0" in rel:
            raise ToolError("path contains a NUL byte")
        if for_write and self.mode == "read-only":
            raise ToolError(f"cannot write {rel}: the workspace is read-only")
        raw = rel.strip()
        p = Path(raw)
        if p.is_absolute():
            candidate = p
            lexical = Path(os.path.normpath(p))
            if not (_inside(lexical, self.root) or _inside(lexical, self._given_root)):
                raise ToolError(f"{raw}: absolute path outside the workspace {self.root}")
        else:
            candidate = self.root / p
            lexical = Path(os.path.normpath(candidate))
            if not _inside(lexical, self.root):
                raise ToolError(f"{raw}: path escapes the workspace (leads outside {self.root})")
        try:
            real = Path(os.path.realpath(candidate))
        except (OSError, RuntimeError) as e:
            raise ToolError(f"{raw}: cannot resolve ({e})") from e
        if not _inside(real, self.root):
            raise ToolError(f"{raw}: a symlink in this path resolves outside the workspace (to {real})")
        try:
            st = os.stat(real)
        except FileNotFoundError:
            st = None
        except NotADirectoryError as e:
            raise ToolError(f"{raw}: a parent in this path is a file, not a directory") from e
        except OSError as e:
            raise ToolError(f"{raw}: cannot stat ({e.strerror})") from e
        if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise ToolError(f"{raw}: not a regular file (device, FIFO or socket); refused")
        if for_write:
            if real == self.root:
                raise ToolError(f"{raw}: is the workspace root, not a file")
            parts = set(real.relative_to(self.root).parts)
            if _inside(lexical, self.root):
                parts |= set(lexical.relative_to(self.root).parts)
            hit = parts & PROTECTED_DIRS
            if hit:
                raise ToolError(f"{raw}: writing inside {sorted(hit)[0]}/ is not allowed")
        return real

    def relpath(self, path: Path | str) -> str:
        """`path` (absolute or relative) as a posix path relative to the root."""
        p = Path(path)
        if not p.is_absolute():
            return p.as_posix()
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return p.as_posix()

    # ---- reading and writing --------------------------------------------------------------

    def read_text(self, rel: str, start_line: int | None = None, end_line: int | None = None,
                  max_bytes: int = 200_000) -> str:
        """UTF-8 text of a file (or of lines start..end, 1-based inclusive), at most ~max_bytes.

        A cut or ranged read ends with a bracketed note saying which lines were shown and how to
        go on. Binary files (a NUL byte in the first 8 KiB) are refused.
        """
        path = self.resolve(rel)
        if path.is_dir():
            raise ToolError(f"{rel} is a directory, not a file")
        if not path.exists():
            raise ToolError(f"no such file: {rel}")
        if start_line is not None and start_line < 1:
            raise ToolError(f"start_line must be >= 1 (got {start_line})")
        if end_line is not None and end_line < (start_line or 1):
            raise ToolError(f"end_line ({end_line}) is before start_line ({start_line or 1})")
        first = start_line or 1
        try:
            with open(path, "rb") as f:
                if b"\0" in f.read(_BINARY_SNIFF):
                    raise ToolError(f"{rel} is a binary file ({_human(path.stat().st_size)}); not shown")
                f.seek(0)
                chunks: list[bytes] = []
                used = 0
                total = 0
                last_shown = first - 1
                cut = False
                partial = False
                while piece := f.readline(1 << 20):  # bounded reads: a 1 GB line costs 1 MiB
                    if not partial:
                        total += 1
                    partial = not piece.endswith(b"\n")
                    if total < first or (end_line is not None and total > end_line) or cut:
                        continue
                    if used + len(piece) > max_bytes:
                        if not chunks:  # one enormous line: show its head
                            chunks.append(piece[:max_bytes] + b"\n")
                            last_shown = total
                        cut = True
                        continue
                    chunks.append(piece)
                    used += len(piece)
                    last_shown = total
        except OSError as e:
            raise ToolError(f"cannot read {rel}: {e.strerror}") from e
        if total and first > total:
            raise ToolError(f"start_line {first} is past the end of {rel} ({total} lines)")
        text = b"".join(chunks).decode("utf-8", errors="replace")
        if cut:
            if text and not text.endswith("\n"):
                text += "\n"
            text += (f"[truncated: showing lines {first}-{last_shown} of {total}; "
                     f"read on with start_line={last_shown + 1}]")
        elif start_line is not None or end_line is not None:
            if text and not text.endswith("\n"):
                text += "\n"
            text += f"[lines {first}-{last_shown} of {total}]"
        return text

    def write_text(self, rel: str, text: str) -> Path:
        """Write `text` atomically (temp file + rename), keeping an existing file's mode."""
        if not isinstance(text, str):
            raise ToolError("file content must be a string")
        path = self.resolve(rel, for_write=True)
        if path.is_dir():
            raise ToolError(f"{rel} is a directory, not a file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as e:
            raise ToolError(f"cannot create the directory for {rel}: a parent is a file") from e
        except OSError as e:
            raise ToolError(f"cannot create the directory for {rel}: {e.strerror}") from e
        if not _inside(Path(os.path.realpath(path.parent)), self.root):
            raise ToolError(f"{rel}: the parent directory moved outside the workspace; refused")
        old_mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(text.encode("utf-8"))
                if old_mode is not None:
                    os.chmod(tmp, old_mode)
                os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()
        except OSError as e:
            raise ToolError(f"cannot write {rel}: {e.strerror}") from e
        return path

    # ---- searching --------------------------------------------------------------------------

    def search(self, pattern: str, glob: str | None = None, max_hits: int = 200) -> list[tuple[str, int, str]]:
        """(path, line number, line) for each line matching the regex `pattern`, like ripgrep:
        text files of the workspace only (SKIP_DIRS and binary files passed over), optionally only
        paths matching `glob` (fnmatch, e.g. ``*.py``). A bad regex is a ToolError."""
        import fnmatch
        import re

        try:
            rx = re.compile(pattern)
        except re.error as e:
            raise ToolError(f"bad regular expression {pattern!r}: {e}") from None
        hits: list[tuple[str, int, str]] = []
        for e in self._walk()[0]:
            if glob and not (fnmatch.fnmatch(e.path, glob) or fnmatch.fnmatch(e.path.rsplit("/", 1)[-1], glob)):
                continue
            if e.size > 2 << 20:
                continue
            try:
                data = (self.root / e.path).read_bytes()
            except OSError:
                continue
            if b"\0" in data[:_BINARY_SNIFF]:
                continue
            for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
                if rx.search(line):
                    hits.append((e.path, n, line.strip()[:200]))
                    if len(hits) >= max_hits:
                        return hits
        return hits

    # ---- overview -------------------------------------------------------------------------

    def _walk(self, cap: int = _WALK_CAP) -> tuple[list[_Entry], int]:
        """(entries up to `cap`, total files seen), skipping SKIP_DIRS, not following dir links."""
        entries: list[_Entry] = []
        total = 0
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")
                                 and not os.path.islink(os.path.join(dirpath, d)))
            base = Path(dirpath).relative_to(self.root)
            for name in sorted(filenames):
                total += 1
                if len(entries) >= cap:
                    continue
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
                except OSError:  # dangling symlink
                    size = 0
                entries.append(_Entry((base / name).as_posix(), size))
        return entries, total

    def list_files(self, max_files: int = 400) -> FileList:
        """Relative posix paths of the workspace's files, sorted; shallow files win a cut."""
        entries, total = self._walk()
        chosen = sorted(entries, key=lambda e: (e.path.count("/"), e.path))[:max_files]
        return FileList(sorted(e.path for e in chosen), total)

    def tree_summary(self, max_chars: int = 4000) -> str:
        """A compact map for the model: the file tree with sizes, then heads of a few key files."""
        entries, total = self._walk()
        size = sum(e.size for e in entries)
        head = f"./  (the workspace root: {total} files, {_human(size)})"
        if not entries:
            return head + "\n  (empty)"
        keys = self._key_files(entries)
        tree_budget = max_chars if not keys else max(int(max_chars * 0.6), max_chars - 1800)
        tree = _render_tree(entries, tree_budget - len(head) - 1)
        out = head + "\n" + tree
        for e in keys:
            room = max_chars - len(out) - 2
            if room < 120:
                break
            excerpt = self._excerpt(e, room=room)
            if excerpt:
                out += "\n\n" + excerpt[:room]
        return out[:max_chars]

    def _key_files(self, entries: list[_Entry], limit: int = 5) -> list[_Entry]:
        def rank(e: _Entry) -> tuple:
            name = e.path.rsplit("/", 1)[-1]
            depth = e.path.count("/")
            if name.lower().startswith("readme") and depth == 0:
                return (0, depth, e.path)
            if name in _KEY_NAMES and depth <= 2:
                return (1, depth, _KEY_NAMES.index(name), e.path)
            if 0 < e.size <= 2048 and depth <= 2 and not name.startswith("."):
                return (2, depth, e.path)
            return (9,)
        ranked = sorted((e for e in entries if rank(e)[0] < 9), key=rank)
        return ranked[:limit]

    def _excerpt(self, e: _Entry, lines: int = 10, width: int = 120, room: int = 0) -> str:
        """The file whole when it fits `room` (measured: shown the first 10 lines of a 424-byte module,
        the model rewrote the functions it never saw), else its first `lines` lines."""
        try:
            with open(self.root / e.path, "rb") as f:
                data = f.read(4096)
        except OSError:
            return ""
        if b"\0" in data:
            return ""
        text = data.decode("utf-8", errors="replace").splitlines()
        whole = f"--- {e.path} (whole file) ---\n" + "\n".join(text)
        if len(data) < 4096 and len(whole) <= room:
            return whole
        body = [ln if len(ln) <= width else ln[:width] + "…" for ln in text[:lines]]
        more = " …" if len(text) > lines or len(data) == 4096 else ""
        return f"--- {e.path} (first {min(lines, len(text))} lines){more} ---\n" + "\n".join(body)


def _render_tree(entries: list[_Entry], budget: int) -> str:
    """Indented tree with sizes; collapses deeper levels into directory totals until it fits."""
    tree: dict = {}
    for e in entries:
        node = tree
        *dirs, name = e.path.split("/")
        for d in dirs:
            node = node.setdefault(d + "/", {})
        node[name] = e.size

    def totals(node: dict) -> tuple[int, int]:
        n = s = 0
        for v in node.values():
            if isinstance(v, dict):
                a, b = totals(v)
                n, s = n + a, s + b
            else:
                n, s = n + 1, s + v
        return n, s

    def render(node: dict, depth: int, max_depth: int, per_dir: int) -> list[str]:
        lines: list[str] = []
        pad = "  " * (depth + 1)
        files = sorted(k for k, v in node.items() if not isinstance(v, dict))
        dirs = sorted(k for k, v in node.items() if isinstance(v, dict))
        for name in files[:per_dir]:
            lines.append(f"{pad}{name}  {_human(node[name])}")
        if len(files) > per_dir:
            lines.append(f"{pad}… {len(files) - per_dir} more files")
        for name in dirs:
            n, s = totals(node[name])
            if depth + 1 >= max_depth:
                lines.append(f"{pad}{name}  ({n} files, {_human(s)})")
            else:
                lines.append(f"{pad}{name}")
                lines.extend(render(node[name], depth + 1, max_depth, per_dir))
        return lines

    depth_needed = max(e.path.count("/") for e in entries) + 1
    for max_depth in range(depth_needed, 0, -1):
        for per_dir in (40, 15, 6):
            text = "\n".join(render(tree, 0, max_depth, per_dir))
            if len(text) <= budget:
                return text
    text = "\n".join(render(tree, 0, 1, 6))
    return text[: max(budget - 2, 0)] + "\n…"
