// Types for bsn-credential-helper (CommonJS entry, index.js). The ES module entry's types
// (index.d.mts) re-export these.

/** The helper's success answer (protocol.md); readers must accept fields not listed. */
export interface TokenResponse {
  version: number;
  profile: string;
  /** Always "Bearer". */
  token_type: string;
  access_token: string;
  /** RFC 3339, UTC, whole seconds, `Z` suffix. */
  expires_at: string;
  expires_in: number;
  network: string | null;
  scope: string | null;
  /** "cache", "refresh" or "login"; accept other values too. */
  source: string;
  /** Present when the token is returned despite a problem. */
  warning?: string;
  [field: string]: unknown;
}

export interface GetTokenOptions {
  profile?: string;
  minTtl?: number;
  /** A token an API just answered 401/403 to: never handed out again. */
  rejectedToken?: string;
  forceRefresh?: boolean;
  /** Give up after this many ms: SIGTERM, `terminateGraceMs` to exit, then SIGKILL. */
  timeoutMs?: number;
  /** Default TERMINATE_GRACE_MS (2000). */
  terminateGraceMs?: number;
}

export interface BsnRequestInit extends RequestInit {
  profile?: string;
  minTtl?: number;
}

export type BsnResponse = Response & { readonly retried: boolean };

/** The helper could not hand out a token. */
export declare class CredentialHelperError extends Error {
  constructor(code: string, message: string, exitStatus?: number | null);
  /** A protocol error code ("config", "invalid_credentials", "network", …), or "not_installed", "timeout", "internal". */
  readonly code: string;
  /** The helper's exit code, when it exited with one. */
  readonly exitStatus: number | null;
}

export declare const TERMINATE_GRACE_MS: number;
/** $BSN_CREDENTIAL_HELPER, else this platform's package's binary, else the one on PATH. */
export declare function findBinary(): string;
/** The package that carries this platform's binary, e.g. "@bsn-credential-helper/linux-x64". */
export declare function platformPackage(): string;
export declare function getTokenResponse(options?: GetTokenOptions): Promise<TokenResponse>;
export declare function getToken(options?: GetTokenOptions): Promise<string>;
/** fetch() with a bearer token and one retry, with a renewed token, after 401/403. */
export declare function request(method: string, url: string | URL, init?: BsnRequestInit): Promise<BsnResponse>;
