/** The bearer credential of an HTTP `Authorization` header or its gRPC metadata twin. */
import { OAuthError } from "@sts/errors";

/**
 * The token of `Bearer <token>` (RFC 6750 §2.1: a b64token), the scheme matched without regard to case and followed
 * by one or more spaces (RFC 9110 §11.1, §11.4); undefined when absent or malformed.
 */
export function bearerToken(header: string | undefined): string | undefined {
  return /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header ?? "")?.[1];
}

/**
 * Whatever follows the `Bearer` scheme (case-insensitive), for a shared secret compared as a whole (an operator's
 * break-glass secret need not be a b64token); undefined without the scheme.
 */
export function bearerCredential(header: string | undefined): string | undefined {
  return /^bearer +(.+)$/is.exec(header ?? "")?.[1];
}

/**
 * No bearer credential at all: no Authorization field, or one of another scheme. RFC 6750 §3.1 says the challenge of
 * such a request names no error (the client may not have known authentication was needed); its status and body are
 * invalid_token's.
 */
export class NoBearerCredential extends OAuthError {
  constructor(description: string) {
    super("invalid_token", description);
  }
}

/** The token of `Authorization: Bearer <token>`; throws {@link NoBearerCredential} without one, invalid_token for a malformed one. */
export function requireBearer(authorization: string | undefined, description: string): string {
  const token = bearerToken(authorization);
  if (token) return token;
  if (!authorization || !/^bearer(?:\s|$)/i.test(authorization)) throw new NoBearerCredential(description);
  throw new OAuthError("invalid_token", "malformed bearer credential");
}
