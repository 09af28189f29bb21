"""Checkpoints: whole-workspace snapshots in a shadow git repository, and undo.

The shadow repository lives at ``<workspace>/.sparkcode/shadow.git`` and is always driven with
``--git-dir``/``--work-tree``, so a user's own ``.git`` (its index, refs, hooks, config) is never
read or written. A snapshot records every file of the workspace, untracked and ignored ones
included (``.gitignore`` is deliberately not respected), except ``.sparkcode/`` itself and
anything inside a ``.git`` directory. A directory holding its own ``.git`` (a nested repository)
is recorded by git as a bare link, so its files are not part of the snapshot. Git sees only the
executable bit of a file's mode, so a restore brings back contents, the executable bit,
symlinks and empty directories, not other permission bits or timestamps.

Git runs with system and global config disabled, a fixed author, no hooks, and attributes
forced off (no line-ending conversion, filters or ident expansion from ``.gitattributes``),
so that neither user config nor repository content can change what is stored or restored.

Every snapshot is listed in ``.sparkcode/checkpoints.json`` with its run id, commit and time;
`undo_last` restores the state recorded by the first snapshot of the most recent run.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from ..errors import SparkcodeError
from .workspace import Workspace

STATE_DIR = ".sparkcode"
_REF = "refs/heads/snapshots"
_EMPTY_DIRS_TRAILER = "sparkcode-empty-dirs: "
_EXCLUDE = (".", f":(exclude,top){STATE_DIR}")
_GIT_CONFIG = {
    "user.name": "sparkcode", "user.email": "sparkcode@localhost", "core.autocrlf": "false",
    "core.safecrlf": "false", "core.fileMode": "true", "core.symlinks": "true",
    "core.hooksPath": os.devnull, "core.fsmonitor": "false", "core.untrackedCache": "false",
    "core.quotePath": "false", "commit.gpgSign": "false", "gc.auto": "0", "safe.directory": "*",
    "advice.addEmbeddedRepo": "false", "core.longpaths": "true",
}
_ATTRIBUTES = "* -text -eol -filter -ident -working-tree-encoding\n"


class CheckpointError(SparkcodeError):
    """A snapshot or restore failed (git missing, unknown checkpoint, nothing to undo)."""


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class Checkpoint:
    def __init__(self, root: Path | str, run_id: str | None = None):
        self.root = Path(os.path.realpath(root))
        self.state_dir = self.root / STATE_DIR
        self.git_dir = self.state_dir / "shadow.git"
        self.index_file = self.state_dir / "checkpoints.json"
        self.run_id = run_id or new_run_id()

    # ---- public -----------------------------------------------------------------------------

    def snapshot(self, message: str = "snapshot") -> str:
        """Record the whole workspace; returns the commit id (also listed in checkpoints.json)."""
        self._ensure_repo()
        self._git("add", "--all", "--force", "--", *_EXCLUDE)
        tree = self._git("write-tree").strip()
        parent = self._git("rev-parse", "-q", "--verify", _REF, check=False).strip()
        body = message.strip() or "snapshot"
        empty = self._empty_dirs()
        if empty:
            body += "\n\n" + _EMPTY_DIRS_TRAILER + json.dumps(empty)
        args = ["commit-tree", tree, "-F", "-"] + (["-p", parent] if parent else [])
        commit = self._git(*args, stdin=body).strip()
        self._git("update-ref", _REF, commit)
        state = self._load()
        state["snapshots"].append({"run_id": self.run_id, "commit": commit, "time": time.time(),
                                   "message": message.strip().splitlines()[0] if message.strip() else ""})
        self._save(state)
        return commit

    def restore(self, commit: str) -> None:
        """Make the workspace exactly the snapshot: modified and deleted files come back, files
        created since are deleted. Nothing inside .git or .sparkcode is touched."""
        self._ensure_repo()
        full = self._git("rev-parse", "-q", "--verify", f"{commit}^{{commit}}", check=False).strip()
        if not full:
            raise CheckpointError(f"unknown checkpoint {commit!r}")
        # Stage the present state first, so files created since the snapshot are in the index
        # and read-tree removes them; then make index and work tree equal to the snapshot.
        self._git("add", "--all", "--force", "--", *_EXCLUDE)
        self._git("read-tree", "--reset", "-u", full)
        self._fix_dirs(self._recorded_empty_dirs(full))

    def snapshots(self) -> list[dict]:
        """Every recorded snapshot, oldest first: {run_id, commit, time, message}."""
        return list(self._load()["snapshots"])

    def changed_files(self, commit: str) -> list[str]:
        """Paths that differ between the snapshot `commit` and the workspace now."""
        self._ensure_repo()
        self._git("add", "--all", "--force", "--", *_EXCLUDE)
        out = self._git("diff", "--cached", "--name-only", "--no-renames", "-z", commit)
        return [p for p in out.split("\0") if p]

    # ---- git --------------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0",
                   HOME=str(self.state_dir), XDG_CONFIG_HOME=str(self.state_dir), LC_ALL="C",
                   GIT_AUTHOR_NAME="sparkcode", GIT_AUTHOR_EMAIL="sparkcode@localhost",
                   GIT_COMMITTER_NAME="sparkcode", GIT_COMMITTER_EMAIL="sparkcode@localhost")
        return env

    def _git(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        cmd = ["git"]
        for k, v in _GIT_CONFIG.items():
            cmd += ["-c", f"{k}={v}"]
        cmd += [f"--git-dir={self.git_dir}", f"--work-tree={self.root}", *args]
        try:
            proc = subprocess.run(cmd, cwd=self.root, env=self._env(), input=stdin, capture_output=True,
                                  text=True, encoding="utf-8", errors="surrogateescape", timeout=600)
        except FileNotFoundError as e:
            raise CheckpointError("checkpoints need git, and git is not on PATH") from e
        except subprocess.TimeoutExpired as e:
            raise CheckpointError(f"git {args[0]} took more than 10 minutes; workspace too large?") from e
        if check and proc.returncode != 0:
            msg = (proc.stderr or proc.stdout).strip().splitlines()
            raise CheckpointError(f"git {args[0]} failed: {msg[-1] if msg else f'exit {proc.returncode}'}")
        return proc.stdout

    def _ensure_repo(self) -> None:
        self.state_dir.mkdir(exist_ok=True)
        ignore = self.state_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# sparkcode's own state: keep it out of the user's repository\n*\n")
        if not (self.git_dir / "HEAD").exists():
            try:
                subprocess.run(["git", "init", "-q", "--bare", "--template=", str(self.git_dir)],
                               env=self._env(), capture_output=True, check=True, timeout=60)
            except FileNotFoundError as e:
                raise CheckpointError("checkpoints need git, and git is not on PATH") from e
            except subprocess.CalledProcessError as e:
                why = e.stderr.decode(errors="replace").strip()
                raise CheckpointError(f"cannot create {self.git_dir}: {why}") from e
        info = self.git_dir / "info"
        info.mkdir(exist_ok=True)
        for name, text in (("attributes", _ATTRIBUTES), ("exclude", f"/{STATE_DIR}/\n")):
            if not (info / name).exists() or (info / name).read_text() != text:
                (info / name).write_text(text)
        lock = self.git_dir / "index.lock"
        if lock.exists() and time.time() - lock.stat().st_mtime > 60:
            lock.unlink()  # left by a git that was killed; nothing else writes this repository

    # ---- directories git does not track -----------------------------------------------------

    def _dirs(self) -> tuple[list[str], list[str]]:
        """(all directories, empty directories) of the workspace, relative, skipping .git/.sparkcode."""
        alldirs, empty = [], []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = Path(dirpath).relative_to(self.root)
            dirnames[:] = [d for d in dirnames if d != ".git" and not (rel == Path(".") and d == STATE_DIR)]
            if rel == Path("."):
                continue
            alldirs.append(rel.as_posix())
            if not filenames and not os.listdir(dirpath):
                empty.append(rel.as_posix())
        return alldirs, empty

    def _empty_dirs(self) -> list[str]:
        return self._dirs()[1]

    def _recorded_empty_dirs(self, commit: str) -> set[str]:
        body = self._git("cat-file", "commit", commit)
        for line in body.splitlines():
            if line.startswith(_EMPTY_DIRS_TRAILER):
                try:
                    return set(json.loads(line[len(_EMPTY_DIRS_TRAILER):]))
                except json.JSONDecodeError:
                    return set()
        return set()

    def _fix_dirs(self, keep_empty: set[str]) -> None:
        alldirs, _ = self._dirs()
        for rel in sorted(alldirs, key=lambda p: -p.count("/")):  # deepest first
            path = self.root / rel
            if rel not in keep_empty and not path.is_symlink():
                try:
                    path.rmdir()  # only succeeds when empty
                except OSError:
                    pass
        for rel in sorted(keep_empty):
            (self.root / rel).mkdir(parents=True, exist_ok=True)

    # ---- checkpoints.json -------------------------------------------------------------------

    def _load(self) -> dict:
        try:
            state = json.loads(self.index_file.read_text())
            if isinstance(state, dict) and isinstance(state.get("snapshots"), list):
                state.setdefault("undone", [])
                return state
        except (OSError, json.JSONDecodeError):
            pass
        return {"version": 1, "snapshots": [], "undone": []}

    def _save(self, state: dict) -> None:
        self.state_dir.mkdir(exist_ok=True)
        tmp = self.index_file.with_name(f".checkpoints.{secrets.token_hex(4)}.tmp")
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        os.replace(tmp, self.index_file)


def undo_last(workspace: Workspace | Path | str) -> dict:
    """Restore the workspace to how it was before the most recent run; returns that run's record.

    `workspace` is a path or a `Workspace`. The state being undone is saved first (its commit is
    in the record under "saved"), and the run is dropped from the list, so a second undo goes
    one run further back.
    """
    root = workspace.root if isinstance(workspace, Workspace) else Path(workspace)
    cp = Checkpoint(root, run_id="undo-" + new_run_id())
    state = cp._load()
    if not state["snapshots"]:
        raise CheckpointError(f"nothing to undo: no checkpoints in {cp.index_file}")
    run_id = state["snapshots"][-1]["run_id"]
    first = next(s for s in state["snapshots"] if s["run_id"] == run_id)
    saved = cp.snapshot(f"before undo of run {run_id}")
    cp.restore(first["commit"])
    state = cp._load()
    state["snapshots"] = [s for s in state["snapshots"] if s["run_id"] not in (run_id, cp.run_id)]
    record = dict(first, saved=saved)
    state["undone"].append(record)
    cp._save(state)
    return record
