/**
 * Client management (RFC 7591 registration, RFC 7592 configuration). Admin
 * clients create, read, update and delete only the clients they administer,
 * presenting an access token issued to them for the registration endpoint.
 * Each registered client gets a registration_access_token (stored hashed)
 * with which it can read its configuration and rotate its own keys, without
 * its admin. Metadata is validated by the same schema as the config file,
 * once client-metadata.ts has set aside what a request may not set and what
 * this server does not understand.
 *
 * A change is answered only once its event is in JetStream (fail closed), and
 * a retry can always complete what a failure left:
 * - a registration and an update grant, so their event is stored before they
 *   take effect: a failed publish changes nothing and the retry starts afresh.
 *   Should the write after a stored event fail, the trail holds an event for
 *   a change that did not happen (the retry's own event follows), never a
 *   change without its event;
 * - a deletion takes away, so it takes effect first (the safe side, as a
 *   subject revocation does): the record becomes a tombstone no replica
 *   serves, then the event is stored under the id the tombstone fixes, then
 *   the tombstone goes. The admin's retry finds the tombstone and stores the
 *   same event, which JetStream and the audit projection each keep once.
 * Update and deletion event ids derive from the revision they replace, so a
 * retry that finds the same state publishes the same event.
 */
import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type { KV } from "@nats-io/kv";
import { clientSchema } from "@sts/config";
import { OAuthError, invalidRequest } from "@sts/errors";
import type { ClientRecord } from "@sts/client-auth";
import type { AccessTokenClaims } from "@sts/jwt";
import { audienceList, hasDuplicateMembers } from "@sts/jwt";
import { EVENT_TYPES, recordEventId } from "@sts/nats";
import { isWithin } from "@sts/scopes";
import { isRegistrationToken, metadataLimitProblem, registrableMetadata, registrationTokenHash } from "./client-metadata.js";
import { toClientRecord } from "./client-records.js";
import { createRecord, readEntry, removeTombstone, replaceEntry } from "./client-store.js";
import type { ManagedRecord, Tombstone } from "./client-store.js";
import type { EventPublisher, EventType } from "@sts/nats";

export type { ManagedRecord } from "./client-store.js";

/** Prefix of registration access tokens. */
export const RAT_PREFIX = "rat_";

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
  /** Most clients an admin may have registered at once (its `manages.max_clients`). */
  maxClients: (adminId: string) => number;
  /** How many clients an admin has registered through this API, as this replica's copy of the registry holds them. */
  registeredBy: (adminId: string) => number;
}

type Caller = { kind: "admin"; admin: ClientRecord; jti: string } | { kind: "self"; client: ManagedRecord };

const deny = (): OAuthError => new OAuthError("invalid_token", "management credential is invalid");
/**
 * RFC 7592 §2.1-2.3: a client that does not exist is answered 401, and RFC 6750 §3.1 names that `invalid_token`. An
 * admin sees only its own clients, so another admin's client gets the very same answer: nothing tells the two apart.
 * The description says only that the credential reaches no such client (it may well be valid for others). The
 * admin's token is not revoked, as §2.1 suggests for a registration access token: it serves all the admin's clients.
 */
const notOwn = (): OAuthError => new OAuthError("invalid_token", "no such client for this credential");
/** RFC 6750 §3.1 (RFC 7592 §2.2, §2.3: 403): a valid credential that does not carry the right to this call. */
const notAllowed = (description: string): OAuthError => new OAuthError("insufficient_scope", description);

/**
 * Refuses to change or delete a client the config file declares (its record has a `seed_digest`): the file is its
 * source of truth. A record rewritten here would lose the digest, so the next start would no longer retire it when
 * its entry leaves the file (how an operator decommissions a client or ends a leaked secret), and a deletion here
 * would be undone by the next start's seeding.
 */
function refuseConfigDeclared(record: ManagedRecord): void {
  if (record.seed_digest !== undefined) throw notAllowed("this client is declared in the config file: change or remove it there");
}

/** Who is calling: an admin (by access token) or a client itself (by registration access token). */
async function authorize(bearer: string, target: string | undefined, deps: ManagementDeps): Promise<Caller> {
  if (!bearer) throw deny();
  if (bearer.startsWith(RAT_PREFIX)) {
    const client = target ? deps.lookup(target) : undefined;
    if (!client || !isRegistrationToken(client.registration_token_hash, bearer)) throw deny();
    return { kind: "self", client };
  }
  const claims = await deps.inspect(bearer);
  // The registration endpoint as the token's only audience: a token also valid at another service (`aud: [register,
  // storage]`) could be replayed here by that service, and act as the admin.
  const audience = claims ? audienceList(claims.aud) : [];
  if (!claims || audience.length !== 1 || audience[0] !== deps.registrationEndpoint) throw deny();
  const admin = deps.lookup(claims.client_id);
  if (!admin) throw deny();
  if (!admin.admin) throw notAllowed("only admin clients manage clients");
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
  // JSON.parse keeps the last of `{"scope":["read"],"scope":["admin"]}`, a proxy or an audit of the request may keep
  // the first (RFC 8259 §4: names SHOULD be unique): one request read two ways is refused, not guessed at.
  if (hasDuplicateMembers(json)) throw new OAuthError("invalid_client_metadata", "metadata names a member more than once");
  return body as Record<string, unknown>;
}

const isSecretMethod = (method: unknown): boolean => method === "client_secret_basic" || method === "client_secret_post";

/**
 * The token_endpoint_auth_method of metadata that names none: RFC 7591 §2's default, client_secret_basic (a client
 * library registering with minimal metadata counts on it), unless the metadata gives keys, which only
 * private_key_jwt uses to authenticate: that substitution is allowed (§3.2.1) and the response states it.
 */
const authMethodOf = (meta: Record<string, unknown>): unknown =>
  meta.token_endpoint_auth_method ?? (meta.jwks !== undefined || meta.jwks_uri !== undefined ? "private_key_jwt" : "client_secret_basic");

/**
 * The secret hash an update keeps: the previous one, only while the client stays on client_secret_*. A client that
 * left them and comes back gets a new secret, never its old one (which may have leaked while it was unused, and whose
 * holders were told it no longer worked). The previous method is checked, not only the hash: a record written before
 * client-records.ts dropped the hash on such a move may still hold one.
 */
const keptSecretHash = (previous: ManagedRecord | undefined, method: unknown): string | undefined =>
  previous && isSecretMethod(previous.token_endpoint_auth_method) && isSecretMethod(method) ? previous.secret_hash : undefined;

/** Validates registrable metadata (see client-metadata.ts) with the config schema; `previous` is the record an update replaces. */
function validate(
  meta: Record<string, unknown>,
  clientId: string,
  adminId: string,
  maxTtl: ManagementDeps["maxTtl"],
  previous?: ManagedRecord,
): ReturnType<typeof clientSchema.parse> {
  const scope = typeof meta.scope === "string" ? meta.scope.split(" ").filter(Boolean) : meta.scope;
  const method = authMethodOf(meta);
  const kept = keptSecretHash(previous, method);
  // A secret is made when a client takes up client_secret_* (at registration or by an update); later updates keep it.
  const secret = isSecretMethod(method) && !kept ? randomBytes(24).toString("base64url") : undefined;
  const parsed = clientSchema.safeParse({
    ...meta,
    ...(scope !== undefined && { scope }),
    token_endpoint_auth_method: method,
    client_id: clientId,
    admin_client_id: adminId,
    ...(secret ? { client_secret: secret } : kept ? { client_secret_hash: kept } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Named by its top-level field only, one of the registrable ones (a nested unknown key is refused under it): descriptions never echo input.
    const field = typeof issue?.path[0] === "string" ? issue.path[0] : "metadata";
    const reason = issue?.code === "unrecognized_keys" ? "unknown field" : (issue?.message ?? "invalid").replace(/"/g, "'");
    throw new OAuthError("invalid_client_metadata", `${field}: ${reason}`.slice(0, 200));
  }
  const beyond = metadataLimitProblem(parsed.data);
  if (beyond) throw new OAuthError("invalid_client_metadata", beyond);
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

/** A client's registration_client_uri (RFC 7592 §3). */
const clientUri = (endpoint: string, clientId: string): string => `${endpoint}/${encodeURIComponent(clientId)}`;

/** The RFC 7591 §3.2.1 view of a record (no hashes): what was stored, never what a request sent and this server ignored. */
function view(r: ManagedRecord, endpoint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { secret_hash: _s, registration_token_hash: _r, seed_digest: _d, seed_revision: _v, internal: _i, admin: _a, ...rest } = r;
  return {
    ...rest,
    scope: r.scope.join(" "),
    registration_client_uri: clientUri(endpoint, r.client_id),
    client_id_issued_at: r.created_at,
    ...extra,
  };
}

/**
 * The id of the event recording a change to a client's record as stored at `revision`: a retry that finds the record
 * so publishes the same id; the timestamps keep it apart from an earlier client's, should the bucket be made anew.
 */
function changeEventId(type: EventType, record: ManagedRecord, revision: number, by: string): string {
  return recordEventId(type, [record.client_id, by, revision, record.created_at, record.updated_at]);
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

/**
 * Readies an id an admin chose: taken while it holds a client (refused before any event is stored); holding the
 * tombstone of this admin's deletion, that deletion's event is stored first, so the trail never shows the id
 * registered again before it shows it deleted.
 */
async function vacate(clientId: string, adminId: string, deps: ManagementDeps): Promise<void> {
  const entry = await readEntry(deps.kv, clientId);
  if (!entry) return;
  if ("tombstone" in entry && entry.tombstone.admin_client_id === adminId) return finishDeletion(entry.tombstone, entry.revision, deps);
  throw new OAuthError("invalid_client_metadata", "client_id is taken");
}

/**
 * Refuses a registration past the admin's `manages.max_clients`: every client is a record each replica and sidecar
 * holds in memory, so an admin (or a thief of its key) may not grow the registry without bound. Counted on this
 * replica's copy of the registry, so registrations racing through several replicas may pass it by a few. RFC 7591
 * §3.2.2 has no code for a quota; invalid_client_metadata is the one it gives for a registration refused as such.
 */
function withinQuota(adminId: string, deps: ManagementDeps): void {
  const most = deps.maxClients(adminId);
  if (deps.registeredBy(adminId) >= most) {
    throw new OAuthError("invalid_client_metadata", `this admin has registered as many clients as it may (manages.max_clients: ${most}); delete one first`);
  }
}

/** Register (RFC 7591 §3): the caller must be an admin; returns the metadata with the new credentials. */
export async function registerClient(bearer: string, json: string, deps: ManagementDeps): Promise<Record<string, unknown>> {
  const caller = await authorize(bearer, undefined, deps);
  if (caller.kind !== "admin") throw notAllowed("only admin clients register clients");
  const meta = parseMetadata(json);
  const adminId = caller.admin.client_id;
  withinQuota(adminId, deps);
  const chosen = chosenClientId(meta.client_id, adminId, deps);
  const clientId = chosen ?? `${adminId}/${randomBytes(9).toString("base64url")}`;
  const valid = withinAllowance(validate(await registrableMetadata(meta), clientId, adminId, deps.maxTtl), caller.admin);
  const rat = RAT_PREFIX + randomBytes(32).toString("base64url");
  const record = { ...(await toRecord(valid, undefined, deps.now())), registration_token_hash: registrationTokenHash(rat) };
  if (chosen) await vacate(clientId, adminId, deps);
  // The event goes first: a client whose event could not be stored never exists (a generated id's retry would name
  // another client, and the first would stay usable with credentials nobody was given).
  await deps.events.publish(
    EVENT_TYPES.CLIENT_REGISTERED,
    { client_id: clientId, admin_client_id: adminId },
    { subject: clientId, id: recordEventId(EVENT_TYPES.CLIENT_REGISTERED, [clientId, record.created_at, record.registration_token_hash]) },
  );
  await createRecord(deps.kv, record);
  return view(record, deps.registrationEndpoint, { ...issuedSecret(valid), registration_access_token: rat });
}

/** Read (RFC 7592 §2.1). */
export async function readClient(bearer: string, clientId: string, deps: ManagementDeps): Promise<Record<string, unknown>> {
  const caller = await authorize(bearer, clientId, deps);
  const record = deps.lookup(clientId);
  if (!record || (caller.kind === "admin" && record.admin_client_id !== caller.admin.client_id)) throw notOwn();
  return view(record, deps.registrationEndpoint);
}

/**
 * The caller's client as the bucket holds it now, with its revision (a replica's copy may lag, and the change is a
 * compare-and-set on it): an admin's own client, or the client whose registration access token the caller holds.
 */
async function stored(caller: Caller, clientId: string, deps: ManagementDeps): Promise<{ record: ManagedRecord; revision: number }> {
  const entry = await readEntry(deps.kv, clientId);
  const record = entry && "record" in entry ? entry.record : undefined;
  const reached =
    caller.kind === "admin"
      ? record?.admin_client_id === caller.admin.client_id
      : record?.registration_token_hash !== undefined && record.registration_token_hash === caller.client.registration_token_hash;
  if (!entry || !record || !reached) throw notOwn();
  refuseConfigDeclared(record);
  return { record, revision: entry.revision };
}

/** The metadata of a record a client may not change itself (its keys excepted), in the form a request gives it. */
function fixedMetadata(record: ManagedRecord): Record<string, unknown> {
  return {
    token_endpoint_auth_method: record.token_endpoint_auth_method,
    grant_types: record.grant_types,
    scope: record.scope,
    audience: record.audience,
    access_token_format: record.access_token_format,
    scope_templates: record.scope_templates ?? {},
    refresh_token_ttl: record.refresh_token_ttl,
    ...(record.access_token_ttl !== undefined && { access_token_ttl: record.access_token_ttl }),
    ...(record.client_name !== undefined && { client_name: record.client_name }),
  };
}

/** A record without what a client may change itself or what every write moves. */
const withoutKeys = ({ jwks: _k, jwks_uri: _u, updated_at: _t, ...rest }: ManagedRecord): Omit<ManagedRecord, "jwks" | "jwks_uri" | "updated_at"> => rest;

/**
 * Whether metadata a client sent about itself, its keys set aside, is what its record holds: RFC 7592 §2.2 has it
 * send back all it read, and it may change only its keys. Both sides are built as a write builds a record, so a value
 * sent in another form (scope as a string) compares equal; a value that does not even validate is a change.
 */
async function changesOnlyKeys(sent: Record<string, unknown>, record: ManagedRecord, deps: ManagementDeps): Promise<boolean> {
  const { jwks: _k, jwks_uri: _u, ...others } = sent;
  const kept = { ...fixedMetadata(record), ...(record.jwks && { jwks: record.jwks }), ...(record.jwks_uri && { jwks_uri: record.jwks_uri }) };
  const build = (meta: Record<string, unknown>): Promise<ManagedRecord> =>
    toRecord(validate(meta, record.client_id, record.admin_client_id ?? "", deps.maxTtl, record), record, record.updated_at);
  const unchanged = withoutKeys(await build(kept));
  try {
    return isDeepStrictEqual(withoutKeys(await build({ ...kept, ...others })), unchanged);
  } catch {
    return false;
  }
}

/**
 * Update (RFC 7592 §2.2): an admin replaces the metadata; a client may change
 * only its keys. A secret made by this update (the client moved to a
 * client_secret_* method) is in the response, the only time it is shown.
 */
export async function updateClient(bearer: string, clientId: string, json: string, deps: ManagementDeps): Promise<Record<string, unknown>> {
  const caller = await authorize(bearer, clientId, deps);
  const { record, revision } = await stored(caller, clientId, deps);
  const meta = parseMetadata(json);
  if (meta.client_id !== undefined && meta.client_id !== clientId) throw new OAuthError("invalid_client_metadata", "client_id cannot change");
  const rest = await registrableMetadata(meta, { record, uri: clientUri(deps.registrationEndpoint, clientId) });
  let next: ManagedRecord;
  let valid: ReturnType<typeof clientSchema.parse>;
  if (caller.kind === "self") {
    if (!(await changesOnlyKeys(rest, record, deps))) throw notAllowed("a client may change only its keys");
    valid = validate({ ...fixedMetadata(record), ...rest }, clientId, record.admin_client_id ?? "", deps.maxTtl, record);
    next = await toRecord(valid, record, deps.now());
    if (!rest.jwks) delete next.jwks;
    if (!rest.jwks_uri) delete next.jwks_uri;
  } else {
    valid = withinAllowance(validate(rest, clientId, caller.admin.client_id, deps.maxTtl, record), caller.admin);
    next = await toRecord(valid, record, deps.now());
  }
  const by = caller.kind === "admin" ? caller.admin.client_id : clientId;
  // The event goes first, and the write is a compare-and-set on the revision it names: a retry that finds the record
  // unchanged publishes the same event.
  await deps.events.publish(
    EVENT_TYPES.CLIENT_UPDATED,
    { client_id: clientId, by },
    { subject: clientId, id: changeEventId(EVENT_TYPES.CLIENT_UPDATED, record, revision, by) },
  );
  await replaceEntry(deps.kv, clientId, next, revision);
  return view(next, deps.registrationEndpoint, issuedSecret(valid));
}

/** RFC 7591 §3.2.1: a secret made now goes back to the caller with its expiry (0: never); it is stored only hashed. */
function issuedSecret(valid: ReturnType<typeof clientSchema.parse>): Record<string, unknown> {
  return valid.client_secret ? { client_secret: valid.client_secret, client_secret_expires_at: 0 } : {};
}

/** Stores a deletion's event, then removes its tombstone: the deletion is answered done only once it is recorded. */
async function finishDeletion(tombstone: Tombstone, revision: number, deps: ManagementDeps): Promise<void> {
  await deps.events.publish(
    EVENT_TYPES.CLIENT_DELETED,
    { client_id: tombstone.client_id, by: tombstone.admin_client_id },
    { subject: tombstone.client_id, id: tombstone.event_id },
  );
  await removeTombstone(deps.kv, tombstone.client_id, revision);
}

/** Delete (RFC 7592 §2.3): admins only; a retry completes a deletion whose event could not be stored. */
export async function deleteClient(bearer: string, clientId: string, deps: ManagementDeps): Promise<void> {
  const caller = await authorize(bearer, clientId, deps);
  if (caller.kind !== "admin") throw notAllowed("only the admin deletes a client");
  const adminId = caller.admin.client_id;
  const entry = await readEntry(deps.kv, clientId);
  if (entry && "tombstone" in entry && entry.tombstone.admin_client_id === adminId) return finishDeletion(entry.tombstone, entry.revision, deps);
  if (!entry || !("record" in entry) || entry.record.admin_client_id !== adminId) throw notOwn();
  refuseConfigDeclared(entry.record);
  // RFC 7592 §2.3: a deleted client's tokens, refresh tokens and the hops made from them end with it, and a client
  // registered later under the same id does not inherit them. Revoked first: should the deletion then fail, the
  // admin's retry finds the client and deletes it.
  await deps.revokeClient(clientId, { client_id: adminId, jti: caller.jti });
  const tombstone: Tombstone = {
    client_id: clientId,
    admin_client_id: adminId,
    event_id: changeEventId(EVENT_TYPES.CLIENT_DELETED, entry.record, entry.revision, adminId),
  };
  await finishDeletion(tombstone, await replaceEntry(deps.kv, clientId, { deleted: tombstone }, entry.revision), deps);
}
