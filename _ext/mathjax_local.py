"""Sphinx extension: serve MathJax 3 from the built site itself, so that the math renders offline.

Sphinx loads MathJax from a CDN by default; without a network every formula stays raw LaTeX. This
points ``mathjax_path`` at ``_static/mathjax/tex-chtml.js`` and copies what that file loads from
``node_modules/mathjax/es5`` (``npm ci`` installs the version pinned in package.json; ``make setup``
runs it): the TeX input with its autoloaded extensions, the CHTML fonts, the menu and accessibility
parts (about 3 MB). Copied when the build finishes, like ``_ext/play_assets.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sphinx.errors import ExtensionError

MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y")


def mathjax_source(app: Any) -> Path:
    source = Path(app.confdir) / "node_modules" / "mathjax" / "es5"
    if not (source / "tex-chtml.js").is_file():
        raise ExtensionError(f"mathjax_local: MathJax is not installed ({source}/tex-chtml.js is missing): "
                             "run `npm ci` in the repository (`make setup` does)")
    return source


def use_local_mathjax(app: Any) -> None:
    """builder-inited: check MathJax is there and load it from _static/mathjax/."""
    if app.builder.format == "html":
        mathjax_source(app)
        app.config.mathjax_path = "mathjax/tex-chtml.js"


def copy_mathjax(app: Any, exception: Exception | None) -> None:
    """build-finished: copy MathJax's parts into the site's _static/mathjax/."""
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(app), Path(app.outdir) / "_static" / "mathjax"
    shutil.rmtree(target, ignore_errors=True)
    for part in MATHJAX_PARTS:
        (target / part).parent.mkdir(parents=True, exist_ok=True)
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)
        else:
            shutil.copy2(source / part, target / part)
    shutil.copy2(source.parent / "LICENSE", target / "LICENSE.txt")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", use_local_mathjax)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
