"""Sphinx extension: drop repeated inline <script> blocks from each page.

With Sphinx 7.4, an inline script that an extension adds after the HTML builder starts
(sphinx-thebe's ``const THEBE_JS_URL = ...``, sphinx-togglebutton's selector) is listed twice: once
with ``filename=None`` and once with ``filename=''``, so the two compare unequal. The second copy of
a ``const`` declaration is a JavaScript SyntaxError in every page's console
("Identifier 'THEBE_JS_URL' has already been declared"). This keeps the first copy of each script.
tests_browser/test_players.py checks that the pages load without console errors.
"""

from __future__ import annotations

from typing import Any


def _drop_repeated_scripts(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = (getattr(script, "filename", script) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: Sphinx restores the builder's list after each page


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)  # after the theme's handlers
    return {"parallel_read_safe": True, "parallel_write_safe": True}
