#!/usr/bin/env node
// Fails when a deployed contract's runtime code is not at least MARGIN bytes under the EIP-170
// limit (24,576 bytes), or its initcode over the EIP-3860 limit: room for the next feature is
// kept, not found missing. Input: `forge build --sizes --json` on stdin (forge exits 0 either way).
'use strict';
const DEPLOYED = ['Gridmint', 'GridmintExtension', 'GridmintCourt', 'GridToken', 'MockStablecoin'];
const MARGIN = 3000;
const sizes = JSON.parse(require('fs').readFileSync(0, 'utf8'));
let failed = false;
for (const name of DEPLOYED) {
  const s = sizes[name];
  if (!s) { console.error(`size check: no ${name} in forge's output`); failed = true; continue; }
  const ok = s.runtime_margin >= MARGIN && s.init_margin >= 0;
  const verdict = ok ? 'ok' : (s.runtime_margin < 0 || s.init_margin < 0 ? 'OVER THE LIMIT' : `UNDER ${MARGIN} BYTES OF MARGIN`);
  console.log(`  ${name.padEnd(18)} runtime ${s.runtime_size} B (margin ${s.runtime_margin}), initcode ${s.init_size} B (margin ${s.init_margin}) ${verdict}`);
  if (!ok) failed = true;
}
process.exit(failed ? 1 : 0);
