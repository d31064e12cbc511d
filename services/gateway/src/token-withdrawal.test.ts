/**
 * A token request that still waits for a batch slot when its client leaves, or when the gateway's deadline passes, is
 * never sent to the issuer: it would be signed and recorded for nobody, and spend what the client retries with (a
 * refresh token's rotation, an assertion's jti). Through a real gateway and a real gRPC stand-in for the issuer's
 * TokenBatch that holds every batch with a `hold` scope until the test lets it go, and records every item it got.
 */
import { connect } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TokenServiceClient } from "@sts/proto";
import { waitFor } from "@sts/testkit";
import { standInIssuer, testGateway } from "./gateway.fixture.js";

const AUTHORIZATION = `Basic ${btoa("svc-a:secret-of-svc-a-01")}`;

/** The scope of every item the stand-in received, in order. */
const received: string[] = [];
/** Held batches, each released by its function. */
const held: Array<() => void> = [];
let issuer: Awaited<ReturnType<typeof standInIssuer>>;
let client: TokenServiceClient;
const gateways: Array<Awaited<ReturnType<typeof testGateway>>> = [];

beforeAll(async () => {
  issuer = await standInIssuer(async (req) => {
    const scopes = req.items.map((i) => i.request?.scope ?? "");
    received.push(...scopes);
    if (scopes.some((s) => s.startsWith("hold"))) await new Promise<void>((release) => held.push(release));
    return { results: req.items.map(() => ({ response: { access_token: "at", token_type: "Bearer", expires_in: "300" } })) };
  });
  client = issuer.client;
});

afterEach(async () => {
  held.splice(0).forEach((release) => release());
  await Promise.all(gateways.splice(0).map((g) => g.close()));
  received.length = 0;
});

afterAll(async () => {
  await issuer.close();
});

/** A token request's form asking for `scope`, with `padding` bytes of assertion (passed on to the issuer). */
const form = (scope: string, padding = 0): string => `grant_type=client_credentials&scope=${scope}${padding ? `&assertion=${"a".repeat(padding)}` : ""}`;

/** POSTs a token request; resolves with the status and the OAuth error body, if any. */
async function token(url: string, body: string): Promise<{ status: number; error?: string; error_description?: string }> {
  const r = await fetch(`${url}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: AUTHORIZATION },
    body,
  });
  const json = (await r.json()) as { error?: string; error_description?: string };
  return { status: r.status, ...(json.error && { error: json.error, error_description: json.error_description }) };
}

/** Takes both batch slots with held batches of one request each; resolves with their answers. */
async function holdBothSlots(url: string): Promise<Array<Promise<unknown>>> {
  const first = token(url, form("hold-a"));
  await waitFor(() => held.length === 1, { message: "the first held batch never reached the issuer" });
  const second = token(url, form("hold-b"));
  await waitFor(() => held.length === 2, { message: "the second held batch never reached the issuer" });
  return [first, second];
}

describe("token requests waiting for a batch slot", () => {
  it("are never sent for a client that left while they waited (README: Nothing for a caller that has gone)", async () => {
    const gateway = await testGateway({ token: client, deadlineMs: 60_000 });
    gateways.push(gateway);
    const holding = await holdBothSlots(gateway.url);
    // The whole request, then the client's end of the connection: its body is read, and then its client is gone.
    const body = form("gone");
    const closed = new Promise<void>((resolve) => {
      const socket = connect(gateway.port, "127.0.0.1", () =>
        socket.end(
          `POST /oauth2/token HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
            `Authorization: ${AUTHORIZATION}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        ),
      );
      socket.on("error", () => undefined);
      socket.on("close", () => resolve());
    });
    await closed;
    held.splice(0).forEach((release) => release());
    await Promise.all(holding);
    // The queue is first in, first out: a request that waited there would leave before this one is answered.
    expect(await token(gateway.url, form("after"))).toEqual({ status: 200 });
    expect(received).toEqual(["hold-a", "hold-b", "after"]);
  });

  it("are answered 503 once the gateway's deadline has passed, and never sent", async () => {
    // Each waiting request fills a batch on its own (two of them pass the byte budget of one), so of three queued
    // behind both held slots, two leave when those slots time out and one still waits, past its own deadline.
    const gateway = await testGateway({ token: client, deadlineMs: 2_000, maxBodyBytes: 64_000 });
    gateways.push(gateway);
    const holding = await holdBothSlots(gateway.url);
    const queued = ["hold-1", "hold-2", "hold-3"];
    const waiting = queued.map((scope) => token(gateway.url, form(scope, 30_000)).then((answer) => ({ scope, answer })));
    const answers = await Promise.all(waiting);
    await Promise.all(holding);
    held.splice(0).forEach((release) => release());
    // The queue is first in, first out: a request that waited there would leave before this one is answered.
    expect(await token(gateway.url, form("after"))).toEqual({ status: 200 });
    // All three are answered 503 (the edge's description is the same for every 503): the two that left were awaited until
    // their batch's own deadline, and the late one never reached the issuer.
    expect(answers.map(({ answer }) => [answer.status, answer.error])).toEqual(queued.map(() => [503, "temporarily_unavailable"]));
    expect(received.filter((s) => queued.includes(s))).toHaveLength(2);
  });
});
