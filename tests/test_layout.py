"""The layout's promises: no import cycle in the library, and no class or
module too large to read (docstrings, comments and blank lines excluded)."""

import ast
import io
import pathlib
import tokenize

import pytest

ROOT = pathlib.Path(__file__).parents[1]
PACKAGES = ("sklearn_crest", "crest_benchmark")
MAX_CLASS_LINES, MAX_MODULE_LINES = 300, 500


def _modules(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _imports(name, path, known):
    """The library modules that ``path`` imports (at module level or inside
    a function: a deferred import is a cycle all the same)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names
                          if f"{target}.{alias.name}" in known]
            yield from submodules or ([target] if target in known else [])
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def _code_lines(source):
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                and node.body and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
                and isinstance(node.body[0].value.value, str)):
            docstrings.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    code = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                              tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code.update(range(token.start[0], token.end[0] + 1))
    code -= docstrings
    classes = {node.name: len([line for line in code
                               if node.lineno <= line <= node.end_lineno])
               for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    return len(code), classes


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    modules = dict(_modules(package))
    graph = {name: set(_imports(name, path, modules)) - {name}
             for name, path in modules.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_class_or_module_too_large(package):
    too_large = []
    for name, path in _modules(package):
        module_lines, classes = _code_lines(path.read_text())
        if module_lines > MAX_MODULE_LINES:
            too_large.append(f"{name}: {module_lines} code lines")
        too_large += [f"{name}.{cls}: {lines} code lines"
                      for cls, lines in classes.items() if lines > MAX_CLASS_LINES]
    assert too_large == []


def test_the_line_count_skips_docstrings_and_comments():
    source = 'class A:\n    """Doc.\n\n    More."""\n    # why\n    x = 1\n\n    def f(self):\n        return 2\n'
    assert _code_lines(source) == (4, {"A": 4})
