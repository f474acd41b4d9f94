#!/usr/bin/env node
// Fails when a deployed contract passes the EIP-170 / EIP-3860 size limits.
// Input: `forge build --sizes --json` on stdin. (forge itself exits 0 either way.)
'use strict';
const DEPLOYED = ['Gridmint', 'GridToken', 'MockStablecoin'];
const sizes = JSON.parse(require('fs').readFileSync(0, 'utf8'));
let failed = false;
for (const name of DEPLOYED) {
  const s = sizes[name];
  if (!s) { console.error(`size check: no ${name} in forge's output`); failed = true; continue; }
  const ok = s.runtime_margin >= 0 && s.init_margin >= 0;
  console.log(`  ${name.padEnd(16)} runtime ${s.runtime_size} B (margin ${s.runtime_margin}), initcode ${s.init_size} B ${ok ? 'ok' : 'OVER THE LIMIT'}`);
  if (!ok) failed = true;
}
process.exit(failed ? 1 : 0);
