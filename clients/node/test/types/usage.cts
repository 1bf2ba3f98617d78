// Type-checked by .ci/client-packages with `tsc` (module nodenext) against the installed
// package: the CommonJS entry's types (index.d.ts). Not run.
import bsn = require('bsn-credential-helper');

async function main(): Promise<void> {
  const token: string = await bsn.getToken({ minTtl: 30 });
  const answer: bsn.TokenResponse = await bsn.getTokenResponse({ timeoutMs: 1000 });
  const res: bsn.BsnResponse = await bsn.request('POST', new URL('https://api.bsn.cloud/x'), { body: '{}' });
  // @ts-expect-error the error code is a string
  const code: number = new bsn.CredentialHelperError('timeout', 'm').code;
  console.log(token, answer.source, res.retried, code);
}
void main();
