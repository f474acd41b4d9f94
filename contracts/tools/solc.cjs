#!/usr/bin/env node
// forge's solc: npm's JavaScript build of solc behind the two calls forge makes.
//   --version          -> "Version: <version>"
//   --standard-json    -> compile stdin, resolving imports against --base-path / --include-path
// (forge downloads native compilers from outside the package registries, which CI cannot reach)
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('tools/solc.cjs only supports --version and --standard-json\n');
  process.exit(2);
}
let basePath = process.cwd();
const roots = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--base-path') basePath = args[++i];
  else if (args[i] === '--include-path') roots.push(args[++i]);
  else if (args[i] === '--allow-paths') i++;
}
roots.unshift(basePath);
roots.push(process.cwd());
function findImports(p) {
  for (const root of roots) {
    const full = path.isAbsolute(p) ? p : path.resolve(root, p);
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, 'utf8') };
  }
  return { error: `file not found: ${p} (searched ${roots.join(', ')})` };
}
const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
