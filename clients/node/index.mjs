// ES module entry: the same implementation as index.js (one copy of the classes, so
// `instanceof CredentialHelperError` holds whichever way the package was loaded).
import bsn from './index.js';

export const {
  CredentialHelperError,
  TERMINATE_GRACE_MS,
  findBinary,
  getToken,
  getTokenResponse,
  platformPackage,
  request,
} = bsn;
export default bsn;
