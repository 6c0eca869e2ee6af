"""Sphinx extension: label the bibliography as the text cites it, "Hafner et al., 2019".

sphinxcontrib-bibtex cites in the author-year style (``bibtex_reference_style: author_year``), but
its bibliography styles label entries alphabetically ("HLF+19"). This registers a pybtex style,
``authoryear``, that labels each entry with its authors' last names and its year (one or two
authors in full, three or more as "First et al.") and sorts the list by first author and year. URLs,
DOIs and arXiv identifiers (``eprint``) are links, as in pybtex's ``unsrt`` style it extends.
"""

from __future__ import annotations

from typing import Any

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle


def author_year_label(entry: Any) -> str:
    """'Hafner et al., 2019', 'Kingma and Welling, 2014' or 'Ba, 2016' for one bibliography entry."""
    names = [" ".join(person.last_names).replace("{", "").replace("}", "") for person in entry.persons.get("author", [])]
    if len(names) > 2:
        authors = f"{names[0]} et al."
    else:
        authors = " and ".join(names)
    return f"{authors}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year_label(entry)


class FirstAuthorYearSorting(BaseSortingStyle):
    """By the first author's last name, then year, then title: "Hafner et al." in the order of their years."""

    def sorting_key(self, entry: Any) -> tuple[str, str, str]:
        authors = entry.persons.get("author", [])
        first = " ".join(authors[0].last_names).lower() if authors else ""
        return first, entry.fields.get("year", ""), entry.fields.get("title", "").lower()


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabelStyle
    default_sorting_style = FirstAuthorYearSorting


def setup(app: Any) -> dict[str, Any]:
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
