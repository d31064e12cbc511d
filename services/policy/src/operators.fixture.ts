/** Test fixture (left out of the build): operator access that knows the break-glass secret only, no access token. */
import { createLocalJWKSet } from "jose";
import { operatorAccess } from "./operator-access.js";

/** Operator access for tests: `secret` is the break-glass credential; every access token fails (an empty key set). */
export function breakGlassOnly(secret: string): ReturnType<typeof operatorAccess> {
  return operatorAccess({
    breakGlassToken: secret,
    tokens: {
      issuer: "https://sts.test",
      audience: "sts-policy",
      keys: createLocalJWKSet({ keys: [] }),
      revocations: { isRevoked: () => false, subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false },
    },
    readScope: "policy:read",
    writeScope: "policy:write",
  });
}
