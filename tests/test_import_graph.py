"""The package's import graph (every import statement, lazy ones inside functions included) has no cycle."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "patchsim"


def import_graph() -> dict[str, set[str]]:
    """module -> the patchsim modules it imports (a ``from pkg import name`` counts as importing
    ``pkg.name`` when that is a module, else ``pkg``)."""
    mods = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = f
    graph = {}
    for name, f in mods.items():
        pkg = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
        out = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names}
        graph[name] = {m for m in out if m in mods and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                c = visit(w)
                if c:
                    return c
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(graph):
        if v not in state:
            c = visit(v)
            if c:
                return c
    return None


def test_the_scanner_sees_lazy_imports_and_cycles():
    g = import_graph()
    assert "patchsim.scene.schema" in g["patchsim.scene.io"]
    assert "patchsim.realphoto.batches" in g["patchsim.attack.eot"]  # imported inside a method
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_package_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


# The pipeline's layers, lowest first: a module may import its own layer and those below, never above.
LAYERS = [
    {"errors", "checks", "records", "device", "io"},  # foundations
    {"signs", "scene", "effects"},  # what the world is, and what it does to light (one module per physical effect)
    {"render", "simulator", "realphoto", "printing"},  # imaging: the renderer, the independent simulator, real photos, printing
    {"models", "objectives"},  # what reads the images, and what counts as fooled
    {"attack", "evaluate", "defences", "poison"},  # engines: none imports another
    {"jobs"},  # one module per command
    {"cli", "patchsim"},  # the command line
]
ENGINES = {"attack", "evaluate", "defences", "poison"}
LOCAL_IMPORT_BUDGET = 155  # function-local patchsim imports today; only ever lowered


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up a layer or from one engine into another."""
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    out = []
    for a, bs in graph.items():
        for b in bs:
            ta, tb = _top(a), _top(b)
            if ta not in layer or tb not in layer:
                out.append(f"{a} -> {b} (not in a layer)")
            elif layer[tb] > layer[ta]:
                out.append(f"{a} -> {b} (upward)")
            elif ta != tb and ta in ENGINES and tb in ENGINES:
                out.append(f"{a} -> {b} (engine to engine)")
    return sorted(out)


def test_the_layer_check_catches_upward_and_sideways_imports():
    assert layer_violations({"patchsim.render.x": {"patchsim.attack.eot"}}) == [
        "patchsim.render.x -> patchsim.attack.eot (upward)"]
    assert layer_violations({"patchsim.attack.x": {"patchsim.evaluate.y"}}) == [
        "patchsim.attack.x -> patchsim.evaluate.y (engine to engine)"]
    assert layer_violations({"patchsim.jobs.x": {"patchsim.attack.y", "patchsim.errors"}}) == []


def test_data_flows_one_way_along_the_pipeline():
    bad = layer_violations(import_graph())
    assert not bad, "\n".join(bad)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between patchsim's top-level packages and modules (``patchsim.render``, ``patchsim.errors``)."""
    out: dict[str, set[str]] = {}
    for a, bs in graph.items():
        out.setdefault(_top(a), set()).update(_top(b) for b in bs if _top(b) != _top(a))
    return out


def test_no_package_level_cycle():
    cycle = find_cycle(package_graph(import_graph()))
    assert cycle is None, " -> ".join(cycle)


def test_function_local_imports_only_for_optional_or_heavy_dependencies():
    """A patchsim module imported inside a function hides a layer edge from a reader; they are counted
    here so the number only goes down."""
    local = 0
    for f in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("patchsim"):
                        local += 1
    assert local <= LOCAL_IMPORT_BUDGET, f"{local} function-local patchsim imports (budget {LOCAL_IMPORT_BUDGET})"
