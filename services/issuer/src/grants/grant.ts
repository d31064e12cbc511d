/** The shape every grant module exports, and what grants may use. */
import type { ClientRecord } from "@sts/client-auth";
import type { TokenRequest__Output, TokenResponse } from "@sts/proto";
import type { TokenMinter } from "../mint.js";

/** Services a grant may use. */
export interface GrantDeps {
  minter: TokenMinter;
  /** Default access token lifetime in seconds. */
  defaultTtl: number;
  now: () => number;
}

/** One OAuth grant: its grant_type and its handler, given an authenticated client. */
export interface Grant {
  readonly grantType: string;
  handle(request: TokenRequest__Output, client: ClientRecord, deps: GrantDeps): Promise<TokenResponse>;
}
