/**
 * The metadata and the JWKS are public documents a browser-based client on any origin reads (CORS), while the
 * endpoints that take credentials stay closed to other origins. Through a real gateway and a real gRPC stand-in for
 * the issuer's GetJwks.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unary } from "@sts/grpc";
import { JWKS_EDGE_CACHE_SECONDS, JWKS_MAX_AGE_SECONDS } from "@sts/keys";
import { waitFor } from "@sts/testkit";
import { standInTokenService, testGateway } from "./gateway.fixture.js";
import type { StandIn } from "./gateway.fixture.js";

const JWKS = JSON.stringify({ keys: [{ kty: "EC", kid: "k1", alg: "ES256", crv: "P-256", x: "x", y: "y" }] });
const ORIGIN = "https://app.example";

let issuer: StandIn;
let gateway: Awaited<ReturnType<typeof testGateway>>;

beforeAll(async () => {
  issuer = await standInTokenService({ GetJwks: unary(async () => ({ jwks_json: JWKS })) });
  gateway = await testGateway({ token: issuer.client });
});

afterAll(async () => {
  await gateway.close();
  await issuer.close();
});

const PUBLISHED = ["/oauth2/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"];

describe("CORS on the public documents", () => {
  it("lets any origin read the metadata and the JWKS", async () => {
    for (const path of PUBLISHED) {
      const res = await fetch(`${gateway.url}${path}`, { headers: { origin: ORIGIN } });
      expect([path, res.status, res.headers.get("access-control-allow-origin")]).toEqual([path, 200, "*"]);
      // Never together with credentials: the Fetch standard refuses `*` with them, and these documents need none.
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    }
  });

  it("answers a preflight for them with the methods they take", async () => {
    for (const path of PUBLISHED) {
      const res = await fetch(`${gateway.url}${path}`, {
        method: "OPTIONS",
        headers: { origin: ORIGIN, "access-control-request-method": "GET" },
      });
      expect([path, res.status]).toEqual([path, 204]);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("access-control-allow-methods")).toBe("GET, HEAD");
      expect(res.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
      expect(await res.text()).toBe("");
    }
  });

  it("gives no CORS to the endpoints that take credentials, nor to the probes", async () => {
    const token = await fetch(`${gateway.url}/oauth2/token`, {
      method: "POST",
      headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials",
    });
    expect(token.status).toBeGreaterThanOrEqual(400);
    expect(token.headers.get("access-control-allow-origin")).toBeNull();
    for (const [method, path] of [
      ["OPTIONS", "/oauth2/token"],
      ["OPTIONS", "/oauth2/userinfo"],
      ["OPTIONS", "/healthz"],
      ["GET", "/healthz"],
    ] as const) {
      const res = await fetch(`${gateway.url}${path}`, { method, headers: { origin: ORIGIN, "access-control-request-method": "POST" } });
      expect([method, path, res.headers.get("access-control-allow-origin")]).toEqual([method, path, null]);
      if (method === "OPTIONS") expect([path, res.status]).toEqual([path, 405]);
    }
  });
});

describe("the JWKS while the issuer does not answer", () => {
  it("is the last one fetched, marked to be fetched again soon, rather than a 503", async () => {
    let calls = 0;
    let down = false;
    const flaky = await standInTokenService({
      GetJwks: unary(async () => {
        calls++;
        if (down) throw new Error("issuer down");
        return { jwks_json: JWKS };
      }),
    });
    const edge = await testGateway({ token: flaky.client });
    try {
      const first = await fetch(`${edge.url}/oauth2/jwks`);
      expect([first.status, first.headers.get("cache-control")]).toEqual([200, `public, max-age=${JWKS_MAX_AGE_SECONDS}`]);
      down = true;
      // Once the gateway's copy is past its reuse, a request fetches again, and that fetch fails.
      const stale = await waitFor(
        async () => {
          const res = await fetch(`${edge.url}/oauth2/jwks`);
          return calls > 1 ? res : undefined;
        },
        { timeoutMs: (JWKS_EDGE_CACHE_SECONDS + 5) * 1000, intervalMs: 200, message: "the gateway never fetched the key set again" },
      );
      expect([stale.status, stale.headers.get("cache-control"), await stale.text()]).toEqual([200, `public, max-age=${JWKS_EDGE_CACHE_SECONDS}`, JWKS]);
    } finally {
      await edge.close();
      await flaky.close();
    }
  }, 30_000);
});
