#!/usr/bin/env python3
"""Import circles in the workspace: the crate graph (from Cargo.toml, normal
dependencies) and, inside each crate, the graph of modules that name each
other (`use crate::a::b`, `crate::a::f()`, `super::b::…`). An edge between a
module and one of its ancestors is not counted (a parent declares its
children and children use their parent's items; that is nesting, not a
circle). Prints every strongly connected component of more than one node and
exits 1 if there is any; prints the edge counts otherwise.

    scripts/import-cycles.py [--dot]    # --dot: the module graph in Graphviz form
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def crates():
    for manifest in sorted(ROOT.glob("crates/*/Cargo.toml")) + [ROOT / "tests/Cargo.toml"]:
        if manifest.exists():
            yield manifest.parent


def normal_deps(manifest: Path):
    text = manifest.read_text()
    name = re.search(r'^name\s*=\s*"([^"]+)"', text, re.M).group(1)
    deps, section = set(), None
    for line in text.splitlines():
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            section = header.group(1)
            continue
        if section == "dependencies":
            m = re.match(r"^(dorafleet[\w-]*)", line)
            if m:
                deps.add(m.group(1))
    return name, deps


def module_of(src: Path, file: Path):
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def cfg_test_free(text: str) -> str:
    """Drop `#[cfg(test)] mod tests { … }` blocks: test code may use anything."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def module_edges(src: Path):
    modules = {module_of(src, f): f for f in src.rglob("*.rs")}
    edges = set()
    for module, file in modules.items():
        text = cfg_test_free(strip_comments(file.read_text()))
        for m in re.finditer(r"\b(crate|super)((?:::\w+)+)", text):
            path = m.group(2).strip(":").split("::")
            if m.group(1) == "crate":
                base = ()
            else:
                # `super` in a/b.rs (module a::b) is a; in a/mod.rs (module a), the root.
                base = module[:-1]
            target = base + tuple(path)
            # the longest prefix that is a module
            while target and target not in modules:
                target = target[:-1]
            if target == module or not target and not modules.get(()):
                continue
            if target[: len(module)] == module or module[: len(target)] == target:
                continue  # ancestor or descendant: nesting, not a circle
            edges.add((module, target))
    return modules, edges


def components(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    graph = {n: [b for a, b in edges if a == n] for n in nodes}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for n in nodes:
        if n not in index:
            visit(n)
    return [c for c in out if len(c) > 1]


def main():
    dot = "--dot" in sys.argv
    circles = 0
    names, crate_edges = set(), set()
    for crate in crates():
        name, deps = normal_deps(crate / "Cargo.toml")
        names.add(name)
        crate_edges |= {(name, d) for d in deps}
    for comp in components(sorted(names), crate_edges):
        circles += 1
        print("crate circle:", " -> ".join(comp))
    total = 0
    if dot:
        print("digraph modules {")
    for crate in crates():
        src = crate / "src"
        if not src.exists():
            continue
        modules, edges = module_edges(src)
        total += len(edges)
        for comp in components(sorted(modules), edges):
            circles += 1
            print(f"module circle in {crate.name}:", " <-> ".join("::".join(m) or "crate" for m in comp))
        if dot:
            for a, b in sorted(edges):
                print(f'  "{crate.name}::{"::".join(a)}" -> "{crate.name}::{"::".join(b)}";')
    if dot:
        print("}")
        return 0
    if circles:
        return 1
    print(f"no import circle: {len(names)} crates, {len(crate_edges)} crate edges, {total} module edges")
    return 0


if __name__ == "__main__":
    sys.exit(main())
