/**
 * What the registration API takes from a request's client metadata (RFC 7591 §2, RFC 7592 §2.2), before the config
 * schema checks it. Every member falls in one class:
 * - registrable: set by the request, then checked as strictly as the config file checks it;
 * - privileged: never set here, and refused rather than ignored, so no caller believes it was granted one;
 * - set by this server (shown by a read or a registration): an update may carry each back as it was shown, which is
 *   then ignored; any other value is refused (RFC 7592 §2.2: a client never chooses its own secret);
 * - anything else: not understood here, so ignored (RFC 7591 §2 MUST) and, never stored, never shown (§3.2.1).
 * The config file stays strict: a typo there stops the start; only this API ignores what it does not understand.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { jwksUriProblem, verifySecret } from "@sts/client-auth";
import type { ClientConfig } from "@sts/config";
import { OAuthError } from "@sts/errors";
import { publicJwkProblem, verificationKeyProblem } from "@sts/jwt";
import { MAX_AUDIENCE_LENGTH, MAX_SCOPES, MAX_SCOPE_LENGTH } from "@sts/scopes";
import type { ManagedRecord } from "./client-store.js";

/** Metadata a registration or an update sets; the config schema and the admin's `manages` then check each. */
export const REGISTRABLE = [
  "token_endpoint_auth_method",
  "grant_types",
  "scope",
  "audience",
  "access_token_format",
  "access_token_ttl",
  "refresh_token_ttl",
  "jwks",
  "jwks_uri",
  "scope_templates",
  "client_name",
] as const;

/** Config fields a registration never sets: they make a client part of the stack, an admin, or fix its secret. */
export const PRIVILEGED = ["internal", "admin", "manages", "client_secret_hash"] as const;

/**
 * What this server sets and shows: in a read (RFC 7592 §3), in a registration response besides (RFC 7591 §3.2.1:
 * the credentials, client_secret_expires_at). A registration sets none; an update may echo each unchanged.
 */
export const SERVER_SET = [
  "admin_client_id",
  "created_at",
  "updated_at",
  "client_id_issued_at",
  "registration_client_uri",
  "registration_access_token",
  "client_secret",
  "client_secret_expires_at",
] as const;

/**
 * Bounds of what a registration or an update may set, beyond the config schema's (the operator's file is trusted, a
 * request is not). Every replica and sidecar holds every record in memory and every token request reads one; within
 * these a client has room for any sensible use (a key rotation, a scope per dataset): past them, it is refused.
 */
export const METADATA_LIMITS = {
  /** Characters of `client_name`. */
  clientNameChars: 256,
  /** Keys of `jwks` (a rotation needs two). */
  jwksKeys: 16,
  /** Entries of `scope`, `audience` and `access_token_format`, and patterns of one scope template. */
  entries: MAX_SCOPES,
  /** Templates of `scope_templates`. */
  scopeTemplates: 16,
} as const;

/** The first member of `meta` beyond {@link METADATA_LIMITS} or the stack's own limits on a scope or audience, as `field: why`. */
export function metadataLimitProblem(meta: ClientConfig): string | undefined {
  const { clientNameChars, jwksKeys, entries, scopeTemplates } = METADATA_LIMITS;
  if ((meta.client_name?.length ?? 0) > clientNameChars) return `client_name: at most ${clientNameChars} characters`;
  if ((meta.jwks?.keys.length ?? 0) > jwksKeys) return `jwks: at most ${jwksKeys} keys`;
  const templates = Object.entries(meta.scope_templates);
  // Each list with its most entries and the most characters of one.
  const lists: Array<[string, readonly string[], number, number]> = [
    ["scope", meta.scope, entries, MAX_SCOPE_LENGTH],
    ["audience", meta.audience, entries, MAX_AUDIENCE_LENGTH],
    ["access_token_format", Object.keys(meta.access_token_format), entries, MAX_AUDIENCE_LENGTH],
    ["scope_templates", templates.map(([name]) => name), scopeTemplates, MAX_SCOPE_LENGTH],
    ...templates.map(([, patterns]): [string, readonly string[], number, number] => ["scope_templates", patterns, entries, MAX_SCOPE_LENGTH]),
  ];
  for (const [field, values, most, chars] of lists) {
    if (values.length > most) return `${field}: at most ${most} entries`;
    if (values.some((v) => v.length > chars)) return `${field}: at most ${chars} characters each`;
  }
  return undefined;
}

/** Server-set fields a registration refuses: values the config file could set, so a caller could think it set them. */
const REFUSED_AT_REGISTRATION: ReadonlySet<string> = new Set(["admin_client_id", "client_secret"]);

/** The registered client an update is checked against. */
export interface Registered {
  record: ManagedRecord;
  /** Its registration_client_uri (RFC 7592 §3). */
  uri: string;
}

const cannotSet = (field: string): OAuthError => new OAuthError("invalid_client_metadata", `${field} cannot be set by registration`);

/**
 * OpenID Connect Dynamic Client Registration §2: the JWK Set MUST NOT contain private or symmetric key values. A
 * registered set is stored in the clients bucket, which every exchanger and sidecar reads, and is shown by every
 * read: a private key sent by mistake, or a symmetric key (`oct`, a shared secret by nature), would be handed to all
 * of them, and whoever holds it could sign the client's assertions. The config file is held to the same predicate.
 * Each key must also be one that can verify an assertion here (see {@link verificationKeyProblem}).
 */
function refuseKeyValues(jwks: unknown): void {
  const keys = (jwks as { keys?: unknown } | null | undefined)?.keys;
  // Anything but a list of objects is the config schema's to refuse.
  if (!Array.isArray(keys)) return;
  for (const key of keys as unknown[]) {
    if (typeof key !== "object" || key === null) continue;
    if (publicJwkProblem(key) !== undefined) {
      throw new OAuthError("invalid_client_metadata", "jwks: public keys only, without private or symmetric key values");
    }
    const problem = verificationKeyProblem(key as Record<string, unknown>);
    if (problem) throw new OAuthError("invalid_client_metadata", `jwks: ${problem}`);
  }
}

/**
 * A jwks_uri naming an internal address (169.254.169.254, 10.0.0.7, [::1]) would have the issuer call into its own
 * network for whoever registered it: refused here, with a public name; a name is checked where it resolves, as the
 * issuer connects (jwks-fetch.ts in @sts/client-auth). Not a string, or not an https URL, is the config schema's.
 */
function refuseInternalJwksUri(jwksUri: unknown): void {
  const problem = typeof jwksUri === "string" ? jwksUriProblem(jwksUri) : undefined;
  if (problem) throw new OAuthError("invalid_client_metadata", `jwks_uri: ${problem}`);
}

/** The stored form of a registration access token. */
export function registrationTokenHash(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

/** Whether `token` is the registration access token stored as `hash`, compared in constant time. */
export function isRegistrationToken(hash: string | undefined, token: string): boolean {
  if (hash === undefined) return false;
  const stored = Buffer.from(hash, "base64url");
  const presented = createHash("sha256").update(token).digest();
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}

/** Whether `value` is what this server shows, or stores, as `field` of the registered client. */
async function isEcho(field: (typeof SERVER_SET)[number], value: unknown, { record, uri }: Registered): Promise<boolean> {
  switch (field) {
    case "admin_client_id":
      return value === record.admin_client_id;
    case "created_at":
    case "client_id_issued_at":
      return value === record.created_at;
    case "updated_at":
      return value === record.updated_at;
    case "registration_client_uri":
      return value === uri;
    case "registration_access_token":
      return typeof value === "string" && isRegistrationToken(record.registration_token_hash, value);
    case "client_secret":
      // RFC 7592 §2.2: a client_secret sent with an update MUST be the one issued.
      return typeof value === "string" && record.secret_hash !== undefined && (await verifySecret(record.secret_hash, value));
    case "client_secret_expires_at":
      // Secrets made here never expire (RFC 7591 §3.2.1: 0).
      return value === 0;
  }
}

/**
 * The registrable members of a registration (`registered` undefined) or an update request; refuses privileged ones,
 * server-set ones a registration carries or an update carries changed, `jwks` holding more than public keys, and a
 * `jwks_uri` whose host is an internal address. `client_id` is the caller's to handle.
 */
export async function registrableMetadata(meta: Record<string, unknown>, registered?: Registered): Promise<Record<string, unknown>> {
  for (const field of PRIVILEGED) if (Object.hasOwn(meta, field)) throw cannotSet(field);
  for (const field of SERVER_SET) {
    if (!Object.hasOwn(meta, field)) continue;
    // Without a registered client there is nothing to echo: a timestamp or URI the server sets anyway is ignored.
    if (registered ? !(await isEcho(field, meta[field], registered)) : REFUSED_AT_REGISTRATION.has(field)) throw cannotSet(field);
  }
  if (Object.hasOwn(meta, "jwks")) refuseKeyValues(meta.jwks);
  if (Object.hasOwn(meta, "jwks_uri")) refuseInternalJwksUri(meta.jwks_uri);
  const registrable: ReadonlySet<string> = new Set(REGISTRABLE);
  return Object.fromEntries(Object.entries(meta).filter(([field]) => registrable.has(field)));
}
