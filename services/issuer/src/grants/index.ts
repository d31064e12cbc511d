/** The grants the issuer serves, in one list. */
import { clientCredentials } from "./client-credentials.js";
import { jwtBearer } from "./jwt-bearer.js";
import { refreshToken } from "./refresh-token.js";
import type { Grant } from "./grant.js";

/** grant_type → grant. */
export const GRANTS: ReadonlyMap<string, Grant> = new Map([clientCredentials, jwtBearer, refreshToken].map((g) => [g.grantType, g]));

export type { Grant, GrantDeps, TokenServiceGrantDeps } from "./grant.js";
