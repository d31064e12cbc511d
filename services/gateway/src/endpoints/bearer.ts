/** The bearer credential of a request to a protected resource of the gateway (UserInfo, client registration). */
import { OAuthError } from "@sts/errors";
import { bearerToken } from "@sts/grpc";

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
