/**
 * Client authentication at the token, introspection and revocation
 * endpoints (RFC 6749 §2.3). Exactly one method per request: a request that
 * presents two is refused as invalid_request, so a weak method can never ride
 * along with a strong one.
 */
import type { OAuthError } from "@sts/errors";
import { invalidClient, invalidRequest } from "@sts/errors";
import { CLIENT_AUTHENTICATION_FAILED } from "./client-assertion.js";
import type { ClientRecord } from "./client-record.js";
import { verifySecret } from "./secret-hash.js";

/** Credentials as presented (the proto ClientAuthentication message). */
export interface PresentedCredentials {
  authorization?: string;
  client_id?: string;
  client_secret?: string;
  client_assertion_type?: string;
  client_assertion?: string;
  endpoint?: string;
}

/** Verifies a private_key_jwt client assertion; resolves to the client id. */
export type AssertionVerifier = (
  assertion: string,
  assertionType: string,
  claimedClientId: string | undefined,
  endpoint: string | undefined,
) => Promise<string>;

/** What authentication needs from its surroundings. */
export interface AuthenticateDeps {
  /** Looks a client up by id (from the watch-fed registry cache). */
  lookup: (clientId: string) => ClientRecord | undefined;
  /** private_key_jwt support; when absent, assertions are refused. */
  verifyAssertion?: AssertionVerifier;
}

/** The method a request used and the client it proved to be. */
export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientRecord["token_endpoint_auth_method"];
}

const MAX_CREDENTIAL = 4096;

/** Decodes RFC 6749 §2.3.1 Basic credentials (form-urlencoded, then base64). */
function parseBasic(header: string): { id: string; secret: string } {
  const credentials = basicCredentials(header);
  if (!credentials) throw invalidClient("malformed Basic credentials");
  return credentials;
}

/**
 * The client id and secret of `Basic` credentials (RFC 6749 §2.3.1: each form-encoded, then the pair base64), or
 * undefined when malformed. One credential has many spellings (the scheme's case, the spaces after it, any character
 * percent-escaped): whatever remembers a credential keys it on what this returns.
 */
export function basicCredentials(header: string): { id: string; secret: string } | undefined {
  // RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 ], so one or more spaces.
  const m = /^Basic +([A-Za-z0-9+/=_-]+)$/i.exec(header.trim());
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] as string, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  try {
    const formDecode = (s: string): string => decodeURIComponent(s.replace(/\+/g, " "));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * The `Authorization` value of client_secret_basic for `id` and `secret` (RFC 6749 §2.3.1: each encoded as
 * application/x-www-form-urlencoded, then the pair base64): the one encoder of what {@link basicCredentials} decodes.
 */
export function basicAuthorization(id: string, secret: string): string {
  // URLSearchParams serialises exactly as the form encoding does (space as "+", every reserved character escaped).
  const formEncode = (s: string): string => new URLSearchParams([["", s]]).toString().slice(1);
  return `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString("base64")}`;
}

/** Whether an Authorization header carries Basic credentials (for WWW-Authenticate). */
export function usesBasic(authorization: string | undefined): boolean {
  return !!authorization && /^Basic\s/i.test(authorization.trim());
}

/** Authenticates the calling client or throws invalid_client / invalid_request. */
export async function authenticateClient(creds: PresentedCredentials, deps: AuthenticateDeps): Promise<AuthenticatedClient> {
  const basic = !!creds.authorization;
  const post = !!creds.client_secret;
  const jwt = !!creds.client_assertion || !!creds.client_assertion_type;
  const methods = Number(basic) + Number(post) + Number(jwt);
  if (methods > 1) throw invalidRequest("more than one client authentication method used");
  for (const v of [creds.authorization, creds.client_id, creds.client_secret]) {
    if (v && v.length > MAX_CREDENTIAL) throw invalidClient(CLIENT_AUTHENTICATION_FAILED);
  }

  if (basic) {
    if (!usesBasic(creds.authorization)) throw invalidClient("unsupported authorization scheme");
    const { id, secret } = parseBasic(creds.authorization as string);
    if (creds.client_id && creds.client_id !== id) throw invalidRequest("client_id does not match the Authorization header");
    return checkSecret(deps.lookup(id), secret, "client_secret_basic");
  }
  if (post) {
    if (!creds.client_id) throw invalidRequest("client_id is required with client_secret");
    return checkSecret(deps.lookup(creds.client_id), creds.client_secret as string, "client_secret_post");
  }
  if (jwt) {
    if (!creds.client_assertion || !creds.client_assertion_type) throw invalidRequest("client_assertion and client_assertion_type go together");
    if (!deps.verifyAssertion) throw invalidClient("client assertions are not accepted here");
    const id = await deps.verifyAssertion(creds.client_assertion, creds.client_assertion_type, creds.client_id || undefined, creds.endpoint);
    const client = deps.lookup(id);
    if (!client || client.token_endpoint_auth_method !== "private_key_jwt") throw invalidClient(CLIENT_AUTHENTICATION_FAILED);
    return { client, method: "private_key_jwt" };
  }
  throw invalidClient("client authentication required");
}

async function checkSecret(
  client: ClientRecord | undefined,
  secret: string,
  method: "client_secret_basic" | "client_secret_post",
): Promise<AuthenticatedClient> {
  // One message for unknown client, wrong secret and wrong method: no client enumeration.
  const fail = (): OAuthError => invalidClient(CLIENT_AUTHENTICATION_FAILED);
  if (!client || !client.secret_hash) {
    // Spend comparable time on unknown clients so timing does not reveal which ids exist.
    await verifySecret(DUMMY_HASH, secret);
    throw fail();
  }
  const ok = await verifySecret(client.secret_hash, secret);
  if (!ok) throw fail();
  if (client.token_endpoint_auth_method !== method) throw fail();
  return { client, method };
}

const DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
