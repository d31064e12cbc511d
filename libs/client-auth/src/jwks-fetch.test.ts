/**
 * Fetching a client's jwks_uri against a real HTTPS server on loopback: no connection at all to an internal address
 * (a name resolving to one included, checked by the lookup the socket uses), unless the operator allows its network;
 * https only; no redirect followed; at most MAX_JWKS_BYTES read; abandoned when jose's signal fires.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LookupAddress } from "node:dns";
import { KeyServerAddresses, guardedLookup, keyServerFetch } from "./index.js";
import { startKeyServer } from "./key-server.fixture.js";
import type { KeyServer } from "./key-server.fixture.js";

const LOOPBACK = ["127.0.0.0/8", "::1/128"];
let server: KeyServer;

beforeAll(async () => {
  server = await startKeyServer();
  server.jwks = {
    keys: [{ kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", kid: "k1" }],
  };
});

afterAll(() => server.close());

/** jose's call of a custom fetch. */
const get = (fetch: ReturnType<typeof keyServerFetch>, url: string, signal: AbortSignal = AbortSignal.timeout(5_000)) =>
  fetch(url, { method: "GET", redirect: "manual", headers: new Headers({ accept: "application/json" }), signal });

/** How a fetch ended: the key set's kids, or the error's class and message. */
const outcome = (p: Promise<Response>): Promise<unknown> =>
  p.then(
    async (r) => ((await r.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid),
    (err: Error) => [err.name, err.message],
  );

describe("the lookup the key server's socket uses", () => {
  const resolve = (addresses: KeyServerAddresses, all: boolean) =>
    new Promise<unknown>((done) => guardedLookup(addresses)("localhost", { all }, (err, address) => done(err ? [err.name, err.message] : address)));

  it("fails for a name resolving to an internal address, and answers it when its network is allowed, one or all", async () => {
    expect(await resolve(new KeyServerAddresses(), false)).toEqual(["KeyServerRefused", expect.stringMatching(/is not a public address/)]);
    expect(await resolve(new KeyServerAddresses(), true)).toEqual(["KeyServerRefused", expect.stringMatching(/is not a public address/)]);
    const allowed = new KeyServerAddresses(LOOPBACK);
    expect(await resolve(allowed, false)).toMatch(/^(127\.0\.0\.1|::1)$/);
    const all = (await resolve(allowed, true)) as LookupAddress[];
    expect(all.length).toBeGreaterThan(0);
    expect(all.filter((a) => a.address !== "::1" && !a.address.startsWith("127."))).toEqual([]);
  });
});

describe("a client's key set fetched from its jwks_uri", () => {
  it("is never fetched from an internal address: no connection is opened, to a name resolving to one or to an address", async () => {
    const fetch = keyServerFetch({ ca: server.ca });
    const before = server.connections;
    for (const host of ["localhost", "127.0.0.1", "[::ffff:127.0.0.1]"]) {
      expect(await outcome(get(fetch, `https://${host}:${server.port}/jwks`))).toEqual(["KeyServerRefused", expect.stringMatching(/is not a public address/)]);
    }
    expect(server.connections).toBe(before);
  });

  it("is fetched from a network the operator allows, by name and by address", async () => {
    const fetch = keyServerFetch({ allowPrivateNetworks: LOOPBACK, ca: server.ca });
    expect(await outcome(get(fetch, `https://localhost:${server.port}/jwks`))).toEqual(["k1"]);
    expect(await outcome(get(fetch, `https://127.0.0.1:${server.port}/jwks`))).toEqual(["k1"]);
  });

  it("is fetched over https only", async () => {
    const fetch = keyServerFetch({ allowPrivateNetworks: LOOPBACK, ca: server.ca });
    const before = server.connections;
    expect(await outcome(get(fetch, `http://localhost:${server.port}/jwks`))).toEqual(["KeyServerRefused", "a jwks_uri is fetched over https only"]);
    expect(server.connections).toBe(before);
  });

  it("follows no redirect, and answers nothing but 200", async () => {
    const fetch = keyServerFetch({ allowPrivateNetworks: LOOPBACK, ca: server.ca });
    const fetched = server.hits.get("/jwks") ?? 0;
    expect(await outcome(get(fetch, `https://localhost:${server.port}/redirect`))).toEqual([
      "KeyServerRefused",
      "the key server answered 302, not 200 (redirects are not followed)",
    ]);
    expect(server.hits.get("/jwks") ?? 0).toBe(fetched);
    expect(await outcome(get(fetch, `https://localhost:${server.port}/missing`))).toEqual([
      "KeyServerRefused",
      "the key server answered 404, not 200 (redirects are not followed)",
    ]);
  });

  it("is read up to 64 KiB, whether the answer announces its length or not", async () => {
    const fetch = keyServerFetch({ allowPrivateNetworks: LOOPBACK, ca: server.ca });
    for (const path of ["/large", "/chunked"]) {
      expect(await outcome(get(fetch, `https://localhost:${server.port}${path}`))).toEqual(["KeyServerRefused", "the key set is larger than 65536 bytes"]);
    }
  });

  it("is abandoned when jose's signal fires (its timeout), failing with the signal's reason", async () => {
    const fetch = keyServerFetch({ allowPrivateNetworks: LOOPBACK, ca: server.ca });
    const controller = new AbortController();
    const reason = new Error("timed out");
    server.onHang = () => controller.abort(reason);
    try {
      await expect(get(fetch, `https://localhost:${server.port}/hang`, controller.signal)).rejects.toBe(reason);
    } finally {
      server.onHang = undefined;
    }
  });
});
