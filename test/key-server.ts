/**
 * An HTTPS server on loopback standing in for a client's key server (its jwks_uri), with a test CA of its own that
 * the issuer is told to trust (NODE_EXTRA_CA_CERTS), as a deployment adds a private CA.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { CryptoKey } from "jose";
import { makeTestCa } from "@sts/testkit";
import { postForm } from "./harness.js";

/** A running key server. */
export interface KeyServer {
  port: number;
  /** The CA file its certificate chains to: give it to the issuer as NODE_EXTRA_CA_CERTS. */
  caFile: string;
  /** Counts the TCP connections it accepted. */
  connections(): number;
  /** Closes it, its open connections too, and removes its files. */
  close(): Promise<void>;
}

/** Starts a key server answering every request with `answer`, its certificate issued for `localhost`. */
export async function startKeyServer(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<KeyServer> {
  const dir = mkdtempSync(join(tmpdir(), "sts-key-server-"));
  const ca = makeTestCa(dir, "keys-ca");
  const tls = ca.issue("keys");
  const server = createServer({ cert: readFileSync(tls.cert_file), key: readFileSync(tls.key_file) }, answer);
  let connections = 0;
  server.on("connection", () => void (connections += 1));
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  return {
    port,
    caFile: ca.ca_file,
    connections: () => connections,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A private_key_jwt client whose keys are at the key server on `port`, named `localhost`: only the address the name
 * resolves to, as the issuer connects, can tell that it is internal.
 */
export const jwksUriClient = (clientId: string, port: number): Record<string, unknown> => ({
  client_id: clientId,
  token_endpoint_auth_method: "private_key_jwt",
  jwks_uri: `https://localhost:${port}/jwks`,
  scope: ["read"],
  audience: ["storage"],
});

/** Claims of a client assertion by `clientId` for `audience`, fresh (a new jti, a minute to live). */
export function assertionClaims(clientId: string, audience: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: clientId, sub: clientId, aud: audience, jti: randomUUID(), iat: now, exp: now + 60 };
}

/** A client_credentials request at `tokenUrl` authenticated by an assertion of `claims` signed with `key` (kid k1), typed `typ` (none when undefined). */
export async function assertionAuthenticated(
  tokenUrl: string,
  key: CryptoKey,
  claims: Record<string, unknown>,
  typ?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const assertion = await new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k1", ...(typ !== undefined && { typ }) }).sign(key);
  return postForm(tokenUrl, {
    grant_type: "client_credentials",
    client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    client_assertion: assertion,
  });
}
