"""Sphinx extension: ``player-figure``, a numbered figure around an interactive player.

A MyST ``{figure}`` needs an image, but the Play page's player is raw HTML that runs in the browser.
This directive makes a figure of any content, with its last paragraph as the caption, so that the
player is numbered with the book's figures and ``{numref}`` can point to it (the outer fence takes
more backticks than the ``{raw}`` block inside it)::

    ````{player-figure}
    :name: fig-play-player

    ```{raw} html
    <div id="rssm-play"></div>
    ```

    The player. Left, the world; ...
    ````

tests_browser/test_pages.py checks that every figure and player on the site has a numbered caption.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives


class PlayerFigure(Directive):
    has_content = True
    option_spec = {"name": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        body = nodes.Element()
        self.state.nested_parse(self.content, self.content_offset, body)
        if len(body.children) < 2 or not isinstance(body.children[-1], nodes.paragraph):
            raise self.error("player-figure: the content must be the player, then its caption as the last paragraph")
        *player, last = body.children
        caption = nodes.caption(last.rawsource, "", *last.children)
        caption.source, caption.line = last.source, last.line
        figure = nodes.figure("", *player, caption, classes=["player-figure"])
        self.add_name(figure)
        return [figure]


def setup(app) -> dict[str, Any]:
    app.add_directive("player-figure", PlayerFigure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
