"""The package's layers: every import inside rssm points down, and its code is Python 3.10's."""

import ast
import json
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rssm"
BOOK = PACKAGE.parent / "book"
MODULES = sorted(PACKAGE.glob("*.py"))
# names that typing gained after Python 3.10 (pyproject.toml says requires-python >= 3.10)
TYPING_AFTER_3_10 = {
    "Self", "LiteralString", "Never", "assert_never", "assert_type", "reveal_type", "TypeVarTuple", "Unpack",
    "Required", "NotRequired", "dataclass_transform", "get_overloads", "clear_overloads", "override",
    "TypeAliasType", "ReadOnly", "TypeIs", "get_protocol_members", "is_protocol", "NoDefault",
}


def package_imports(path: Path) -> set[str]:
    """The modules of rssm that a file imports, at its top or inside a function ("__init__": the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            if name == "rssm" or name.startswith("rssm."):
                found.add(name.split(".")[1] if "." in name else "__init__")
    return found - {path.stem}


def test_the_imports_inside_the_package_form_no_cycle():
    graph = {path.stem: package_imports(path) for path in MODULES}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join(path[path.index(module):] + (module,))}"
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, path + (module,))
        done.add(module)

    for module in graph:
        visit(module, ())


@pytest.mark.parametrize("path", [p for p in MODULES if p.stem != "__init__"], ids=lambda p: p.name)
def test_no_module_imports_the_package_itself(path):
    assert "__init__" not in package_imports(path), f"{path.name} imports rssm (its __init__), which imports it back"


def test_the_config_helper_is_at_the_bottom_and_the_command_line_at_the_top():
    assert package_imports(PACKAGE / "config.py") == set()
    assert not [path.name for path in MODULES if "cli" in package_imports(path)]


def test_the_book_imports_each_name_of_the_package_from_one_module():
    homes: dict[str, set[str]] = {}
    for notebook in sorted(BOOK.glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            lines = "".join(cell["source"]).splitlines() if cell["cell_type"] == "code" else []
            code = "\n".join(line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
                             else line for line in lines)  # a magic (%pip, !ls) is no Python
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rssm"):
                    for alias in node.names:
                        homes.setdefault(alias.name, set()).add(node.module)
    assert {name: modules for name, modules in homes.items() if len(modules) > 1} == {}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_module_is_python_3_10(path):
    tree = ast.parse(path.read_text(), feature_version=(3, 10))  # the grammar of 3.10
    from_typing = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module == "typing"
                   for alias in node.names}
    as_attribute = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name) and node.value.id == "typing"}
    assert not (from_typing | as_attribute) & TYPING_AFTER_3_10
