#!/usr/bin/env node
'use strict';
// `npx bsn-credential-helper ARGS…` (and `bsn-credential-helper` in npm scripts): runs the
// binary the module uses (findBinary()) with ARGS, passing stdin, stdout, stderr and the exit
// status through.
const { spawnSync } = require('node:child_process');
const { CredentialHelperError, findBinary } = require('..');

let file;
try {
  file = findBinary();
} catch (e) {
  if (!(e instanceof CredentialHelperError)) throw e;
  process.stderr.write(`bsn-credential-helper: error: ${e.message}\n`);
  process.exit(127);
}
const result = spawnSync(file, process.argv.slice(2), { stdio: 'inherit', windowsHide: true });
if (result.error) {
  process.stderr.write(`bsn-credential-helper: error: cannot run ${file}: ${result.error.message}\n`);
  process.exit(127);
}
if (result.signal) process.kill(process.pid, result.signal);
process.exit(result.status == null ? 1 : result.status);
