"""Sphinx extension: put the Play page's assets into the built site, under ``_static/play/``.

``book/play.md`` loads ``_static/play/page.js``, which needs, all from the same site (no other host):

- ``*.js``, ``player.css``: the player, copied from ``rssm/web/`` (the package's copy, which the
  notebook widget also uses);
- ``model/``: the ONNX graphs, ``manifest.json``, ``reference.bin`` and ``episodes.json``, exported
  from the shipped checkpoint and the shipped agent by ``python -m rssm.export`` (in a subprocess, with this build's Python). The export is
  redone only when the checkpoint, the code it runs or the exporter's version changes;
- ``ort/``: ONNX Runtime Web, from ``node_modules/onnxruntime-web`` (``npm ci``, which ``make setup``
  runs; the version is pinned in package.json) and its licence from ``third_party/onnxruntime-web``.

Everything is staged in ``<build>/play_static/`` when the build starts (so that a missing runtime
fails it at once) and copied into the site when the build finishes, also when no page needed
rewriting (Sphinx's own static copy is skipped then).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

PLAYER_FILES = ("colormap.js", "readout.js", "world.js", "player.js", "agents.js", "ort_backend.js", "page.js", "player.css")
RUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
# What the exported files depend on besides the code (export_inputs): a change redoes the export.
EXPORTED_CHECKPOINTS = ("rssm/pretrained/moving_dot_occluded.pt", "rssm/pretrained/dreamer_agent.pt")  # model, agent
EXPORT_PACKAGES = ("torch", "onnx", "onnxscript")


def export_inputs(root: Path, module: str = "rssm/export.py") -> list[str]:
    """``module`` and every package module it imports, directly or not (read from their import lines), sorted.

    So a change to any code the export runs (the model, its latents, the world, ...) redoes it.
    """
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((root / name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rssm":
                todo.append(node.module.replace(".", "/") + ".py")
            elif isinstance(node, ast.Import):
                todo += [a.name.replace(".", "/") + ".py" for a in node.names if a.name.startswith("rssm.")]
    return sorted(seen)


def export_fingerprint(root: Path) -> str:
    """A hash of the export's inputs: its code (:func:`export_inputs`), the checkpoint, the agent and the exporter's versions."""
    digest = hashlib.sha256()
    for name in [*export_inputs(root), *EXPORTED_CHECKPOINTS]:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    for package in EXPORT_PACKAGES:
        try:
            digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
        except importlib.metadata.PackageNotFoundError:
            raise ExtensionError(
                f"play_assets: {package} is not installed: run `make setup` (pip install -e '.[dev]')"
            ) from None
    return digest.hexdigest()


def export_model(root: Path, target: Path) -> None:
    """Run ``python -m rssm.export`` into ``target`` unless its stamp says it is up to date."""
    stamp = target / ".fingerprint"
    fingerprint = export_fingerprint(root)
    if stamp.is_file() and stamp.read_text() == fingerprint and (target / "manifest.json").is_file():
        logger.info("play_assets: the ONNX export is up to date")
        return
    shutil.rmtree(target, ignore_errors=True)
    logger.info("play_assets: exporting the model to ONNX (python -m rssm.export)")
    command = [sys.executable, "-m", "rssm.export", str(target)]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ExtensionError(f"play_assets: `python -m rssm.export` failed:\n{done.stderr[-3000:]}")
    stamp.write_text(fingerprint)


def copy_runtime(root: Path, target: Path) -> None:
    """Copy ONNX Runtime Web's files (:data:`RUNTIME_FILES`) and its licence into ``target``."""
    dist = root / "node_modules" / "onnxruntime-web" / "dist"
    missing = [name for name in RUNTIME_FILES if not (dist / name).is_file()]
    if missing:
        raise ExtensionError(
            f"play_assets: ONNX Runtime Web is not installed ({dist} lacks {', '.join(missing)}): "
            "run `npm ci` in the repository (`make setup` does)"
        )
    shutil.rmtree(target, ignore_errors=True)  # no file of another version stays behind
    target.mkdir(parents=True)
    for name in RUNTIME_FILES:
        shutil.copy2(dist / name, target / name)
    shutil.copy2(root / "third_party" / "onnxruntime-web" / "LICENSE", target / "LICENSE.txt")


def staging_dir(app: Any) -> Path:
    return Path(app.doctreedir).parent / "play_static" / "play"


def stage_play_assets(app: Any) -> None:
    """builder-inited: fill ``<build>/play_static/play/``."""
    if app.builder.format != "html":
        return
    root = Path(app.confdir)
    play = staging_dir(app)
    play.mkdir(parents=True, exist_ok=True)
    for name in PLAYER_FILES:
        shutil.copy2(root / "rssm" / "web" / name, play / name)
    export_model(root, play / "model")
    copy_runtime(root, play / "ort")


def publish_play_assets(app: Any, exception: Exception | None) -> None:
    """build-finished: copy the staged assets to ``_static/play/`` of the site (dotfiles left out)."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "play"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(staging_dir(app), target, ignore=shutil.ignore_patterns(".*"))


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", stage_play_assets)
    app.connect("build-finished", publish_play_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
