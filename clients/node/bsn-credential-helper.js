'use strict';
/**
 * BSN.cloud access tokens from bsn-credential-helper, for Node.js >= 18 (no dependencies).
 *
 * Copy this file next to your code. It runs the helper binary with a protocol v1 request on
 * stdin (see protocol.md), so every process on the machine shares one cached token and one
 * refresh.
 *
 *   const bsn = require('./bsn-credential-helper');
 *   const token = await bsn.getToken();               // valid for at least minTtl seconds
 *   const res = await bsn.request('GET', 'https://api.bsn.cloud/2022/06/REST/Self/Session');
 *   console.log(res.status, await res.json());
 *
 * The binary is $BSN_CREDENTIAL_HELPER, else `bsn-credential-helper` on PATH.
 */

const { spawn } = require('node:child_process');

const DEFAULT_ACCEPT = 'application/json, application/vnd.bsn.error+json';

/** The helper could not hand out a token. `code` is the stable protocol error code. */
class CredentialHelperError extends Error {
  constructor(code, message, exitStatus) {
    super(message);
    this.name = 'CredentialHelperError';
    this.code = code;
    this.exitStatus = exitStatus;
  }
}

function binary() {
  return process.env.BSN_CREDENTIAL_HELPER || 'bsn-credential-helper';
}

/**
 * The helper's whole success answer ({access_token, expires_at, expires_in, network, source…}).
 * Options: profile, minTtl, rejectedToken, forceRefresh, timeoutMs.
 */
function getTokenResponse(options = {}) {
  const req = { version: 1 };
  if (options.profile != null) req.profile = options.profile;
  if (options.minTtl != null) req.min_ttl = Math.floor(options.minTtl);
  if (options.rejectedToken != null) req.rejected_token = options.rejectedToken;
  if (options.forceRefresh) req.force_refresh = true;
  return new Promise((resolve, reject) => {
    const child = spawn(binary(), ['get'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      windowsHide: true,
    });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', (e) => {
      reject(new CredentialHelperError(
        'not_installed',
        `cannot run bsn-credential-helper (${e.code || e.message}); install it or set BSN_CREDENTIAL_HELPER`,
      ));
    });
    child.on('close', (status) => {
      const stdout = Buffer.concat(out).toString('utf8');
      let answer;
      try {
        answer = JSON.parse(stdout);
      } catch (_) {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        reject(new CredentialHelperError(
          'internal',
          `bsn-credential-helper gave no protocol answer (exit ${status}): ${stderr || 'no message'}`,
          status,
        ));
        return;
      }
      if (answer.error || status !== 0 || typeof answer.access_token !== 'string') {
        const e = answer.error || {};
        reject(new CredentialHelperError(
          e.code || 'internal',
          e.message || `bsn-credential-helper failed (exit ${status})`,
          status,
        ));
        return;
      }
      resolve(answer);
    });
    child.stdin.on('error', () => {}); // the helper may exit before reading everything
    child.stdin.end(JSON.stringify(req));
  });
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

module.exports = { CredentialHelperError, getToken, getTokenResponse, request };
