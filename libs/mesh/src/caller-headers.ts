/**
 * What a workload is told about a verified caller, as HTTP headers or gRPC
 * metadata: `x-mesh-subject`, `x-mesh-subject-issuer` (who vouches for the
 * subject: this stack, or the trusted issuer whose token was exchanged),
 * `x-mesh-scope`, `x-mesh-actors` (newest actor first, comma-separated),
 * `x-mesh-client-id`, `x-mesh-token-id`, and `x-mesh-peer` (the SPIFFE ID of
 * the sidecar the call came from, when it came over mutual TLS with an
 * X.509-SVID: who sent the bytes, where the others say whose token it was).
 *
 * Identifiers are any string (a `sub` from a jwt-bearer assertion, a client
 * id an admin chose), but a header value is not: grpc-js throws on anything
 * outside printable ASCII, Node's HTTP server on anything above U+00FF, and a
 * comma inside one actor would read as two actors. So every identifier is
 * percent-encoded (UTF-8, RFC 3986) except for the characters below, and a
 * workload decodes with `decodeURIComponent` (per element for actors).
 */
import { OAuthError, isWellFormed } from "@sts/errors";
import { subjectIssuer } from "@sts/jwt";
import type { VerifiedCaller } from "./inbound.js";

/** Header names the workload receives. */
export const MESH_HEADERS = {
  SUBJECT: "x-mesh-subject",
  SUBJECT_ISSUER: "x-mesh-subject-issuer",
  SCOPE: "x-mesh-scope",
  ACTORS: "x-mesh-actors",
  CLIENT: "x-mesh-client-id",
  TOKEN_ID: "x-mesh-token-id",
  PEER: "x-mesh-peer",
} as const;

/** The headers every verified call gets (all but PEER, which only a call over mutual TLS has). */
type CallerHeaderName = Exclude<(typeof MESH_HEADERS)[keyof typeof MESH_HEADERS], typeof MESH_HEADERS.PEER>;

// RFC 3986 unreserved and the sub-delims and gen-delims common in ids (`admin:test/vo_1`, `spiffe://…`), minus `,` and `%`.
const KEPT = /[A-Za-z0-9\-._~:/@!$&'()*+;=]/;
const encoder = new TextEncoder();

/**
 * An identifier as a header value: characters outside KEPT become %XX of
 * their UTF-8 bytes. A lone surrogate has no UTF-8 form (two different ones
 * would both come out as U+FFFD, one identity for two), so it is refused.
 */
export function headerSafe(value: string): string {
  if (!isWellFormed(value)) throw new OAuthError("invalid_token", "the token names an identifier that is not well-formed Unicode");
  let out = "";
  for (const ch of value) {
    if (KEPT.test(ch)) out += ch;
    else for (const byte of encoder.encode(ch)) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The headers about `caller`; scopes are RFC 6749 scope tokens (printable ASCII) and go as they are. */
export function callerHeaders(caller: VerifiedCaller): Record<CallerHeaderName, string> {
  return {
    [MESH_HEADERS.SUBJECT]: headerSafe(caller.sub),
    [MESH_HEADERS.SUBJECT_ISSUER]: headerSafe(subjectIssuer(caller.claims)),
    [MESH_HEADERS.SCOPE]: caller.scopes.join(" "),
    [MESH_HEADERS.ACTORS]: caller.actors.map(headerSafe).join(","),
    [MESH_HEADERS.CLIENT]: headerSafe(caller.claims.client_id),
    [MESH_HEADERS.TOKEN_ID]: headerSafe(caller.claims.jti),
  };
}

/** The header naming the mutual TLS peer by its SPIFFE ID; none for a call over plaintext or from a certificate without one. */
export function peerHeaders(spiffeId: string | undefined): Partial<Record<typeof MESH_HEADERS.PEER, string>> {
  return spiffeId === undefined ? {} : { [MESH_HEADERS.PEER]: headerSafe(spiffeId) };
}
