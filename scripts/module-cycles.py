#!/usr/bin/env python3
"""Prints each cycle between the top-level modules of a crate, one line a cycle:
"<src folder> a <-> b". A module's edges are the `crate::x` paths its code names (grouped
`use crate::{x, y::z}` included; tests and comments excluded). Usage: module-cycles.py SRC...
Exits 2 when a folder cannot be read, so that a caller never reads an error as "no cycles"."""
import os
import re
import sys


def edges(src):
    graph = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            top = os.path.relpath(path, src).split(os.sep)[0]
            top = top[:-3] if top.endswith(".rs") else top
            if top in ("lib", "main"):
                continue  # the crate root declares every module: not an edge
            with open(path, encoding="utf-8") as f:
                text = f.read().split("\n#[cfg(test)]")[0]
            text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
            refs = set(re.findall(r"\bcrate::(\w+)", text))
            for group in re.findall(r"\bcrate::\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", text):
                # Only the group's first level names modules of the crate.
                flat = re.sub(r"\{[^{}]*\}", "", group)
                refs |= set(re.findall(r"(?:^|,)\s*(\w+)", flat))
            graph.setdefault(top, set()).update(r for r in refs if r != top)
    return {m: {r for r in refs if r in graph} for m, refs in graph.items()}


def cycles(graph):
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    if len(sys.argv) < 2:
        print("usage: module-cycles.py SRC...", file=sys.stderr)
        return 2
    for src in sys.argv[1:]:
        if not os.path.isdir(src):
            print(f"{src}: not a folder", file=sys.stderr)
            return 2
        for component in cycles(edges(src)):
            print(f"{src} {' <-> '.join(component)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
