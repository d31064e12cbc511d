/** A registered client as stored in the clients bucket (key: encoded client id). */

/** The stored record; never holds a secret in clear. */
export interface ClientRecord {
  client_id: string;
  /** `scrypt$N$r$p$salt$hash`; absent for clients without a secret. */
  secret_hash?: string;
  token_endpoint_auth_method: "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "none";
  grant_types: string[];
  /** Largest scope set the client may obtain. */
  scope: string[];
  /** Allowed audiences in order; the first is the primary. */
  audience: string[];
  /** Per-audience token format; jwt when absent. */
  access_token_format: Record<string, "jwt" | "opaque">;
  access_token_ttl?: number;
  refresh_token_ttl?: number;
  jwks?: { keys: Array<Record<string, unknown>> };
  jwks_uri?: string;
  /** A service of this stack allowed to call Mint. */
  internal: boolean;
  client_name?: string;
  /** An admin client (dedicated token issuer model). */
  admin?: boolean;
  /** What an admin may give the clients it registers (audiences; scopes, covering their down-scopes). */
  manages?: { audience: string[]; scope: string[] };
  /** Admin client that manages this one. */
  admin_client_id?: string;
  /** `name:` → concrete scopes; `{sub}` is replaced by the user. */
  scope_templates?: Record<string, string[]>;
  /** Digest of the config entry this record was seeded from; absent for registered clients. */
  seed_digest?: string;
  /** `config_revision` of the config file this record was seeded from; absent: 0 (or a registered client). */
  seed_revision?: number;
  created_at: number;
  updated_at: number;
}

const METHODS = new Set(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]);

/**
 * Whether a value of the clients bucket is one of the markers the issuer leaves in a client's place, which stand for
 * no client: a deletion's tombstone (`{deleted: {...}}`, until its event is stored) or a retired config client
 * (`{retired: {...}}`). A client cache drops the key for either, without a warning.
 */
export function isClientMarker(raw: unknown): boolean {
  if (typeof raw !== "object" || raw === null) return false;
  const keys = Object.keys(raw);
  const inner = (raw as Record<string, unknown>)[keys[0] ?? ""];
  return keys.length === 1 && (keys[0] === "deleted" || keys[0] === "retired") && typeof inner === "object" && inner !== null;
}

/** Validates an unknown KV value as a ClientRecord (undefined when it is not one). */
export function parseClientRecord(raw: unknown): ClientRecord | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (typeof r.client_id !== "string" || r.client_id.length === 0) return undefined;
  if (typeof r.token_endpoint_auth_method !== "string" || !METHODS.has(r.token_endpoint_auth_method)) return undefined;
  if (!strings(r.grant_types) || !strings(r.scope) || !strings(r.audience)) return undefined;
  if (r.secret_hash !== undefined && typeof r.secret_hash !== "string") return undefined;
  if (typeof r.access_token_format !== "object" || r.access_token_format === null) return undefined;
  return raw as ClientRecord;
}
