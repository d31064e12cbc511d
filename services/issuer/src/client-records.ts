/** Validated client configuration (config file or registration) → the stored record, in one place. */
import type { ClientConfig } from "@sts/config";
import { hashSecret } from "@sts/client-auth";
import type { ClientRecord } from "@sts/client-auth";

/**
 * Builds a record; a secret in clear is hashed here. A previous record's secret hash is never carried over: a
 * client whose configuration names no secret has none, so a client moved off client_secret_* keeps no dormant secret
 * that a later move back would revive (the caller supplies the hash to keep, client-management.ts `validate`).
 */
export async function toClientRecord(c: ClientConfig, options: { previous?: ClientRecord; now: number }): Promise<ClientRecord> {
  const { previous, now } = options;
  const secretHash = c.client_secret_hash ?? (c.client_secret ? await hashSecret(c.client_secret) : undefined);
  return {
    client_id: c.client_id,
    ...(secretHash !== undefined && { secret_hash: secretHash }),
    token_endpoint_auth_method: c.token_endpoint_auth_method,
    grant_types: [...c.grant_types],
    scope: [...c.scope],
    audience: [...c.audience],
    access_token_format: { ...c.access_token_format },
    ...(c.access_token_ttl !== undefined && { access_token_ttl: c.access_token_ttl }),
    refresh_token_ttl: c.refresh_token_ttl,
    ...(c.jwks && { jwks: c.jwks }),
    ...(c.jwks_uri && { jwks_uri: c.jwks_uri }),
    internal: c.internal,
    admin: c.admin,
    ...(c.manages && { manages: { audience: [...c.manages.audience], scope: [...c.manages.scope] } }),
    ...(c.admin_client_id && { admin_client_id: c.admin_client_id }),
    scope_templates: { ...c.scope_templates },
    ...(c.client_name && { client_name: c.client_name }),
    created_at: previous?.created_at ?? now,
    updated_at: now,
  };
}
