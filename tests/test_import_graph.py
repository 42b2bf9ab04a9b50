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
    assert "patchsim.attack.real_photos" in g["patchsim.attack.eot"]  # imported inside a method
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_package_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


# The pipeline's layers, lowest first: a module may import its own layer and those below, never above.
LAYERS = [
    {"errors", "checks", "imageio", "records", "outputs", "interrupts", "device"},  # foundations
    {"signs", "scene"},  # what the world is
    {"render"},  # conditions, sampling, the differentiable renderer
    {"models", "protocol", "sticker_io"},  # what reads the images, and what counts as fooled
    {"attack", "evaluate", "photo", "defences", "poison", "contact_sheet", "render_job", "detect_job"},  # stages and their jobs
    {"cli", "cli_options", "cli_photo", "cli_detect", "cli_defence", "cli_poison", "patchsim"},  # the command
]
# Stage modules that are the pipeline's math, not jobs: they must not reach into another stage.
STAGE_CORES = {
    "patchsim.evaluate": {"camera_sim", "consistency", "metrics", "records", "runner", "report"},
    "patchsim.photo": {"octagon", "placement", "relight", "detect", "colour", "chart", "locator", "relight_physical",
                       "relight_choice", "relight_regions", "relight_validation", "twins", "twin_score", "sheets"},
    "patchsim.attack": {"config", "losses", "eot", "pieces", "pdf"},
}  # attack.real_photos is the one bridge: it places attacker photos with the photo stage's placement


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_data_flows_one_way_along_the_pipeline():
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    g = import_graph()
    assert {_top(m) for m in g} <= set(layer), sorted({_top(m) for m in g} - set(layer))
    upward = [f"{a} -> {b}" for a, bs in g.items() for b in bs if layer[_top(b)] > layer[_top(a)]]
    assert not upward, upward
    across = []
    for a, bs in g.items():
        pkg, _, leaf = a.rpartition(".")
        if leaf in STAGE_CORES.get(pkg, ()):
            across += [f"{a} -> {b}" for b in bs
                       if layer[_top(b)] == layer[_top(a)] and _top(b) != _top(a)]
    assert not across, across
