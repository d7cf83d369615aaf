#!/usr/bin/env python3
"""Import circles between the source files of the workspace's crates.

"No module imports from a module that depends on it": a file that names an item of another
file (`use crate::a::b`, `super::x`, `child::f()`) depends on it, and the files of a crate
must form no circle. A parent module declaring `mod child;` is not a dependency; a parent
calling into its child is, and then the child must not reach back up through `super::`.
Inline `mod tests { ... }` blocks are read as part of their file (their `super::` is the file
itself).

Usage: scripts/import-cycles.py [CRATE_SRC_DIR...]  (default: every crate's src/ in the
workspace). Exit 1 with each circle listed, 0 when there is none.
"""
import os
import re
import sys

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'', re.S)
USE = re.compile(r"\buse\s+([^;]+);")
PATH = re.compile(r"(?<![\w:])((?:crate|super|self|[a-z_][a-z0-9_]*)(?:::(?:[A-Za-z_][A-Za-z0-9_]*|\{))+)")
MOD_BLOCK = re.compile(r"\bmod\s+([a-z_][a-z0-9_]*)\s*\{")


def strip(text):
    text = COMMENT.sub(" ", text)
    return STRING.sub('""', text)


def expand(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, s):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:i])
                start = i + 1
        parts.append(s[start:])
        for p in parts:
            if not p:
                continue
            brace = p.find("{")
            if brace >= 0 and p.endswith("}"):
                head = p[:brace].rstrip(":")
                walk(prefix + ([head] if head else []), p[brace + 1 : -1])
            else:
                p = re.sub(r"\bas\b.*$", "", p)
                out.append("::".join(prefix + [p]))

    walk([], tree)
    return out


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path tuple -> file
        for root, _, names in os.walk(src):
            for n in names:
                if not n.endswith(".rs"):
                    continue
                f = os.path.join(root, n)
                rel = os.path.relpath(f, src)[:-3].split(os.sep)
                if rel in (["lib"], ["main"]):
                    mod = ()
                elif rel[-1] == "mod":
                    mod = tuple(rel[:-1])
                else:
                    mod = tuple(rel)
                if rel == ["main"] and () in self.files:
                    continue  # the binary is its own crate root; lib.rs wins
                if rel[0] == "bin":
                    continue
                self.files.setdefault(mod, f)

    def file_of(self, path):
        """The deepest module file a full path (tuple) points into."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.files:
                return self.files[path[:n]]
        return None

    def children(self, mod):
        return {m[-1] for m in self.files if len(m) == len(mod) + 1 and m[:-1] == mod}

    def resolve(self, mod, path):
        segs = [s for s in path.split("::") if s and s != "*" and s != "{"]
        if not segs:
            return None
        if segs[0] == "crate":
            return tuple(segs[1:])
        base = list(mod)
        if segs[0] in ("self", "super"):
            while segs and segs[0] in ("self", "super"):
                if segs[0] == "super":
                    if not base:
                        return None
                    base.pop()
                segs = segs[1:]
            return tuple(base + segs)
        if segs[0] in self.children(mod):
            return tuple(base + segs)
        return None

    def edges(self):
        graph = {f: set() for f in self.files.values()}
        for mod, f in self.files.items():
            text = strip(open(f, encoding="utf-8").read())
            # Inline module blocks shift what `super::` and `self::` mean inside them.
            spans = []
            for m in MOD_BLOCK.finditer(text):
                depth, i = 0, m.end() - 1
                while i < len(text):
                    if text[i] == "{":
                        depth += 1
                    elif text[i] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    i += 1
                spans.append((m.end(), i, m.group(1)))

            def module_at(pos):
                inner = [name for (a, b, name) in spans if a <= pos <= b]
                return mod + tuple(inner)

            paths = []
            for m in USE.finditer(text):
                for p in expand(m.group(1)):
                    paths.append((m.start(), p))
            for m in PATH.finditer(text):
                if not text[max(0, m.start() - 4) : m.start()].strip().endswith("use"):
                    paths.append((m.start(), m.group(1)))
            for pos, p in paths:
                at = module_at(pos)
                target = self.resolve(at, p)
                if target is None:
                    continue
                g = self.file_of(target)
                if g and g != f:
                    graph[f].add(g)
        return graph


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

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
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    srcs = argv or sorted(
        os.path.join(root, d, "src")
        for d in os.listdir(root)
        if os.path.isfile(os.path.join(root, d, "Cargo.toml")) and os.path.isdir(os.path.join(root, d, "src"))
    )
    found = 0
    for src in srcs:
        crate = Crate(os.path.abspath(src))
        graph = crate.edges()
        for comp in cycles(graph):
            found += 1
            names = [os.path.relpath(f, root) for f in comp]
            print(f"import circle ({len(comp)} files):")
            for n in names:
                f = os.path.join(root, n)
                deps = sorted(os.path.relpath(g, root) for g in graph[f] if g in comp)
                print(f"  {n} -> {', '.join(deps)}")
    if found:
        print(f"{found} import circle(s); a file must not import from a file that depends on it")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
