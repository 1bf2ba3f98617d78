// Type-checked by .ci/client-packages with `tsc` (module nodenext) against the installed
// package: the ES module entry's types (index.d.mts). Not run.
import bsn, { CredentialHelperError, getToken, getTokenResponse, request, findBinary } from 'bsn-credential-helper';
import type { TokenResponse, GetTokenOptions } from 'bsn-credential-helper';

const options: GetTokenOptions = { profile: 'prod', minTtl: 120, timeoutMs: 5000, terminateGraceMs: 1000 };
const token: string = await getToken(options);
const answer: TokenResponse = await getTokenResponse({ rejectedToken: token, forceRefresh: true });
const network: string | null = answer.network;
const binary: string = findBinary();
const res = await request('GET', 'https://api.bsn.cloud/2022/06/REST/Self/Session', { profile: 'prod', minTtl: 60 });
const retried: boolean = res.retried;
const status: number = res.status;
const same: typeof getToken = bsn.getToken;
try {
  await getToken();
} catch (e) {
  if (e instanceof CredentialHelperError) {
    const code: string = e.code;
    const exit: number | null = e.exitStatus;
    console.log(code, exit);
  }
}
// @ts-expect-error a token is a string
const wrong: number = await getToken();
console.log(network, binary, retried, status, same, wrong);
