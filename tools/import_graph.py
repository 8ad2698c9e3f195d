"""The picture of the imports: every arrow between our packages, and a check that none goes up.

    make imports                       # the arrows as text, then "no arrow goes up" (or the ones that do)
    .venv/bin/python tools/import_graph.py --dot | dot -Tsvg > imports.svg

The layers are read from pyproject.toml's [tool.importlinter] contracts (the ones `make lint` enforces),
so this picture and the CI check cannot disagree. A node is a top-level package, or, inside a contract's
container (e.g. `continuum`), one of its layers. The import graph is grimp's (import-linter's own engine).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def contracts() -> tuple[list[str], list[list[list[str]]]]:
    """The root packages and, per layers contract, its layers top to bottom (each a list of siblings)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = [
        [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]
        for contract in config["contracts"]
        if contract["type"] == "layers"
    ]
    return config["root_packages"], layered


def node_of(module: str, nodes: list[str]) -> str | None:
    """The most specific node that holds `module` (None: a module outside every layer)."""
    holders = [n for n in nodes if module == n or module.startswith(n + ".")]
    return max(holders, key=len) if holders else None


def arrows(graph: grimp.ImportGraph, nodes: list[str]) -> set[tuple[str, str]]:
    found = set()
    for importer in graph.modules:
        source = node_of(importer, nodes)
        for imported in graph.find_modules_directly_imported_by(importer):
            target = node_of(imported, nodes)
            if source and target and source != target and not target.startswith(source + "."):
                found.add((source, target))
    return found


def upward(arrow: tuple[str, str], layered: list[list[list[str]]]) -> bool:
    """The arrow goes up (or across independent siblings) in a contract that holds both ends."""
    for layers in layered:
        rank = {name: i for i, layer in enumerate(layers) for name in layer}
        source, target = (node_of(end, list(rank)) for end in arrow)  # e.g. continuum.web is in continuum
        if source and target and source != target and rank[source] >= rank[target]:
            return True
    return False


def main(argv: list[str]) -> int:
    roots, layered = contracts()
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*roots)
    nodes = sorted({*roots, *(name for layers in layered for layer in layers for name in layer)})
    found = sorted(arrows(graph, nodes))
    wrong = [a for a in found if upward(a, layered)]
    if "--dot" in argv:
        print("digraph imports {\n  rankdir=BT;")
        for source, target in found:
            print(f'  "{source}" -> "{target}"{" [color=red]" if (source, target) in wrong else ""};')
        print("}")
    else:
        for source, target in found:
            print(f"{source} -> {target}{'   <-- goes up' if (source, target) in wrong else ''}")
    if wrong:
        print(
            f"{len(wrong)} arrow(s) go up: see the layers in pyproject.toml [tool.importlinter]",
            file=sys.stderr,
        )
        return 1
    print("no arrow goes up", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
