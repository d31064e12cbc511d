/** Client records and assertion checks for tests, with nothing allowed unless the test says so (left out of the build). */
import { assertionAudiences } from "./client-assertion.js";
import type { AssertionDeps } from "./client-assertion.js";
import type { ClientRecord } from "./client-record.js";

/** A `client_secret_basic` client with no grants, scopes or audiences, overridden by `extra`. */
export function clientRecord(client_id: string, extra: Partial<ClientRecord> = {}): ClientRecord {
  return {
    client_id,
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: [],
    scope: [],
    audience: [],
    access_token_format: {},
    internal: false,
    created_at: 0,
    updated_at: 0,
    ...extra,
  };
}

/** Assertion checks for the issuer `issuer` at the fixed time `now`: every jti fresh, 5 min lifetime, 30 s skew, 8 KiB; `over` on top. */
export function assertionDeps(issuer: string, now: number, lookup: AssertionDeps["lookup"], over: Partial<AssertionDeps> = {}): AssertionDeps {
  return {
    lookup,
    recordJti: () => Promise.resolve(true),
    audiences: assertionAudiences(issuer),
    now: () => now,
    maxLifetime: 300,
    clockTolerance: 30,
    maxBytes: 8192,
    ...over,
  };
}
