#!/usr/bin/env python3
"""The shape of the code, measured: what issue 20's note shows before and after a restructure.

``python scripts/architecture_report.py [--root DIR] [--json] [--duplicates]`` prints, for the packages ``pipeline``
and ``flows`` under DIR (default: this repository):

- modules and lines per room (a room is a folder under ``pipeline/``, or a top-level module; ``flows`` is one room);
- the ten largest modules;
- import cycles between modules (strongly connected components of grimp's import graph with more than one module);
- upward imports: an import whose target sits in a higher layer than its importer, against the layer order of the
  import-linter contract ``layers`` in ``pyproject.toml`` (the same order ``lint-imports`` enforces), plus imports of
  ``flows`` from anywhere in the library but ``pipeline.cli``;
- imports inside functions (``ast``): of the project's own modules (per room) and of third-party modules;
- with ``--duplicates``: blocks of at least ``--min-lines`` (default 6) consecutive code lines that occur more than
  once (blank lines, comments, docstrings and imports left out), grouped: the number of groups and the lines they
  repeat.

``python scripts/architecture_report.py --layout`` prints the generated part of ``pipeline/LAYOUT.md`` instead (its
cog block calls :func:`layout_markdown`): each room and module with the first line of its docstring, by layer.

grimp reads the source; nothing of the project is imported, so the report runs on any checkout (``--root``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import tomllib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "flows")
# The contract in pyproject.toml whose layers give the order for "upward" (and the groups of LAYOUT.md).
LAYERS_CONTRACT = "layers"


@dataclass
class Layer:
    """One row of the layers contract: its members (names under ``pipeline``) and whether they are independent."""

    members: list[str]
    independent: bool
    optional: set[str] = field(default_factory=set)


def read_layers(root: Path) -> tuple[str, list[Layer]]:
    """The container and the layers (top first) of the import-linter contract ``layers`` in ``root/pyproject.toml``.

    Arguments:
        root: a checkout of the repository.

    Returns:
        ``(container, layers)``; ``("pipeline", [])`` when the tree has no such contract.
    """
    path = root / "pyproject.toml"
    if not path.exists():
        return "pipeline", []
    conf = tomllib.loads(path.read_text(encoding="utf-8"))
    contracts = conf.get("tool", {}).get("importlinter", {}).get("contracts", [])
    for contract in contracts:
        if contract.get("id") != LAYERS_CONTRACT:
            continue
        container = (contract.get("containers") or ["pipeline"])[0]
        layers = []
        for row in contract["layers"]:
            independent = ":" not in row
            names = [n.strip() for n in row.replace(":", "|").split("|") if n.strip()]
            optional = {n.strip("()") for n in names if n.startswith("(")}
            layers.append(Layer([n.strip("()") for n in names], independent, optional))
        return container, layers
    return "pipeline", []


def layer_index(module: str, container: str, layers: list[Layer]) -> int | None:
    """The row (0 = top) of the layer holding ``module``, or None when no layer names it or an ancestor of it."""
    if not module.startswith(container + "."):
        return None
    rest = module[len(container) + 1 :]
    for i, layer in enumerate(layers):
        for member in layer.members:
            if rest == member or rest.startswith(member + "."):
                return i
    return None


def room_of(module: str) -> str:
    """The room a dotted module belongs to: ``pipeline.asr.base`` → ``asr``, ``pipeline.config`` → ``config``."""
    parts = module.split(".")
    if parts[0] != "pipeline":
        return parts[0]
    return parts[1] if len(parts) > 1 else "(pipeline/__init__)"


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the packages under ``root``: dotted name → file (``__init__.py`` names its package)."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        base = root / package
        if not (base / "__init__.py").exists():
            continue
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            # a folder without __init__.py (package data such as pipeline/data/samples) is not a module of the package
            if any(not (root.joinpath(*rel.parts[:i]) / "__init__.py").exists() for i in range(1, len(rel.parts))):
                continue
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def line_count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def first_docstring_line(path: Path) -> str:
    """The summary line of a module's docstring: its first sentence ('' when it has none).

    A summary that the author wrapped over two lines is joined, so that the table never shows half a sentence.
    """
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except SyntaxError:
        return ""
    if not doc or not doc.strip():
        return ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]


# --- the import graph (grimp) -------------------------------------------------------------------------------------


def build_graph(root: Path):
    """grimp's import graph of ``pipeline`` and ``flows`` as they are under ``root`` (read from source, not imported)."""
    import grimp  # the one third-party dependency of this script (test extra); only the graph figures need it

    # grimp finds a package through the import system: put root first, and set aside modules of the same names
    # already imported from another checkout (restored after, so a caller's imports stay the objects it holds)
    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if m.split(".")[0] in PACKAGES}
    sys.path.insert(0, str(root))
    try:
        packages = [p for p in PACKAGES if (root / p / "__init__.py").exists()]
        return grimp.build_graph(*packages, cache_dir=None)
    finally:
        sys.path.remove(str(root))
        for m in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
            del sys.modules[m]
        sys.modules.update(saved)


def module_edges(graph) -> set[tuple[str, str]]:
    """Every (importer, imported) pair between two modules of the graph."""
    edges = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != module:
                edges.add((module, imported))
    return edges


def cycles(modules: set[str], edges: set[tuple[str, str]], *, ignore_parent_imports: bool = True) -> list[list[str]]:
    """Import cycles between modules: the strongly connected components with more than one module.

    Arguments:
        modules: the nodes.
        edges: (importer, imported) pairs.
        ignore_parent_imports: leave out imports of a module's own ancestor package (``from pipeline import
            __version__`` inside ``pipeline.sources.fetch``): Python runs the package's ``__init__`` first anyway, so
            such an import closes no cycle that could bite.

    Returns:
        Each component's modules, sorted; the components largest first.
    """
    succ: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        if ignore_parent_imports and a.startswith(b + "."):
            continue
        succ[a].append(b)
    # Tarjan's algorithm, iterative: the graph is small but recursion depth is not ours to choose.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(succ[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(succ[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out, key=lambda c: (-len(c), c))


def upward_imports(edges: set[tuple[str, str]], container: str, layers: list[Layer]) -> list[tuple[str, str, str]]:
    """Imports that break the layer order: (importer, imported, why).

    An import is upward when its target sits in a higher layer than its importer; sideways when both sit in one
    independent layer (``a | b``) under different members; ``flows`` imported from the library outside
    ``pipeline.cli`` counts too. Modules that no layer names are not judged.
    """
    out = []
    for a, b in sorted(edges):
        if b.split(".")[0] == "flows" and a.split(".")[0] == "pipeline" and not a.startswith("pipeline.cli"):
            out.append((a, b, "library imports flows"))
            continue
        ia, ib = layer_index(a, container, layers), layer_index(b, container, layers)
        if ia is None or ib is None:
            continue
        if ib < ia:
            out.append((a, b, "upward"))
        elif ia == ib and layers[ia].independent:
            ma = a[len(container) + 1 :].split(".")[0]
            mb = b[len(container) + 1 :].split(".")[0]
            if ma != mb:
                out.append((a, b, "between independent siblings"))
    return out


# --- ast: imports inside functions, duplicated blocks ------------------------------------------------------------


def function_imports(path: Path) -> list[tuple[str, int, bool]]:
    """Imports inside function bodies: (module imported, line, is it the project's own)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or "")]
            else:
                continue
            for name in names:
                own = name.startswith(".") or name.split(".")[0] in PACKAGES
                out.append((name, node.lineno, own))
    # a nested function's imports are found from both functions: count each statement once
    return sorted(set(out), key=lambda t: t[1])


def duplicate_blocks(files: dict[str, Path], min_lines: int = 6) -> tuple[int, int]:
    """Blocks of ``min_lines``+ consecutive code lines found more than once across the modules.

    Lines are stripped; blank lines, comments, docstrings and import statements are left out (they repeat by
    nature). Overlapping windows that repeat together are merged into one block.

    Returns:
        ``(groups, lines)``: the number of distinct repeated blocks, and how many code lines are copies (every
        occurrence after the first of each repeated window, windows merged).
    """
    streams: dict[str, list[str]] = {}
    for name, path in files.items():
        text = path.read_text(encoding="utf-8")
        # import statements (with their continuation lines) and docstrings are left out: they repeat by nature
        skip: set[int] = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            elif isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                        and isinstance(body[0].value.value, str):
                    skip.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
        lines = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if number in skip or not line or line.startswith("#"):
                continue
            lines.append(line)
        streams[name] = lines
    where: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for name, lines in streams.items():
        for i in range(len(lines) - min_lines + 1):
            key = hashlib.sha1("\n".join(lines[i : i + min_lines]).encode()).hexdigest()
            where[key].append((name, i))
    repeated = {k: v for k, v in where.items() if len(v) > 1}
    # a copy covers the lines of every occurrence after the first; merge windows per file into blocks
    copied: dict[str, set[int]] = defaultdict(set)
    starts: dict[str, set[int]] = defaultdict(set)
    for occurrences in repeated.values():
        for name, i in occurrences:
            starts[name].add(i)
        for name, i in occurrences[1:]:
            copied[name].update(range(i, i + min_lines))
    # a block is a maximal run of repeated windows: count a window only when the one before it did not repeat
    groups = sum(1 for occurrences in repeated.values() if occurrences[0][1] - 1 not in starts[occurrences[0][0]])
    return groups, sum(len(v) for v in copied.values())


# --- the report ---------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Every figure the report prints (``--json`` prints this)."""

    root: str
    rooms: dict[str, dict[str, int]]
    largest: list[tuple[str, int]]
    cycles: list[list[str]]
    upward: list[tuple[str, str, str]]
    unplaced: list[str]
    function_imports_own: dict[str, int]
    function_imports_third_party: int
    duplicates: dict[str, int] | None = None


def measure(root: Path, *, duplicates: bool = False, min_lines: int = 6, layers_from: Path | None = None) -> Report:
    """Measure the checkout at ``root``.

    Arguments:
        root: the repository's folder (with ``pipeline/`` and ``flows/``).
        layers_from: the checkout whose ``pyproject.toml`` holds the layers contract (default: ``root``); a tree
            from before the contract existed is judged against a later one this way.
        duplicates: also count duplicated blocks (slower).
        min_lines: the shortest block that counts as a duplicate.

    Returns:
        A :class:`Report`.
    """
    files = module_files(root)
    lines = {name: line_count(path) for name, path in files.items()}
    rooms: dict[str, dict[str, int]] = defaultdict(lambda: {"modules": 0, "lines": 0})
    for name, n in lines.items():
        rooms[room_of(name)]["modules"] += 1
        rooms[room_of(name)]["lines"] += n
    largest = sorted(lines.items(), key=lambda kv: (-kv[1], kv[0]))[:10]

    graph = build_graph(root)
    edges = module_edges(graph)
    container, layers = read_layers(layers_from or root)
    children = sorted({m.split(".")[1] for m in graph.modules if m.startswith(container + ".")})
    unplaced = [c for c in children if layer_index(f"{container}.{c}", container, layers) is None] if layers else []

    own: Counter[str] = Counter()
    third = 0
    for name, path in files.items():
        for _mod, _line, is_own in function_imports(path):
            if is_own:
                own[room_of(name)] += 1
            else:
                third += 1
    report = Report(
        root=str(root),
        rooms=dict(sorted(rooms.items())),
        largest=largest,
        cycles=cycles(set(graph.modules), edges),
        upward=upward_imports(edges, container, layers),
        unplaced=unplaced,
        function_imports_own=dict(sorted(own.items())),
        function_imports_third_party=third,
    )
    if duplicates:
        groups, copied = duplicate_blocks(files, min_lines)
        report.duplicates = {"groups": groups, "lines": copied, "min_lines": min_lines}
    return report


def render(report: Report) -> str:
    """The report as text for a terminal or a note."""
    out = [f"architecture of {report.root}", "", "modules and lines per room"]
    total_m = total_l = 0
    for room, v in report.rooms.items():
        out.append(f"  {room:<24} {v['modules']:>4} modules {v['lines']:>7} lines")
        total_m += v["modules"]
        total_l += v["lines"]
    out.append(f"  {'total':<24} {total_m:>4} modules {total_l:>7} lines")
    out += ["", "ten largest modules"]
    out += [f"  {n:>6}  {name}" for name, n in report.largest]
    out += ["", f"import cycles between modules: {len(report.cycles)}"]
    out += [f"  {len(c)} modules: {' <-> '.join(c)}" for c in report.cycles]
    ups = Counter(why for _a, _b, why in report.upward)
    summary = ", ".join(f"{n} {why}" for why, n in sorted(ups.items())) or "none"
    out += ["", f"imports against the layer order: {len(report.upward)} ({summary})"]
    out += [f"  {a} -> {b}  [{why}]" for a, b, why in report.upward]
    if report.unplaced:
        out.append(f"  not in any layer (not judged): {', '.join(report.unplaced)}")
    own = sum(report.function_imports_own.values())
    per_room = ", ".join(f"{room} {n}" for room, n in report.function_imports_own.items())
    out += ["", f"imports inside functions: {own} of the project's own modules ({per_room});"
            f" {report.function_imports_third_party} of third-party modules"]
    if report.duplicates is not None:
        d = report.duplicates
        out += ["", f"duplicated blocks (>= {d['min_lines']} code lines): {d['groups']} groups,"
                f" {d['lines']} repeated lines"]
    return "\n".join(out)


# --- LAYOUT.md ----------------------------------------------------------------------------------------------------


def layout_markdown(root: Path = REPO) -> str:
    """The generated table of ``pipeline/LAYOUT.md``: rooms and modules with their docstrings' first lines, by layer.

    Arguments:
        root: the repository's folder.

    Returns:
        Markdown: one section per layer of the ``layers`` contract (top first), one row per room (its
        ``__init__.py``'s first docstring line) followed by a row per module in it; a last section for what no
        layer names.
    """
    files = module_files(root)
    container, layers = read_layers(root)
    top = {name.split(".")[1] for name in files if name.startswith(container + ".") and name != container}
    groups: list[tuple[str, list[str]]] = []
    placed: set[str] = set()
    for i, layer in enumerate(layers):
        members = [m for m in layer.members if m in top]
        if not members:
            continue
        kind = "independent of each other" if layer.independent and len(members) > 1 else ""
        title = f"Layer {i + 1}: " + ", ".join(f"`{m}`" for m in members) + (f" ({kind})" if kind else "")
        groups.append((title, members))
        placed.update(members)
    rest = sorted(top - placed)
    if rest:
        groups.append(("Not in a layer", rest))

    out = []
    for title, members in groups:
        out += [f"### {title}", "", "| module | what it is |", "| --- | --- |"]
        for member in members:
            prefix = f"{container}.{member}"
            mods = sorted(n for n in files if n == prefix or n.startswith(prefix + "."))
            for name in mods:
                path = files[name]
                rel = path.relative_to(root / container).as_posix()
                shown = rel.removesuffix("/__init__.py") + "/" if path.name == "__init__.py" else rel
                doc = first_docstring_line(path).replace("|", "\\|") or "(no docstring)"
                out.append(f"| `{shown}` | {doc} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="a checkout of clipwatch (default: this one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--duplicates", action="store_true", help="also count duplicated blocks of code")
    parser.add_argument("--min-lines", type=int, default=6, help="shortest duplicated block counted (default 6)")
    parser.add_argument("--layout", action="store_true", help="print the generated part of pipeline/LAYOUT.md")
    parser.add_argument("--layers-from", type=Path, default=None,
                        help="judge upward imports by this checkout's layers contract (default: --root's, else this one's)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "pipeline" / "__init__.py").exists():
        print(f"error: {root} has no pipeline/ package: pass --root a clipwatch checkout", file=sys.stderr)
        return 2
    if args.layout:
        sys.stdout.write(layout_markdown(root))
        return 0
    layers_from = args.layers_from
    if layers_from is None and not read_layers(root)[1]:
        layers_from = REPO  # a checkout from before the contract: judge it by this one's
    report = measure(root, duplicates=args.duplicates, min_lines=args.min_lines, layers_from=layers_from)
    print(json.dumps(asdict(report), indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
