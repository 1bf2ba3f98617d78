'use strict';
/**
 * BSN.cloud access tokens from bsn-credential-helper, for Node.js >= 18 (no dependencies).
 *
 * `npm install bsn-credential-helper` brings this module and the helper binary (from the
 * optional dependency for this platform, e.g. @bsn-credential-helper/linux-x64). It runs the
 * helper with a protocol v1 request on stdin (see protocol.md), so every process on the
 * machine shares one cached token and one refresh.
 *
 *   const bsn = require('bsn-credential-helper');     // or: import * as bsn from '…'
 *   const token = await bsn.getToken();               // valid for at least minTtl seconds
 *   const res = await bsn.request('GET', 'https://api.bsn.cloud/2022/06/REST/Self/Session');
 *   console.log(res.status, await res.json());
 *
 * The binary is $BSN_CREDENTIAL_HELPER, else this platform's package's, else
 * `bsn-credential-helper` on PATH; see findBinary().
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const DEFAULT_ACCEPT = 'application/json, application/vnd.bsn.error+json';
const BINARY_NAME = 'bsn-credential-helper';
const SCOPE = '@bsn-credential-helper';
/**
 * Milliseconds a helper that overran `timeoutMs` gets to exit after SIGTERM before SIGKILL.
 * The helper defers SIGTERM until a rotated refresh token is written, so a renewal that is
 * nearly done still saves its one-time refresh token.
 */
const TERMINATE_GRACE_MS = 2000;

/** The helper could not hand out a token. `code` is the stable protocol error code. */
class CredentialHelperError extends Error {
  constructor(code, message, exitStatus) {
    super(message);
    this.name = 'CredentialHelperError';
    this.code = code;
    this.exitStatus = exitStatus === undefined ? null : exitStatus;
  }
}

/** The npm package that carries the binary for this platform, e.g. @bsn-credential-helper/linux-x64. */
function platformPackage() {
  return `${SCOPE}/${process.platform}-${process.arch}`;
}

function exeName() {
  return process.platform === 'win32' ? `${BINARY_NAME}.exe` : BINARY_NAME;
}

function executable(file) {
  try {
    fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch (_) {
    return false;
  }
}

function fromPlatformPackage() {
  let manifest;
  try {
    manifest = require.resolve(`${platformPackage()}/package.json`);
  } catch (_) {
    return null;
  }
  const file = path.join(path.dirname(manifest), 'bin', exeName());
  return executable(file) ? file : null;
}

function fromPath() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, exeName());
    if (executable(file)) return file;
  }
  return null;
}

function supportedPlatforms() {
  try {
    // eslint-disable-next-line global-require
    const deps = require('./package.json').optionalDependencies || {};
    return Object.keys(deps).filter((n) => n.startsWith(`${SCOPE}/`)).map((n) => n.slice(SCOPE.length + 1));
  } catch (_) {
    return [];
  }
}

/**
 * The helper binary this module runs: $BSN_CREDENTIAL_HELPER when set, else the binary in
 * this platform's package (an optional dependency npm installs with this one), else
 * `bsn-credential-helper` on PATH. Throws CredentialHelperError('not_installed') naming the
 * missing package when there is none.
 */
function findBinary() {
  const configured = process.env.BSN_CREDENTIAL_HELPER;
  if (configured) return configured;
  const found = fromPlatformPackage() || fromPath();
  if (found) return found;
  const pkg = platformPackage();
  const platforms = supportedPlatforms();
  const why = platforms.length && !platforms.includes(`${process.platform}-${process.arch}`)
    ? `there is no package for ${process.platform}-${process.arch} (packages exist for ${platforms.join(', ')})`
    : `npm did not install it (optional dependencies omitted with --omit=optional or --no-optional, or a lockfile made on another platform)`;
  throw new CredentialHelperError(
    'not_installed',
    `no bsn-credential-helper binary for ${process.platform}-${process.arch}: the optional dependency ${pkg} is not installed, ` +
      `and ${BINARY_NAME} is not on PATH. Cause: ${why}. Reinstall with optional dependencies, ` +
      'or install the binary another way and put it on PATH or set BSN_CREDENTIAL_HELPER.',
  );
}

/**
 * Runs the helper; resolves to {status, signal, stdout, stderr}. After `timeoutMs` the helper
 * gets SIGTERM, then `graceMs` to exit, then SIGKILL, and the promise rejects with code
 * 'timeout' once it has exited.
 */
function run(args, input, timeoutMs, graceMs) {
  return new Promise((resolve, reject) => {
    let file;
    try {
      file = findBinary();
    } catch (e) {
      reject(e);
      return;
    }
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const out = [];
    const err = [];
    let timedOut = false;
    let killTimer = null;
    const timer = timeoutMs == null ? null : setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    }, timeoutMs);
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      reject(new CredentialHelperError(
        'not_installed',
        `cannot run bsn-credential-helper (${file}): ${e.code || e.message}; install it or set BSN_CREDENTIAL_HELPER`,
      ));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (timedOut) {
        reject(new CredentialHelperError(
          'timeout',
          `bsn-credential-helper did not answer within ${timeoutMs} ms; it was stopped`,
          status,
        ));
        return;
      }
      resolve({
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {}); // the helper may exit before reading everything
    child.stdin.end(input);
  });
}

/**
 * The helper's whole success answer ({access_token, expires_at, expires_in, network, source…}).
 * Options: profile, minTtl, rejectedToken, forceRefresh, timeoutMs, terminateGraceMs.
 * `timeoutMs` (default none: the helper's BSN_TIMEOUT and BSN_LOCK_TIMEOUT bound it) gives up
 * on a helper that has not answered: SIGTERM, `terminateGraceMs` (2000) to exit, then SIGKILL;
 * the error's code is 'timeout'.
 */
async function getTokenResponse(options = {}) {
  const req = { version: 1 };
  if (options.profile != null) req.profile = options.profile;
  if (options.minTtl != null) req.min_ttl = Math.floor(options.minTtl);
  if (options.rejectedToken != null) req.rejected_token = options.rejectedToken;
  if (options.forceRefresh) req.force_refresh = true;
  const grace = options.terminateGraceMs == null ? TERMINATE_GRACE_MS : options.terminateGraceMs;
  const { status, signal, stdout, stderr } = await run(['get'], JSON.stringify(req), options.timeoutMs, grace);
  const exit = status == null ? `signal ${signal}` : `exit ${status}`;
  let answer;
  try {
    answer = JSON.parse(stdout);
  } catch (_) {
    throw new CredentialHelperError(
      'internal',
      `bsn-credential-helper gave no protocol answer (${exit}): ${stderr.trim() || 'no message'}`,
      status,
    );
  }
  if (answer === null || typeof answer !== 'object' || answer.error || status !== 0
      || typeof answer.access_token !== 'string') {
    const e = (answer && typeof answer === 'object' && answer.error) || {};
    throw new CredentialHelperError(
      e.code || 'internal',
      e.message || `bsn-credential-helper failed (${exit})`,
      status,
    );
  }
  return answer;
}

/**
 * An access token (string). Pass `rejectedToken` after an API answered 401/403 to it: that
 * token is never handed out again, and concurrent callers reporting it cause one renewal.
 */
async function getToken(options = {}) {
  return (await getTokenResponse(options)).access_token;
}

function send(method, url, token, init) {
  const headers = new Headers(init.headers || {});
  if (!headers.has('accept')) headers.set('accept', DEFAULT_ACCEPT);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(url, { ...init, method, headers });
}

/**
 * fetch() with a bearer token; on 401 or 403 reports the token as rejected, gets a renewed
 * one and retries once. Resolves to the fetch Response (any status) with `retried` set.
 * `init` is fetch's RequestInit plus `profile` and `minTtl`; a body must be re-sendable
 * (string, Buffer, …), not a stream.
 */
async function request(method, url, init = {}) {
  const { profile, minTtl, ...fetchInit } = init;
  const token = await getToken({ profile, minTtl });
  let res = await send(method, url, token, fetchInit);
  let retried = false;
  if (res.status === 401 || res.status === 403) {
    await res.arrayBuffer().catch(() => {}); // free the connection
    const renewed = await getToken({ profile, minTtl, rejectedToken: token });
    res = await send(method, url, renewed, fetchInit);
    retried = true;
  }
  Object.defineProperty(res, 'retried', { value: retried });
  return res;
}

module.exports = {
  CredentialHelperError,
  TERMINATE_GRACE_MS,
  findBinary,
  getToken,
  getTokenResponse,
  platformPackage,
  request,
};
