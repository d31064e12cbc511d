/**
 * A key set server that answers 200 with something that is no JWK Set (a proxy's HTML error page, an empty body, JSON
 * of another shape) has failed as surely as one that answers 503: jose keeps no record of either and fetches again for
 * every verification that needs keys it lacks, so the hold-off after a failed fetch must cover it too, or every token
 * (each naming a made-up kid, if need be) costs one request to that server.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import type { FetchImplementation, FlattenedJWSInput } from "jose";
import { KEY_SET_RETRY_MS, KeySourceUnavailable, holdOffAfterFailure, remoteKeySet, verifyJwt } from "./index.js";

const init = { method: "GET" as const, headers: new Headers(), redirect: "manual" as const, signal: new AbortController().signal };
const token = { payload: "", signature: "" } as FlattenedJWSInput;

/** A plain HTTP key set server answering every request with `status` and `body`; counts the requests. */
async function keyServer(body: string, status = 200): Promise<{ url: URL; asked: () => number; close: () => void }> {
  let asked = 0;
  const server = createServer((_req, res) => {
    asked++;
    res.writeHead(status, { "content-type": "text/html" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`),
    asked: () => asked,
    close: () => server.close(),
  };
}

describe("a key set server answering 200 with no JWK Set", () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  it.each([
    ["an HTML error page", "<html><body>maintenance</body></html>"],
    ["an empty body", ""],
    ["JSON of another shape", JSON.stringify({ keys: "none" })],
    ["a JSON array", JSON.stringify([{ kty: "EC" }])],
  ])("is held off as a failed fetch: %s is asked for once, not once per token", async (_name, body) => {
    const server = await keyServer(body);
    closers.push(server.close);
    const keys = remoteKeySet(server.url, { cooldownDuration: 0, timeoutDuration: 2_000 }, "a test issuer");
    for (let i = 0; i < 10; i++) await expect(keys({ alg: "ES256", kid: `made-up-${i}` }, token)).rejects.toBeInstanceOf(KeySourceUnavailable);
    expect(server.asked()).toBe(1);
  });

  it("is asked again once the hold-off has passed, and a JWK Set then ends it", async () => {
    let clock = 0;
    const bodies = ["<html>bad gateway</html>", JSON.stringify({ keys: [] }), JSON.stringify({ keys: [] })];
    let asked = 0;
    const fake: FetchImplementation = () => Promise.resolve(new Response(bodies[asked++], { status: 200 }));
    const held = holdOffAfterFailure(fake, KEY_SET_RETRY_MS, () => clock);
    await expect(held("https://keys.example/jwks", init)).rejects.toThrow(/not a JWK Set/);
    clock += KEY_SET_RETRY_MS - 1;
    await expect(held("https://keys.example/jwks", init)).rejects.toThrow(/not asked again/);
    expect(asked).toBe(1);
    clock += 1;
    expect(await (await held("https://keys.example/jwks", init)).json()).toEqual({ keys: [] });
    // A JWK Set holds nothing off.
    expect((await held("https://keys.example/jwks", init)).status).toBe(200);
    expect(asked).toBe(3);
  });

  it("hands a JWK Set on to jose whole: its keys verify", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const server = await keyServer(JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: "k1", alg: "ES256" }] }));
    closers.push(server.close);
    const keys = remoteKeySet(server.url, { timeoutDuration: 2_000 }, "a test issuer");
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({ sub: "a", jti: "j" })
      .setProtectedHeader({ alg: "ES256", kid: "k1", typ: "at+jwt" })
      .setIssuer("https://idp.test")
      .setAudience("svc")
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
    const verified = await verifyJwt(jwt, {
      key: keys,
      algorithms: ["ES256"],
      issuer: "https://idp.test",
      audience: "svc",
      typ: "at+jwt",
      clockTolerance: 5,
      now: () => now,
      maxBytes: 8192,
    });
    expect(verified.payload.sub).toBe("a");
  });
});
