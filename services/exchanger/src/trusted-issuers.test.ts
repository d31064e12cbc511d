/**
 * A trusted issuer's JWK Set fetched over real HTTP on loopback: a set of ordinary size verifies the provider's
 * tokens, and one larger than any key set is not read (the exchange fails closed as for an unreachable set).
 */
import { createServer } from "node:http";
import type { Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import type { CryptoKey, JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeySourceUnavailable, TokenRejected, verifyJwt } from "@sts/jwt";
import { TrustedIssuers } from "./trusted-issuers.js";

const KID = "idp-1";
let server: Server;
let base: string;
let key: CryptoKey;
let publicJwk: JWK;

/** A key set holding the provider's key and, to make it `fillerKeys` keys long, copies of it under other kids. */
const keySet = (fillerKeys: number): string =>
  JSON.stringify({
    keys: [{ ...publicJwk, kid: KID, alg: "ES256", use: "sig" }, ...Array.from({ length: fillerKeys }, (_, i) => ({ ...publicJwk, kid: `filler-${i}` }))],
  });

/** Writes a body in 16 KiB chunks, without Content-Length (chunked), or with it. */
function send(res: ServerResponse, body: string, announce: boolean): void {
  res.writeHead(200, { "content-type": "application/json", ...(announce && { "content-length": Buffer.byteLength(body) }) });
  for (let i = 0; i < body.length; i += 16_384) {
    res.write(body.slice(i, i + 16_384));
  }
  res.end();
}

beforeAll(async () => {
  const pair = await generateKeyPair("ES256");
  key = pair.privateKey;
  publicJwk = await exportJWK(pair.publicKey);
  // About 160 bytes a key: 10 keys is an ordinary set, 20,000 keys some 3 MB.
  const ordinary = keySet(10);
  const huge = keySet(20_000);
  server = createServer((req, res) => {
    if (req.url === "/ordinary") return send(res, ordinary, true);
    if (req.url === "/huge-announced") return send(res, huge, true);
    if (req.url === "/huge-chunked") return send(res, huge, false);
    res.writeHead(404).end();
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  base = `http://127.0.0.1:${port}`;
});

afterAll(
  () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
);

/** Verifies a token of issuer `iss` with the keys TrustedIssuers fetches from `path`. */
async function verifyWithKeySetAt(path: string, iss: string): Promise<unknown> {
  const trusted = new TrustedIssuers([{ issuer: iss, jwks_uri: `${base}${path}`, algorithms: ["ES256"], typ: ["at+jwt"], claims: {} }]);
  const issuer = trusted.get(iss);
  if (!issuer) throw new Error("issuer not configured");
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ iss, sub: "alice", aud: "edge", jti: "j1", iat: now, exp: now + 60 })
    .setProtectedHeader({ alg: "ES256", kid: KID, typ: "at+jwt" })
    .sign(key);
  return verifyJwt(token, { key: issuer.keys, algorithms: issuer.algorithms, issuer: iss, clockTolerance: 0, now: () => now, maxBytes: 8192 });
}

describe("a trusted issuer's JWK Set", () => {
  it("of ordinary size is fetched and verifies the provider's tokens", async () => {
    await expect(verifyWithKeySetAt("/ordinary", "https://ordinary.test.example")).resolves.toMatchObject({ payload: { sub: "alice" } });
  });

  it.each([
    ["announced by its Content-Length", "/huge-announced"],
    ["sent in chunks without a length", "/huge-chunked"],
  ])("larger than any key set (%s) is not read into memory: the key source is unavailable, nothing verifies", async (_, path) => {
    const refusal = await verifyWithKeySetAt(path, `https://huge${path.replace("/", ".")}.test.example`).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(TokenRejected);
    expect((refusal as TokenRejected).cause).toBeInstanceOf(KeySourceUnavailable);
  });
});
