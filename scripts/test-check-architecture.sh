#!/usr/bin/env bash
# The architecture check must fail when the tools it relies on fail: run it with a cargo or a python
# that always fails and with a folder it greps gone, and expect FAIL (never "ok") from every check
# that uses them.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

broken=$(mktemp -d); trap 'rm -rf "$broken"' EXIT
printf '#!/bin/sh\necho "error: broken cargo (test-check-architecture.sh)" >&2\nexit 101\n' >"$broken/cargo"
chmod +x "$broken/cargo"

rc=0; out=$(CARGO="$broken/cargo" scripts/check-architecture.sh 2>&1) || rc=$?
cargo_based='^  (gpu-engine depends|gridmint-protocol depends|gridmint-home depends|gridmint-runner: no chain|gridmint-peer: no store|the window: protocol|only src-tauri|the agent \(the tray|ui depends|protocol and ui build)'
cargo_checks=$(grep -cE "$cargo_based" <<<"$out" || true)
cargo_fails=$(grep -E "$cargo_based" <<<"$out" | grep -c 'FAIL$' || true)
if [ "$rc" -ne 0 ] && [ "$cargo_checks" -eq 10 ] && [ "$cargo_fails" -eq 10 ]; then
  echo "  with a failing cargo: exit $rc, 10 of 10 cargo-based checks FAIL                 ok"
else
  echo "  with a failing cargo: exit $rc, $cargo_fails of $cargo_checks cargo-based checks FAIL   FAIL"; echo "$out" | sed 's/^/    /'; fail=1
fi

# A failing python: the module-cycle check FAILs.
printf '#!/bin/sh\necho "error: broken python (test-check-architecture.sh)" >&2\nexit 1\n' >"$broken/python"
chmod +x "$broken/python"
rc=0; out=$(CARGO="$broken/cargo" PYTHON="$broken/python" scripts/check-architecture.sh 2>&1) || rc=$?
if [ "$rc" -ne 0 ] && grep -qE '^  no cycle between the modules of a crate +FAIL$' <<<"$out"; then
  echo "  with a failing python: the module-cycle check FAILs                            ok"
else
  echo "  with a failing python: no FAIL from the module-cycle check                     FAIL"; echo "$out" | sed 's/^/    /'; fail=1
fi

# The cycle finder finds one: a crate whose modules a and b import each other (b through c).
crate=$(mktemp -d); trap 'rm -rf "$broken" "$crate"' EXIT
mkdir -p "$crate/src/c"
printf 'mod a;\nmod b;\nmod c;\n' >"$crate/src/lib.rs"
printf 'use crate::{b::B, d};\npub struct A;\n' >"$crate/src/a.rs"
printf 'pub struct B;\nfn f() -> crate::c::C { todo!() }\n' >"$crate/src/b.rs"
printf 'pub struct C;\n// use crate::b;\n' >"$crate/src/c/mod.rs"
printf 'use super::super::a;\nuse crate::{\n    a::A,\n};\n' >"$crate/src/c/inner.rs"
if [ "$(python3 scripts/module-cycles.py "$crate/src")" = "$crate/src a <-> b <-> c" ]; then
  echo "  the cycle finder reports a -> b -> c -> a as one cycle                        ok"
else
  echo "  the cycle finder missed a -> b -> c -> a: $(python3 scripts/module-cycles.py "$crate/src")   FAIL"; fail=1
fi

# A folder the grep checks read is missing: a copy of the tree without src-tauri/src.
copy=$(mktemp -d); trap 'rm -rf "$broken" "$crate" "$copy"' EXIT
mkdir -p "$copy/scripts"; cp scripts/check-architecture.sh "$copy/scripts/"
rc=0; out=$(CARGO="$broken/cargo" "$copy/scripts/check-architecture.sh" 2>&1) || rc=$?
if [ "$rc" -ne 0 ] && grep -qE '^  the window talks to the network only through the agent +FAIL$' <<<"$out"; then
  echo "  with a folder missing: the grep check on it FAILs                              ok"
else
  echo "  with a folder missing: no FAIL for the missing src-tauri/src                   FAIL"; echo "$out" | sed 's/^/    /'; fail=1
fi
exit $fail
