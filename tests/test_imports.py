"""The import graph of components/ and pipeline/: one floor of components over common, no circles.

Read from the source with `ast`, so every import counts, also one inside a function.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("components", "pipeline")

# Function-local imports outside KFP component bodies (which KFP requires, as it runs a body on
# its own): each delays a heavy import that start-up would otherwise pay, and says so.
DELAYED_IMPORTS = {
    ("pipeline.cli", "predict"),  # TensorFlow, for the predict command only.
    ("pipeline.cli", "load_text_classifier"),  # TensorFlow and serving, for predict only.
    ("pipeline.cli", "main"),  # pipeline.runs, for the runs command only.
    # TensorFlow (started quietly) and what imports it, for the run command only and only
    # once its options are checked.
    ("pipeline.cli", "_run"),
    ("components.common.logs", "start_tensorflow_quietly"),  # Within its stderr capture.
    ("pipeline.local", "check_before_running"),  # tensorflow-datasets, for tfds sources only.
    ("components.ingest.shared", "source_fingerprint"),  # tensorflow-datasets, tfds only.
    ("components.ingest.sentiment", "expand"),  # tensorflow-datasets, in ReadTfds only.
}


def is_test(path: Path) -> bool:
    return path.name.startswith("test_") or path.name == "conftest.py"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    """Every non-test module of the packages, by dotted name."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if not is_test(path)
    }


def is_kfp_component(function: ast.AST) -> bool:
    return any("dsl.component" in ast.unparse(decorator) for decorator in function.decorator_list)


def imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None, bool]]:
    """(imported module, enclosing function or None, inside a KFP component body) for every
    import in the file."""
    found = []

    def visit(node: ast.AST, function: str | None, in_component: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name, in_component or is_kfp_component(child))
                continue
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module:
                # `from package import module` imports the module; anything else its package.
                names = [
                    f"{child.module}.{alias.name}"
                    if f"{child.module}.{alias.name}" in modules
                    else child.module
                    for alias in child.names
                ]
            found.extend((name, function, in_component) for name in names)
            visit(child, function, in_component)

    visit(ast.parse(path.read_text()), None, False)
    return found


def component_of(module: str) -> str | None:
    """The component folder a module belongs to (`common` included), or None outside."""
    parts = module.split(".")
    return parts[1] if parts[0] == "components" and len(parts) > 2 else None


def import_graph() -> dict[str, list[tuple[str, str | None, bool]]]:
    modules = source_modules()
    return {name: imports(path, modules) for name, path in modules.items()}


def ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def cross_component_imports(graph: dict) -> list[str]:
    """Imports of one component by another (or of the pipeline by a component, or of a
    component by common)."""
    wrong = []
    for module, found in graph.items():
        own = component_of(module)
        for target, _, _ in found:
            other = component_of(target)
            if own is None or not ours(target) or other in (own, "common"):
                continue
            wrong.append(f"{module} imports {target}")
    return wrong


def cycles(graph: dict) -> list[list[str]]:
    """Every import circle among our modules found by a depth-first walk."""
    edges = {
        module: sorted({target for target, _, _ in found if ours(target)})
        for module, found in graph.items()
    }
    state, stack, found = {}, [], []

    def walk(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for target in edges.get(module, []):
            if state.get(target) == "open":
                found.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                walk(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            walk(module)
    return found


def late_imports(graph: dict) -> list[str]:
    """Function-local imports other than in KFP component bodies and DELAYED_IMPORTS."""
    return [
        f"{module}.{function} imports {target}"
        for module, found in graph.items()
        for target, function, in_component in found
        if function and not in_component and (module, function) not in DELAYED_IMPORTS
    ]


def test_no_component_imports_another_component_or_the_pipeline():
    assert not cross_component_imports(import_graph())


def test_no_import_circles():
    assert not cycles(import_graph())


def test_imports_are_at_module_top_except_kfp_bodies_and_delayed_heavy_imports():
    assert not late_imports(import_graph())


def test_the_checks_see_a_cross_component_import_a_circle_and_a_late_import():
    graph = import_graph()
    graph["components.compare.compare"].append(("components.train.train", None, False))
    graph["components.common.io"].append(("pipeline.dag", None, False))
    graph["components.common.config"].append(("components.common.io", "f", False))
    graph["components.common.io"].append(("components.common.config", None, False))
    assert cross_component_imports(graph) == [
        "components.common.io imports pipeline.dag",
        "components.compare.compare imports components.train.train",
    ]
    assert ["components.common.config", "components.common.io", "components.common.config"] in (
        cycles(graph)
    )
    assert late_imports(graph) == ["components.common.config.f imports components.common.io"]
