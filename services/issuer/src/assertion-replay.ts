/**
 * Single use of assertion jtis across replicas: a KV `create` (fails when the
 * key exists) keyed by a digest of (key space, client id, jti). The bucket's
 * max age outlives every accepted assertion (exp is bounded), after which an
 * old assertion is refused by its exp anyway.
 *
 * Every JWT a client signs shares one key space, whichever parameter carries
 * it: a jti names one JWT of its issuer (RFC 7519 §4.1.7), and the replay
 * cache is keyed on (iss, jti) (SECURITY.md). Kept apart by parameter, a
 * client assertion whose `sub` is its client (as every one's is) could be
 * spent a second time as a jwt-bearer `assertion`, in the same request
 * even, turning one captured credential for one access token into a refresh
 * family. The dedicated issuer's unsigned assertions, which no client signs
 * and which are spent in their admin's name, keep a space of their own.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { isWriteConflict } from "@sts/nats";
import type { JtiRecorder } from "@sts/client-auth";

/** The replay namespaces: a signed JWT's role ("client_assertion" or "assertion"), or "dti" for unsigned ones. */
export type JtiNamespace = "client_assertion" | "assertion" | "dti";

/**
 * The key space of each namespace. Signed JWTs share the one client assertions always had, so that their records
 * written before this was so stay in force.
 */
const KEY_SPACES: Readonly<Record<JtiNamespace, string>> = { client_assertion: "client_assertion", assertion: "client_assertion", dti: "dti" };

/** A recorder for one namespace. */
export function kvJtiRecorder(kv: KV, namespace: JtiNamespace): JtiRecorder {
  const space = KEY_SPACES[namespace];
  return async (clientId, jti, exp) => {
    const key = createHash("sha256").update(space).update("\0").update(clientId).update("\0").update(jti).digest("base64url");
    try {
      await kv.create(key, JSON.stringify({ exp }));
      return true;
    } catch (err) {
      if (isWriteConflict(err)) return false;
      throw err;
    }
  };
}
