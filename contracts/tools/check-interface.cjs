#!/usr/bin/env node
// Fails unless IGridmint (what clients bind) declares exactly the functions that Gridmint and
// GridmintExtension implement at the market's address (with GridmintCourt, which the extension
// delegates to), and every event and error they can emit:
// a function added to either contract and not to the interface (or the other way round) is
// found here, not by a client. Reads the artifacts under out/ (run after `forge build`).
'use strict';
const fs = require('fs');
const path = require('path');
const out = path.join(__dirname, '..', 'out');
const abi = (file, name) => JSON.parse(fs.readFileSync(path.join(out, file, `${name}.json`), 'utf8')).abi;
const sig = (e) => `${e.type} ${e.name}(${(e.inputs || []).map((i) => i.type).join(',')})`;
const set = (entries, types) => new Set(entries.filter((e) => types.includes(e.type)).map(sig));
const iface = abi('IGridmint.sol', 'IGridmint');
const market = abi('Gridmint.sol', 'Gridmint');
const extension = abi('GridmintExtension.sol', 'GridmintExtension');
const court = abi('GridmintCourt.sol', 'GridmintCourt');
let failed = false;
const compare = (what, declared, implemented) => {
  const missing = [...implemented].filter((s) => !declared.has(s));
  const extra = [...declared].filter((s) => !implemented.has(s));
  if (missing.length || extra.length) {
    failed = true;
    console.error(`interface check (${what}): not in IGridmint: ${missing.join('; ') || '-'}; in IGridmint only: ${extra.join('; ') || '-'}`);
  }
  console.log(`  IGridmint ${what.padEnd(9)} ${declared.size} declared, ${implemented.size} implemented ${missing.length || extra.length ? 'DIFFER' : 'ok'}`);
};
const both = [...market, ...extension, ...court];
compare('functions', set(iface, ['function']), set(both, ['function']));
// Events and errors: the interface declares every one; each contract emits a subset.
compare('events', set(iface, ['event']), new Set([...set(both, ['event']), ...set(iface, ['event'])]));
compare('errors', set(iface, ['error']), new Set([...set(both, ['error']), ...set(iface, ['error'])]));
const undeclared = [...set(both, ['event', 'error'])].filter((s) => !set(iface, ['event', 'error']).has(s));
if (undeclared.length) { failed = true; console.error(`interface check: emitted but not declared: ${undeclared.join('; ')}`); }
// Both halves must not both implement one selector: the market's would shadow the extension's.
const twice = [
  ...[...set(market, ['function'])].filter((s) => set(extension, ['function']).has(s) || set(court, ['function']).has(s)),
  ...[...set(extension, ['function'])].filter((s) => set(court, ['function']).has(s)),
];
if (twice.length) { failed = true; console.error(`interface check: implemented by both contracts: ${twice.join('; ')}`); }
// The hot path of a job's life is never delegated: each of these is the market's own.
const HOT = ['postJob', 'claim', 'selectReplicas', 'commit', 'commitSigned', 'reveal', 'revealBatch', 'challenge', 'finalize', 'withdraw'];
const own = new Set(market.filter((e) => e.type === 'function').map((e) => e.name));
const delegated = HOT.filter((name) => !own.has(name));
if (delegated.length) { failed = true; console.error(`interface check: hot-path calls not in Gridmint itself: ${delegated.join(', ')}`); }
console.log(`  hot path  ${HOT.length - delegated.length} of ${HOT.length} calls in Gridmint itself ${delegated.length ? 'FAIL' : 'ok'}`);
process.exit(failed ? 1 : 0);
