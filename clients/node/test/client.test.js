'use strict';
// The Node client against the helper's built-in emulator (node:test, Node >= 18).
//
// .ci/client-packages copies this file into a fresh project where only the npm tarballs were
// installed and runs it there with BSN_TEST_INSTALLED=1: the module then comes from
// node_modules/bsn-credential-helper and the binary from @bsn-credential-helper/<platform>,
// and nothing else is on PATH. From a checkout, without BSN_TEST_INSTALLED, run
//   BSN_TEST_CLIENT=$PWD/clients/node/index.js BSN_CREDENTIAL_HELPER=$PWD/target/release/bsn-credential-helper \
//     node --test clients/node/test/
// and the install checks are skipped.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const INSTALLED = process.env.BSN_TEST_INSTALLED === '1';
const CLIENT = process.env.BSN_TEST_CLIENT || 'bsn-credential-helper';
const bsn = require(CLIENT);
const { CredentialHelperError, getToken, getTokenResponse, request } = bsn;

const KEEP = new Set(['BSN_CREDENTIAL_HELPER', 'BSN_TEST_INSTALLED', 'BSN_TEST_CLIENT']);
for (const k of Object.keys(process.env)) {
  if ((k.startsWith('BSN_') || k.startsWith('BS_')) && !KEEP.has(k)) delete process.env[k];
}

class Emulator {
  static async start(binary, port = 0) {
    const emu = new Emulator();
    emu.binary = binary;
    emu.proc = spawn(binary, ['emulator', '--port', String(port)], { stdio: ['ignore', 'pipe', 'ignore'] });
    const lines = readline.createInterface({ input: emu.proc.stdout });
    const first = await new Promise((resolve, reject) => {
      lines.once('line', resolve);
      emu.proc.once('exit', (code) => reject(new Error(`the emulator exited (${code})`)));
    });
    lines.on('line', () => {});
    const m = /^BSN\.cloud emulator listening on (\S+)/.exec(first);
    if (!m) throw new Error(`the emulator did not start: ${first}`);
    emu.base = m[1];
    emu.port = Number(new URL(emu.base).port);
    emu.tokenUrl = `${emu.base}/realms/bsncloud/protocol/openid-connect/token`;
    return emu;
  }

  async stats() {
    return (await fetch(`${this.base}/stats`)).json();
  }

  async inject(fault) {
    const res = await fetch(`${this.base}/admin/faults`, {
      method: 'POST', body: JSON.stringify(fault), headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 200, await res.text());
  }

  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

/** A fresh cache dir and HOME, an emulator, and the client-credentials variables. */
async function setup(t) {
  const saved = { ...process.env };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bsn-node-test.'));
  Object.assign(process.env, {
    HOME: tmp, XDG_CONFIG_HOME: path.join(tmp, 'config'), BSN_CACHE_DIR: path.join(tmp, 'cache'),
  });
  const ctx = { tmp, binary: bsn.findBinary() };
  ctx.configure = (emu) => Object.assign(process.env, {
    BSN_TOKEN_URL: emu.tokenUrl, BSN_API_URL: emu.base,
    BSN_CLIENT_ID: 'demo-client', BSN_CLIENT_SECRET: 'demo-secret', BSN_NETWORK: 'Demo',
  });
  ctx.emu = await Emulator.start(ctx.binary);
  ctx.configure(ctx.emu);
  ctx.restartEmulator = async () => {
    const { port } = ctx.emu;
    await ctx.emu.stop();
    ctx.emu = await Emulator.start(ctx.binary, port);
    ctx.configure(ctx.emu);
  };
  ctx.fakeHelper = (script) => {
    const file = path.join(tmp, 'fake-helper');
    fs.writeFileSync(file, `#!/bin/sh\n${script}\n`, { mode: 0o700 });
    return file;
  };
  t.after(async () => {
    await ctx.emu.stop();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  return ctx;
}

async function rejects(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof CredentialHelperError, `${e}`);
    return e;
  }
  throw new assert.AssertionError({ message: 'expected a CredentialHelperError' });
}

test('installed: module from node_modules, binary from the platform package', { skip: !INSTALLED && 'BSN_TEST_INSTALLED=1 is not set' }, async (t) => {
  const ctx = await setup(t);
  assert.equal(process.env.BSN_CREDENTIAL_HELPER, undefined);
  const root = path.join(process.cwd(), 'node_modules');
  assert.equal(require.resolve('bsn-credential-helper'), path.join(root, 'bsn-credential-helper', 'index.js'));
  const pkg = bsn.platformPackage();
  assert.equal(pkg, `@bsn-credential-helper/${process.platform}-${process.arch}`);
  assert.equal(ctx.binary, path.join(root, pkg, 'bin', 'bsn-credential-helper'));
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    assert.ok(!fs.existsSync(path.join(dir, 'bsn-credential-helper')), `a helper on PATH in ${dir}`);
  }
  const { version } = require('bsn-credential-helper/package.json');
  const out = spawnSync(ctx.binary, ['--version'], { encoding: 'utf8' });
  assert.ok(out.stdout.startsWith(`bsn-credential-helper ${version} (`), out.stdout);
  const platformVersion = require(`${pkg}/package.json`).version;
  assert.equal(platformVersion, version);
});

test('installed: the ES module entry is the same client; the npx shim runs the binary', { skip: !INSTALLED && 'BSN_TEST_INSTALLED=1 is not set' }, async (t) => {
  await setup(t);
  const esm = await import('bsn-credential-helper');
  assert.equal(esm.CredentialHelperError, CredentialHelperError);
  assert.equal(esm.default.getToken, getToken);
  const token = await esm.getToken();
  const shim = path.join(process.cwd(), 'node_modules', '.bin', 'bsn-credential-helper');
  const out = spawnSync(process.execPath, [shim, 'token'], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  assert.equal(out.stdout.trim(), token);
  const failed = spawnSync(process.execPath, [shim, '--profile', 'no-such-profile', 'token'], { encoding: 'utf8' });
  assert.equal(failed.status, 3, failed.stderr);
});

test('installed: a platform without a package gets an error naming it', { skip: !INSTALLED && 'BSN_TEST_INSTALLED=1 is not set' }, () => {
  const script = `
    Object.defineProperty(process, 'arch', { value: 's390x' });
    require('bsn-credential-helper').getToken().then(
      () => { console.log('unexpected token'); process.exit(1); },
      (e) => { console.log(JSON.stringify({ code: e.code, message: e.message })); });`;
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: process.cwd() });
  assert.equal(out.status, 0, out.stdout + out.stderr);
  const e = JSON.parse(out.stdout);
  assert.equal(e.code, 'not_installed');
  assert.match(e.message, /@bsn-credential-helper\/linux-s390x is not installed/);
  assert.match(e.message, /no package for linux-s390x \(packages exist for linux-x64, /);
});

test('one login, then the cache', async (t) => {
  const ctx = await setup(t);
  const first = await getTokenResponse();
  assert.equal(first.source, 'login');
  assert.equal(first.network, 'Demo');
  const second = await getTokenResponse({ minTtl: 30 });
  assert.equal(second.source, 'cache');
  assert.equal(second.access_token, first.access_token);
  assert.equal(await getToken(), first.access_token);
  const stats = await ctx.emu.stats();
  assert.equal(stats.token_requests.client_credentials, 1, JSON.stringify(stats));
});

test('request retries once after a 401, reporting the rejected token', async (t) => {
  const ctx = await setup(t);
  const url = () => `${ctx.emu.base}/2022/06/REST/Self/Session`;
  let res = await request('GET', url());
  assert.equal(res.status, 200);
  assert.equal(res.retried, false);
  assert.equal((await res.json()).network.name, 'Demo');
  const before = await getToken();

  await ctx.restartEmulator(); // forgets every token: the cached one now gets 401
  res = await request('GET', url());
  assert.equal(res.status, 200);
  assert.equal(res.retried, true);
  await res.arrayBuffer();
  const after = await getToken();
  assert.notEqual(after, before);
  const stats = await ctx.emu.stats();
  assert.equal(stats.api_unauthorized, 1, JSON.stringify(stats));
  assert.equal(stats.token_requests.client_credentials, 1, JSON.stringify(stats));
  assert.equal(await getToken({ rejectedToken: before }), after);
});

test('error codes and exit statuses', async (t) => {
  const ctx = await setup(t);
  let e = await rejects(getToken({ profile: 'no-such-profile' }));
  assert.deepEqual([e.code, e.exitStatus], ['config', 3], e.message);

  process.env.BSN_CLIENT_SECRET = 'wrong-secret';
  e = await rejects(getToken());
  assert.deepEqual([e.code, e.exitStatus], ['invalid_credentials', 4], e.message);
  assert.ok(!e.message.includes('wrong-secret'));

  process.env.BSN_CLIENT_SECRET = 'demo-secret';
  await ctx.emu.stop(); // nothing listens on the token URL's port any more
  e = await rejects(getToken());
  assert.deepEqual([e.code, e.exitStatus], ['network', 6], e.message);

  process.env.BSN_CREDENTIAL_HELPER = path.join(ctx.tmp, 'no-such-binary');
  e = await rejects(getToken());
  assert.equal(e.code, 'not_installed', e.message);
  assert.equal(e.exitStatus, null);

  process.env.BSN_CREDENTIAL_HELPER = ctx.fakeHelper('echo oops >&2; exit 1');
  e = await rejects(getToken());
  assert.deepEqual([e.code, e.exitStatus], ['internal', 1], e.message);
  assert.match(e.message, /oops/);
});

// The client's timeout lands while the helper waits for a slow token endpoint: the helper gets
// SIGTERM, which it holds until the rotated refresh token is written, so the next renewal uses
// the new refresh token. (Killing it outright loses the rotated token: the next refresh
// presents the spent one.)
test('a timeout mid-refresh presents no refresh token twice', async (t) => {
  const ctx = await setup(t);
  Object.assign(process.env, {
    BSN_GRANT: 'password', BSN_USERNAME: 'demo@example.com', BSN_PASSWORD: 'demo-password',
  });
  assert.equal((await getTokenResponse()).source, 'login');
  const rounds = [600, 1000, 1400];
  for (const delayMs of rounds) {
    await ctx.emu.inject({ kind: 'slow', delay_ms: delayMs });
    const started = Date.now();
    const e = await rejects(getToken({ forceRefresh: true, timeoutMs: 250 }));
    const elapsed = Date.now() - started;
    assert.equal(e.code, 'timeout', e.message);
    // The helper exits once the refresh is saved, well within the grace period.
    assert.ok(elapsed < delayMs + 1000, `delay ${delayMs} ms: took ${elapsed} ms`);
    const renewed = await getTokenResponse({ forceRefresh: true });
    const stats = await ctx.emu.stats();
    assert.equal(stats.refresh_tokens_reused, 0, JSON.stringify(stats));
    assert.equal(renewed.source, 'refresh', JSON.stringify(renewed));
  }
  const stats = await ctx.emu.stats();
  assert.equal(stats.refresh_tokens_reused, 0, JSON.stringify(stats));
  assert.equal(stats.sessions_ended_by_reuse, 0, JSON.stringify(stats));
  assert.equal(stats.token_requests.password, 1, JSON.stringify(stats));
  assert.equal(stats.token_requests.refresh_token, 2 * rounds.length, JSON.stringify(stats));
});

test('a timeout kills a helper that ignores SIGTERM after the grace period', async (t) => {
  const ctx = await setup(t);
  const pidfile = path.join(ctx.tmp, 'pid');
  process.env.BSN_CREDENTIAL_HELPER = ctx.fakeHelper(`echo $$ > '${pidfile}'; trap '' TERM; exec sleep 30`);
  const started = Date.now();
  const e = await rejects(getTokenResponse({ timeoutMs: 300, terminateGraceMs: 500 }));
  const elapsed = Date.now() - started;
  assert.equal(e.code, 'timeout');
  assert.ok(elapsed >= 750, `SIGTERM was ignored, so the grace was waited (${elapsed} ms)`);
  assert.ok(elapsed < 3000, `${elapsed} ms`);
  const pid = Number(fs.readFileSync(pidfile, 'utf8'));
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
});

test('the default grace is two seconds', () => {
  assert.equal(bsn.TERMINATE_GRACE_MS, 2000);
});
