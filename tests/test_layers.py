"""The layers stay visible: capture -> ingest -> store <- processing -> selectors -> interfaces, no arrow
back up (not even a lazy import inside a function) and no import cycle among the project's modules."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("telemetry", "blueplane", "api")

# What each layer must never import (a module's layer is its longest matching prefix).
FORBIDDEN = {
    "telemetry.capture": ("telemetry.ingest", "telemetry.store", "telemetry.processing", "telemetry.selectors",
                          "telemetry.tasks", "telemetry.admin", "api"),
    "telemetry.ingest": ("telemetry.capture", "telemetry.processing", "telemetry.selectors", "telemetry.tasks",
                         "telemetry.admin", "api", "blueplane.cli"),
    "telemetry.store": ("telemetry.capture", "telemetry.ingest", "telemetry.processing", "telemetry.selectors",
                        "telemetry.tasks", "telemetry.admin", "api", "blueplane.cli"),
    "telemetry.processing": ("telemetry.capture", "telemetry.ingest", "telemetry.selectors", "telemetry.tasks",
                             "telemetry.admin", "api", "blueplane.cli"),
    "telemetry.selectors": ("telemetry.capture", "telemetry.ingest", "telemetry.tasks", "telemetry.admin", "api",
                            "blueplane.cli"),
    "telemetry.wire": ("telemetry", "blueplane", "api"),
    # Forwarding reads the store and capture's privacy filter, and posts over HTTP: nothing above.
    "telemetry.forward": ("telemetry.ingest", "telemetry.processing", "telemetry.selectors", "telemetry.tasks",
                          "telemetry.admin", "api", "blueplane.cli"),
    # The dashboard and the live feed read only through selectors (issue 11's first requirement).
    "api.dashboard": ("telemetry.capture", "telemetry.ingest", "telemetry.store", "telemetry.processing",
                      "telemetry.tasks", "telemetry.admin", "telemetry.models", "api.v1.resources", "api.v1.reports",
                 "api.mcp"),
    "api.live": ("telemetry.capture", "telemetry.ingest", "telemetry.store", "telemetry.processing",
                 "telemetry.tasks", "telemetry.admin", "telemetry.models", "api.v1.resources", "api.v1.reports",
                 "api.mcp"),
}  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules a module imports, anywhere in it (lazy imports in functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _layer(name: str) -> str | None:
    matches = [layer for layer in FORBIDDEN if name == layer or name.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def test_no_layer_imports_one_above_it():
    wrong = []
    for name, imported in _graph().items():
        layer = _layer(name)
        if layer is None:
            continue
        for target in imported:
            if any(target == f or target.startswith(f + ".") for f in FORBIDDEN[layer]):
                wrong.append(f"{name} -> {target}")
    assert not wrong, wrong


def test_no_import_cycles():
    graph = _graph()
    # A package's __init__ re-exporting its own modules is not a cycle worth naming: skip parent->child.
    edges = {n: {t for t in ts if not t.startswith(n + ".")} for n, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert not cycles, cycles


def test_the_checks_see_imports():
    # Guard against a walker that finds nothing and so passes vacuously.
    graph = _graph()
    assert "telemetry.store.writer" in graph["telemetry.ingest.storing"]
    assert "telemetry.processing.rollups" in graph["telemetry.selectors.usage"]
