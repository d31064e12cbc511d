/**
 * A flood of unverified client secrets cannot hold up clients whose secret the issuer accepted: through a real gateway
 * and a real gRPC stand-in for the issuer's TokenBatch that holds every batch with an unverified secret (as scrypt
 * queued behind a flood of wrong secrets would) until the test lets it go.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "@sts/testkit";
import { standInIssuer, testGateway } from "./gateway.fixture.js";

const GOOD = `Basic ${btoa("svc-a:good-secret-000001")}`;
const wrong = (n: number): string => `Basic ${btoa(`svc-a:wrong-secret-${n}`)}`;

/** Held batches (those with an item whose secret is not GOOD), each released by its function. */
const held: Array<() => void> = [];
let issuer: Awaited<ReturnType<typeof standInIssuer>>;
let gateway: Awaited<ReturnType<typeof testGateway>>;

beforeAll(async () => {
  issuer = await standInIssuer(async (req) => {
    const good = (i: (typeof req.items)[number]): boolean => i.request?.client?.authorization === GOOD;
    if (!req.items.every(good)) await new Promise<void>((release) => held.push(release));
    return {
      results: req.items.map((i) =>
        good(i)
          ? { response: { access_token: "at", token_type: "Bearer", expires_in: "300" } }
          : { error: { code: "invalid_client", description: "client authentication failed", retry_after: 0 } },
      ),
    };
  });
  gateway = await testGateway({ token: issuer.client });
});

afterEach(() => held.splice(0).forEach((release) => release()));

afterAll(async () => {
  await gateway.close();
  await issuer.close();
});

/** POSTs a client_credentials request with this Authorization; resolves with the status and the OAuth error, if any. */
async function token(authorization: string): Promise<{ status: number; error?: string }> {
  const r = await fetch(`${gateway.url}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization },
    body: "grant_type=client_credentials",
  });
  const body = (await r.json()) as { error?: string };
  return { status: r.status, ...(body.error && { error: body.error }) };
}

describe("token requests in two lanes", () => {
  it("answers a client whose secret the issuer accepted while every batch of unverified secrets is held", async () => {
    expect(await token(GOOD)).toEqual({ status: 200 });
    // Both batch slots taken by held batches, and more waiting behind them.
    const flood = [token(wrong(1))];
    await waitFor(() => held.length === 1, { message: "the first unverified batch never reached the issuer" });
    flood.push(token(wrong(2)));
    await waitFor(() => held.length === 2, { message: "the second unverified batch never reached the issuer" });
    flood.push(token(wrong(3)), token(wrong(4)));
    // Answered with nothing released: it never waited behind them.
    expect(await token(GOOD)).toEqual({ status: 200 });
    expect(held).toHaveLength(2);
    held.splice(0).forEach((release) => release());
    await waitFor(() => held.length === 1, { message: "the waiting unverified requests never left" });
    held.splice(0).forEach((release) => release());
    expect(await Promise.all(flood)).toEqual(Array.from({ length: 4 }, () => ({ status: 401, error: "invalid_client" })));
  });

  it("refuses unverified requests past the lane's queue with 503 at once, holding no more of them", async () => {
    expect(await token(GOOD)).toEqual({ status: 200 });
    const answered: Array<{ status: number; error?: string }> = [];
    const send = (n: number): Promise<unknown> => token(wrong(n)).then((r) => answered.push(r));
    const flood = [send(1)];
    await waitFor(() => held.length === 1, { message: "the first unverified batch never reached the issuer" });
    flood.push(send(2));
    await waitFor(() => held.length === 2, { message: "the second unverified batch never reached the issuer" });
    flood.push(...Array.from({ length: 300 }, (_, i) => send(100 + i)));
    // 256 wait behind the two held batches; the 44 past them are answered although nothing was released.
    await waitFor(() => answered.length === 44, { timeoutMs: 10_000, message: "the requests past the queue were not refused at once" });
    expect(answered).toEqual(Array.from({ length: 44 }, () => ({ status: 503, error: "temporarily_unavailable" })));
    expect(await token(GOOD)).toEqual({ status: 200 });
    expect(answered).toHaveLength(44);
    let all = false;
    void Promise.all(flood).then(() => (all = true));
    await waitFor(() => (held.splice(0).forEach((release) => release()), all), { timeoutMs: 10_000, message: "the queued requests never left" });
    expect(answered.filter((r) => r.status === 401)).toHaveLength(258);
  });
});
