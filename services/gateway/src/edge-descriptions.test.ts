/**
 * What a public client reads of a refusal: a 4xx keeps the issuer's description (it says what to fix), a 5xx carries a
 * fixed one, since the description inside the stack names internal parts and their state. Through a real gateway and a
 * real gRPC stand-in for the issuer's TokenBatch, which answers each item by the scope it asks for.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { standInIssuer, testGateway } from "./gateway.fixture.js";

/** The stand-in issuer's answer to an item, by its scope. */
const ANSWERS: Record<string, { code: string; description: string; retry_after: number }> = {
  down: { code: "temporarily_unavailable", description: "policy service answered from version 3, behind 5 of sts_policies", retry_after: 3 },
  bug: { code: "server_error", description: "the issuer refused the exchanger's own credentials", retry_after: 0 },
  wide: { code: "invalid_scope", description: "scope wide is not allowed for this client", retry_after: 0 },
};

let issuer: Awaited<ReturnType<typeof standInIssuer>>;
let gateway: Awaited<ReturnType<typeof testGateway>>;

beforeAll(async () => {
  issuer = await standInIssuer(async (req) => ({
    results: req.items.map((i) => ({ error: ANSWERS[i.request?.scope ?? ""] ?? { code: "server_error", description: "?", retry_after: 0 } })),
  }));
  gateway = await testGateway({ token: issuer.client });
});

afterAll(async () => {
  await gateway.close();
  await issuer.close();
});

/** A client_credentials request for `scope`: the status, Retry-After and the OAuth error body. */
async function refusal(scope: string): Promise<[number, string | null, unknown]> {
  const r = await fetch(`${gateway.url}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${btoa("svc-a:secret-of-svc-a-01")}` },
    body: `grant_type=client_credentials&scope=${scope}`,
  });
  return [r.status, r.headers.get("retry-after"), await r.json()];
}

describe("a refusal's description at the gateway", () => {
  it("is a fixed one for a 503, which keeps its Retry-After, never the stack's own", async () => {
    expect(await refusal("down")).toEqual([
      503,
      "3",
      { error: "temporarily_unavailable", error_description: "the service is temporarily unavailable; retry later" },
    ]);
  });

  it("is a fixed one for a 500", async () => {
    expect(await refusal("bug")).toEqual([500, null, { error: "server_error", error_description: "internal error" }]);
  });

  it("is the issuer's own for a 4xx: it says what the client should change", async () => {
    expect(await refusal("wide")).toEqual([400, null, { error: "invalid_scope", error_description: "scope wide is not allowed for this client" }]);
  });
});
