"""The layers of DESIGN.md section 2: imports point inward only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import runnel

PACKAGE = Path(runnel.__file__).parent

# Layer of each top-level module or package of runnel; a module may import its own layer or
# a lower one (a smaller number), never a higher one.
CORE = 0
MIDDLE = 2
OUTER = 3
LAYERS = {
    "exceptions": CORE,
    "states": CORE,
    "settings": CORE,
    "names": CORE,
    "clock": CORE,
    "retries": CORE,
    "runs": CORE,
    "runtime": CORE,
    "context": CORE,
    "loggers": CORE,
    "validation": CORE,
    "limits": CORE,
    "annotations": CORE,
    "engine": CORE,
    "tasks": CORE,
    "flows": CORE,
    "futures": CORE,
    "store": 1,
    "logging": MIDDLE,
    "task_runners": MIDDLE,
    "concurrency": MIDDLE,
    "results": MIDDLE,
    "cache_policies": MIDDLE,
    "cli": OUTER,
    "server": OUTER,
    "contrib": OUTER,
}
FACADE = "__init__"  # the facade wires the layers together and may import any of them


def _runnel_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            if node.module == "runnel":
                found.update(f"runnel.{alias.name}" for alias in node.names)
    return found


def _layer_of(module_path: Path) -> tuple[str, int | None]:
    relative = module_path.relative_to(PACKAGE).with_suffix("")
    top = relative.parts[0]
    return top, LAYERS.get(top)


def test_every_module_has_a_layer() -> None:
    unknown = {
        _layer_of(p)[0]
        for p in PACKAGE.rglob("*.py")
        if _layer_of(p)[0] != FACADE and _layer_of(p)[1] is None
    }
    assert not unknown, f"add these to LAYERS: {sorted(unknown)}"


def test_imports_point_inward() -> None:
    wrong: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        top, layer = _layer_of(path)
        if top == FACADE or layer is None:
            continue
        for name in _runnel_imports(path):
            if not name.startswith("runnel."):
                continue
            target = name.split(".")[1]
            target_layer = LAYERS.get(target)
            if target_layer is not None and target_layer > layer:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_core_imports_only_the_standard_library() -> None:
    stdlib = set(sys.stdlib_module_names)
    wrong: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        top, layer = _layer_of(path)
        if layer != CORE:
            continue
        for name in _runnel_imports(path):
            root = name.split(".")[0]
            if root != "runnel" and root not in stdlib and root != "__future__":
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_import_runnel_loads_no_cli_or_third_party_packages() -> None:
    import subprocess

    code = (
        "import sys, runnel; "
        "print(','.join(m for m in ('typer','rich','click','psycopg','httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
