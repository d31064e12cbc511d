/**
 * Client management (RFC 7591 registration, RFC 7592 configuration). Admin
 * clients create, read, update and delete only the clients they administer,
 * presenting an access token issued to them for the registration endpoint.
 * Each registered client gets a registration_access_token (stored hashed)
 * with which it can read its configuration and rotate its own keys, without
 * its admin. Metadata is validated by the same schema as the config file.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { clientSchema } from "@sts/config";
import { OAuthError, invalidRequest } from "@sts/errors";
import type { ClientRecord } from "@sts/client-auth";
import type { AccessTokenClaims } from "@sts/jwt";
import { audienceList } from "@sts/jwt";
import { EVENT_TYPES, encodeKey, isWriteConflict } from "@sts/nats";
import { isWithin } from "@sts/scopes";
import { toClientRecord } from "./client-records.js";
import type { EventPublisher } from "@sts/nats";

/** Prefix of registration access tokens. */
export const RAT_PREFIX = "rat_";

/** A stored client with its management credential (hashed). */
export type ManagedRecord = ClientRecord & { registration_token_hash?: string };

/** What management needs. */
export interface ManagementDeps {
  kv: KV;
  lookup: (clientId: string) => ManagedRecord | undefined;
  /** Active access token claims, or undefined. */
  inspect: (token: string) => Promise<AccessTokenClaims | undefined>;
  events: EventPublisher;
  /** The registration endpoint URL (the audience of admins' management tokens). */
  registrationEndpoint: string;
  now: () => number;
  /**
   * Longest lifetimes a registered client may ask for, in seconds. The key
   * publication tail and the revocation and refresh buckets are sized from
   * them: a longer-lived token would outlive its revocation record or its
   * verification key.
   */
  maxTtl: { access: number; refresh: number };
  /** Whether `sub` is a user of the config file's directory (`users`): no client may be registered under a user's id. */
  isUser: (sub: string) => boolean;
  /** Revokes every token of a client being deleted (a subject revocation of its id, in the admin's name). */
  revokeClient: (clientId: string, admin: { client_id: string; jti: string }) => Promise<void>;
}

type Caller = { kind: "admin"; admin: ClientRecord; jti: string } | { kind: "self"; client: ManagedRecord };

const deny = (): OAuthError => new OAuthError("invalid_token", "management credential is invalid");
const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

/** Who is calling: an admin (by access token) or a client itself (by registration access token). */
async function authorize(bearer: string, target: string | undefined, deps: ManagementDeps): Promise<Caller> {
  if (!bearer) throw deny();
  if (bearer.startsWith(RAT_PREFIX)) {
    const client = target ? deps.lookup(target) : undefined;
    const stored = client?.registration_token_hash;
    if (!client || !stored || !timingSafeEqual(Buffer.from(stored, "base64url"), digest(bearer))) throw deny();
    return { kind: "self", client };
  }
  const claims = await deps.inspect(bearer);
  if (!claims || !audienceList(claims.aud).includes(deps.registrationEndpoint)) throw deny();
  const admin = deps.lookup(claims.client_id);
  if (!admin?.admin) throw new OAuthError("unauthorized_client", "only admin clients manage clients");
  return { kind: "admin", admin, jti: claims.jti };
}

function parseMetadata(json: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(json);
  } catch {
    throw invalidRequest("metadata is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidRequest("metadata must be a JSON object");
  return body as Record<string, unknown>;
}

/** Validates RFC 7591 metadata with the config schema; privileged flags cannot be set here. */
function validate(
  meta: Record<string, unknown>,
  clientId: string,
  adminId: string,
  maxTtl: ManagementDeps["maxTtl"],
  previousSecretHash?: string,
): ReturnType<typeof clientSchema.parse> {
  for (const privileged of ["internal", "admin", "manages", "admin_client_id", "client_secret", "client_secret_hash"]) {
    if (privileged in meta) throw new OAuthError("invalid_client_metadata", `${privileged} cannot be set by registration`);
  }
  const scope = typeof meta.scope === "string" ? meta.scope.split(" ").filter(Boolean) : meta.scope;
  const method = (meta.token_endpoint_auth_method as string | undefined) ?? "private_key_jwt";
  // A secret is made once, at registration (or when a client first needs one); updates keep it.
  const secret = method.startsWith("client_secret") && !previousSecretHash ? randomBytes(24).toString("base64url") : undefined;
  const parsed = clientSchema.safeParse({
    ...meta,
    ...(scope !== undefined && { scope }),
    token_endpoint_auth_method: method,
    client_id: clientId,
    admin_client_id: adminId,
    ...(secret ? { client_secret: secret } : previousSecretHash && method.startsWith("client_secret") ? { client_secret_hash: previousSecretHash } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Named by its top-level field only, which is one of the schema's (an unknown key fails at the root): descriptions never echo input.
    const field = typeof issue?.path[0] === "string" ? issue.path[0] : "metadata";
    const reason = issue?.code === "unrecognized_keys" ? "unknown field" : (issue?.message ?? "invalid").replace(/"/g, "'");
    throw new OAuthError("invalid_client_metadata", `${field}: ${reason}`.slice(0, 200));
  }
  const { access_token_ttl: access, refresh_token_ttl: refresh } = parsed.data;
  if (access !== undefined && access > maxTtl.access) throw new OAuthError("invalid_client_metadata", `access_token_ttl: at most ${maxTtl.access} s here`);
  if (refresh > maxTtl.refresh) throw new OAuthError("invalid_client_metadata", `refresh_token_ttl: at most ${maxTtl.refresh} s here`);
  return parsed.data;
}

/**
 * An admin grants only what it was given (`manages` in its config): every
 * audience of the new client among the admin's, every scope and scope
 * template within the admin's scopes. Otherwise any admin could register a
 * client for any service of the mesh and mint tokens for it.
 */
function withinAllowance(valid: ReturnType<typeof clientSchema.parse>, admin: ClientRecord): ReturnType<typeof clientSchema.parse> {
  const allowed = admin.manages ?? { audience: [], scope: [] };
  if (valid.audience.some((a) => !allowed.audience.includes(a))) throw new OAuthError("invalid_client_metadata", "audience: beyond what this admin manages");
  const templated = Object.values(valid.scope_templates)
    .flat()
    .map((t) => t.replaceAll("{sub}", "user"));
  if (!isWithin(valid.scope, allowed.scope) || !isWithin(templated, allowed.scope))
    throw new OAuthError("invalid_client_metadata", "scope: beyond what this admin manages");
  return valid;
}

/** The RFC 7591 §3.2.1 view of a record (no hashes). */
function view(r: ManagedRecord, endpoint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { secret_hash: _s, registration_token_hash: _r, seed_digest: _d, internal: _i, admin: _a, ...rest } = r;
  return {
    ...rest,
    scope: r.scope.join(" "),
    registration_client_uri: `${endpoint}/${encodeURIComponent(r.client_id)}`,
    client_id_issued_at: r.created_at,
    ...extra,
  };
}

async function write(deps: ManagementDeps, record: ManagedRecord, create: boolean): Promise<void> {
  try {
    if (create) await deps.kv.create(encodeKey(record.client_id), JSON.stringify(record));
    else await deps.kv.put(encodeKey(record.client_id), JSON.stringify(record));
  } catch (err) {
    if (create && isWriteConflict(err)) throw new OAuthError("invalid_client_metadata", "client_id is taken");
    throw new OAuthError("temporarily_unavailable", "client registry unavailable", { cause: err });
  }
}

/** The stored record for validated metadata; registration credentials and privileges never come from metadata. */
async function toRecord(meta: ReturnType<typeof clientSchema.parse>, previous: ManagedRecord | undefined, now: number): Promise<ManagedRecord> {
  const record: ManagedRecord = { ...(await toClientRecord(meta, { ...(previous && { previous }), now })), internal: false, admin: false };
  if (previous?.registration_token_hash) record.registration_token_hash = previous.registration_token_hash;
  return record;
}

/** The name part of a client id an admin chooses (RFC 3986 unreserved characters). */
const CLIENT_NAME = /^[A-Za-z0-9._~-]{1,64}$/;

/**
 * The client id an admin asked for, if any. Clients and users share the `sub` namespace (a client's own tokens carry
 * its id as `sub`), so a client named like a user would get tokens that read as that user's (RFC 9700 §4.15): a chosen
 * id must sit under the admin's own (`<admin>/…`, as generated ids do) and must not be a user of the directory.
 */
function chosenClientId(value: unknown, adminId: string, deps: ManagementDeps): string | undefined {
  if (value === undefined) return undefined;
  const prefix = `${adminId}/`;
  // The name takes URI-unreserved characters only: no `/` (which would reach into an admin named `<admin>/x`'s
  // clients), no control, bidi or lone-surrogate characters that make two ids look, or encode, alike.
  if (typeof value !== "string" || !value.startsWith(prefix) || !CLIENT_NAME.test(value.slice(prefix.length))) {
    throw new OAuthError(
      "invalid_client_metadata",
      "client_id: must be the admin's client id, a '/', and a name of 1 to 64 letters, digits, '.', '_', '~' or '-'",
    );
  }
  if (deps.isUser(value)) throw new OAuthError("invalid_client_metadata", "client_id: is a user's id here");
  return value;
}

/** Register (RFC 7591 §3): the caller must be an admin; returns the metadata with the new credentials. */
export async function registerClient(bearer: string, json: string, deps: ManagementDeps): Promise<Record<string, unknown>> {
  const caller = await authorize(bearer, undefined, deps);
  if (caller.kind !== "admin") throw new OAuthError("unauthorized_client", "only admin clients register clients");
  const meta = parseMetadata(json);
  const clientId = chosenClientId(meta.client_id, caller.admin.client_id, deps) ?? `${caller.admin.client_id}/${randomBytes(9).toString("base64url")}`;
  const { client_id: _ignored, ...rest } = meta;
  const valid = withinAllowance(validate(rest, clientId, caller.admin.client_id, deps.maxTtl), caller.admin);
  const rat = RAT_PREFIX + randomBytes(32).toString("base64url");
  const record = { ...(await toRecord(valid, undefined, deps.now())), registration_token_hash: digest(rat).toString("base64url") };
  await write(deps, record, true);
  await deps.events.publish(EVENT_TYPES.CLIENT_REGISTERED, { client_id: clientId, admin_client_id: caller.admin.client_id }, { subject: clientId });
  return view(record, deps.registrationEndpoint, { ...issuedSecret(valid), registration_access_token: rat });
}

async function target(bearer: string, clientId: string, deps: ManagementDeps): Promise<{ caller: Caller; record: ManagedRecord }> {
  const caller = await authorize(bearer, clientId, deps);
  const record = deps.lookup(clientId);
  // An admin sees only its own clients; anything else looks like it does not exist (RFC 7592 §2).
  if (!record || (caller.kind === "admin" && record.admin_client_id !== caller.admin.client_id))
    throw new OAuthError("unauthorized_client", "not a client of this admin");
  return { caller, record };
}

/** Read (RFC 7592 §2.1). */
export async function readClient(bearer: string, clientId: string, deps: ManagementDeps): Promise<Record<string, unknown>> {
  const { record } = await target(bearer, clientId, deps);
  return view(record, deps.registrationEndpoint);
}

/**
 * Update (RFC 7592 §2.2): an admin replaces the metadata; a client may change
 * only its keys. A secret made by this update (the client moved to a
 * client_secret_* method) is in the response, the only time it is shown.
 */
export async function updateClient(bearer: string, clientId: string, json: string, deps: ManagementDeps): Promise<Record<string, unknown>> {
  const { caller, record } = await target(bearer, clientId, deps);
  const meta = parseMetadata(json);
  if (meta.client_id !== undefined && meta.client_id !== clientId) throw new OAuthError("invalid_client_metadata", "client_id cannot change");
  const { client_id: _c, ...rest } = meta;
  let next: ManagedRecord;
  let valid: ReturnType<typeof clientSchema.parse>;
  if (caller.kind === "self") {
    const keys = Object.keys(rest);
    if (keys.some((k) => k !== "jwks" && k !== "jwks_uri")) throw new OAuthError("unauthorized_client", "a client may change only its keys");
    const current = {
      token_endpoint_auth_method: record.token_endpoint_auth_method,
      grant_types: record.grant_types,
      scope: record.scope,
      audience: record.audience,
      access_token_format: record.access_token_format,
      scope_templates: record.scope_templates ?? {},
      refresh_token_ttl: record.refresh_token_ttl,
      ...(record.access_token_ttl !== undefined && { access_token_ttl: record.access_token_ttl }),
      ...rest,
    };
    valid = validate(current, clientId, record.admin_client_id ?? "", deps.maxTtl, record.secret_hash);
    next = await toRecord(valid, record, deps.now());
    if (!rest.jwks) delete next.jwks;
    if (!rest.jwks_uri) delete next.jwks_uri;
  } else {
    valid = withinAllowance(validate(rest, clientId, caller.admin.client_id, deps.maxTtl, record.secret_hash), caller.admin);
    next = await toRecord(valid, record, deps.now());
  }
  await write(deps, next, false);
  await deps.events.publish(
    EVENT_TYPES.CLIENT_UPDATED,
    { client_id: clientId, by: caller.kind === "admin" ? caller.admin.client_id : clientId },
    { subject: clientId },
  );
  return view(next, deps.registrationEndpoint, issuedSecret(valid));
}

/** RFC 7591 §3.2.1: a secret made now goes back to the caller with its expiry (0: never); it is stored only hashed. */
function issuedSecret(valid: ReturnType<typeof clientSchema.parse>): Record<string, unknown> {
  return valid.client_secret ? { client_secret: valid.client_secret, client_secret_expires_at: 0 } : {};
}

/** Delete (RFC 7592 §2.3): admins only. */
export async function deleteClient(bearer: string, clientId: string, deps: ManagementDeps): Promise<void> {
  const { caller } = await target(bearer, clientId, deps);
  if (caller.kind !== "admin") throw new OAuthError("unauthorized_client", "only the admin deletes a client");
  // RFC 7592 §2.3: a deleted client's tokens, refresh tokens and the hops made from them end with it, and a client
  // registered later under the same id does not inherit them. Revoked first: should the deletion then fail, the
  // admin's retry finds the client and deletes it.
  await deps.revokeClient(clientId, { client_id: caller.admin.client_id, jti: caller.jti });
  try {
    await deps.kv.delete(encodeKey(clientId));
  } catch (err) {
    throw new OAuthError("temporarily_unavailable", "client registry unavailable", { cause: err });
  }
  await deps.events.publish(EVENT_TYPES.CLIENT_DELETED, { client_id: clientId, by: caller.admin.client_id }, { subject: clientId });
}
