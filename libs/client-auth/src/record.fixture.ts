/** A client record for tests, with nothing allowed unless `extra` says so (left out of the build). */
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
