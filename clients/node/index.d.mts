// Types for the ES module entry (index.mjs): the same names as the CommonJS entry.
import * as bsn from './index.js';

export * from './index.js';
export default bsn;
