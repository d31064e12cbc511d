/** The shape every grant module exports, and what grants may use. */
import type { AssertionDeps, ClientRecord } from "@sts/client-auth";
import type { TokenRequest__Output, TokenResponse } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import type { TokenMinter } from "../mint.js";
import type { RecordFamilyRevocation, RefreshTokens, SubjectRevokedAt } from "../refresh-tokens.js";

/** Services a grant may use. */
export interface GrantDeps {
  minter: TokenMinter;
  /** Default access token lifetime in seconds. */
  defaultTtl: number;
  now: () => number;
  /** Checks for client-signed assertions (jwt-bearer grant). */
  assertions: AssertionDeps;
  /** Refresh token families. */
  refresh: RefreshTokens;
  /** Client records (the DTI admin case looks up the managed client). */
  lookup: (clientId: string) => ClientRecord | undefined;
  /** Single use of unsigned DTI assertions. */
  recordDtiJti: (clientId: string, jti: string, exp: number) => Promise<boolean>;
  /** When a subject of this stack was revoked, read from the revocations bucket itself (assertions signed before it are refused). */
  subjectRevokedAt: SubjectRevokedAt;
  /** Whether `sub` is a user of the config file's directory (`users`). */
  isUser: (sub: string) => boolean;
  /** Records a refresh family's revocation (its access tokens, its event) before the answer that reports it; given by the token service. */
  recordFamilyRevocation: RecordFamilyRevocation;
  /** Where detail kept out of an answer goes; given by the token service. */
  logger: Logger;
}

/** What the token service adds to the grant deps it is given. */
export type TokenServiceGrantDeps = "recordFamilyRevocation" | "logger";

/** One OAuth grant: its grant_type and its handler, given an authenticated client. */
export interface Grant {
  readonly grantType: string;
  handle(request: TokenRequest__Output, client: ClientRecord, deps: GrantDeps, method: ClientRecord["token_endpoint_auth_method"]): Promise<TokenResponse>;
}
