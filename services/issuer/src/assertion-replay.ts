/**
 * Single use of assertion jtis across replicas: a KV `create` (fails when the
 * key exists) keyed by a digest of (namespace, client id, jti). The bucket's
 * max age outlives every accepted assertion (exp is bounded), after which an
 * old assertion is refused by its exp anyway.
 */
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import { isWriteConflict } from "@sts/nats";
import type { JtiRecorder } from "@sts/client-auth";

/** A recorder for one namespace ("client_assertion" or "assertion"). */
export function kvJtiRecorder(kv: KV, namespace: string): JtiRecorder {
  return async (clientId, jti, exp) => {
    const key = createHash("sha256").update(namespace).update("\0").update(clientId).update("\0").update(jti).digest("base64url");
    try {
      await kv.create(key, JSON.stringify({ exp }));
      return true;
    } catch (err) {
      if (isWriteConflict(err)) return false;
      throw err;
    }
  };
}
