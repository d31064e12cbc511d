import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { IntrospectionUnavailable, MAX_ANSWER_BYTES, introspectToken, parseAnswer } from "./introspection-request.js";
import type { IntrospectionEndpoint } from "./introspection-request.js";

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage["headers"];
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A real loopback HTTP server answering with `reply`; records what it received. */
async function endpoint(
  reply: (res: ServerResponse, req: IncomingMessage) => void,
  more: Partial<IntrospectionEndpoint> = {},
): Promise<{ at: IntrospectionEndpoint; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      reply(res, req);
    });
  });
  servers.push(server);
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  const at = {
    url: `http://127.0.0.1:${port}/introspect`,
    clientId: "sts exchanger",
    clientSecret: () => "s3cret:/+",
    timeoutMs: 2_000,
    ...more,
  };
  return { at, received };
}

const json =
  (body: unknown, status = 200) =>
  (res: ServerResponse) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

describe("introspectToken (RFC 7662 §2.1)", () => {
  it("POSTs the token as a form with token_type_hint, authenticated with client_secret_basic (RFC 6749 §2.3.1)", async () => {
    const { at, received } = await endpoint(json({ active: true, sub: "alice", iss: "https://idp", client_id: "web", scope: "a" }));
    expect(await introspectToken("eyJ.token.sig", at)).toEqual({ active: true, sub: "alice", iss: "https://idp", client_id: "web" });
    expect(received).toHaveLength(1);
    const [r] = received;
    expect([r?.method, r?.url, r?.headers["content-type"], r?.headers.accept]).toEqual([
      "POST",
      "/introspect",
      "application/x-www-form-urlencoded",
      "application/json",
    ]);
    expect(Object.fromEntries(new URLSearchParams(r?.body))).toEqual({ token: "eyJ.token.sig", token_type_hint: "access_token" });
    // Id and secret are form-encoded before base64, so a ':' in the secret cannot split them.
    expect(r?.headers.authorization).toBe(`Basic ${Buffer.from("sts+exchanger:s3cret%3A%2F%2B").toString("base64")}`);
  });

  it("reads the secret at each call (a rotated file takes effect)", async () => {
    let secret = "first";
    const { at, received } = await endpoint(json({ active: false }), { clientSecret: () => secret });
    await introspectToken("t", at);
    secret = "second";
    await introspectToken("t", at);
    expect(received.map((r) => Buffer.from(r.headers.authorization?.slice(6) ?? "", "base64").toString())).toEqual([
      "sts+exchanger:first",
      "sts+exchanger:second",
    ]);
  });

  it("gives inactive as an answer, not an error", async () => {
    const { at } = await endpoint(json({ active: false }));
    expect(await introspectToken("t", at)).toEqual({ active: false });
  });

  it.each<[string, (res: ServerResponse) => void, RegExp]>([
    ["a 500", json({ active: true }, 500), /answered HTTP 500/],
    ["a 401 (our credentials refused)", json({ error: "invalid_client" }, 401), /answered HTTP 401/],
    ["a redirect, which is not followed", (res) => res.writeHead(302, { location: "https://elsewhere.example/introspect" }).end(), /answered HTTP 302/],
    ["a body that is not JSON", (res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>"), /not JSON/],
    ["JSON that is not an object", json([{ active: true }]), /not a JSON object/],
    ["no active member", json({ sub: "alice" }), /no boolean active/],
    ['"active": "true" (a string)', json({ active: "true" }), /no boolean active/],
    [
      "duplicate active members",
      (res) => res.writeHead(200, { "content-type": "application/json" }).end('{"active":false,"active":true}'),
      /duplicate members/,
    ],
    [
      "a declared length over the bound",
      (res) => res.writeHead(200, { "content-length": String(MAX_ANSWER_BYTES + 1) }).end("x".repeat(MAX_ANSWER_BYTES + 1)),
      /larger than/,
    ],
    [
      "a streamed body over the bound",
      (res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.write(`{"active":true,"pad":"${"x".repeat(MAX_ANSWER_BYTES)}`);
        res.end('"}');
      },
      /larger than/,
    ],
  ])("fails with IntrospectionUnavailable on %s", async (_, reply, message) => {
    const { at } = await endpoint(reply);
    const err = await introspectToken("secret-token-value", at).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntrospectionUnavailable);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("secret-token-value");
  });

  it("fails with IntrospectionUnavailable when the endpoint does not answer in time", async () => {
    const { at } = await endpoint(() => undefined, { timeoutMs: 150 });
    const started = Date.now();
    // The message is written only when the request's deadline signal fired, naming the configured value; a deadline
    // that never fired would leave the call pending past the test's own timeout.
    await expect(introspectToken("t", at)).rejects.toThrow(/no introspection answer within 150 ms/);
    // Nor did it fire early (seconds taken for milliseconds would not show): a lower bound, which a slow machine
    // cannot break; half of it, as the event loop's clock the timer starts from may lag Date.now() a little.
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  });

  it("fails with IntrospectionUnavailable when nothing listens", async () => {
    const { at } = await endpoint(json({ active: true }));
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    await expect(introspectToken("t", at)).rejects.toThrow(/introspection endpoint unreachable/);
  });
});

describe("parseAnswer", () => {
  it("keeps only the members that name the token (RFC 7662 §2.2)", () => {
    expect(parseAnswer('{"active":true,"sub":"a","iss":"i","client_id":"c","jti":"j","exp":1,"aud":["x"],"scope":"s","ext":{"x":1}}')).toEqual({
      active: true,
      sub: "a",
      iss: "i",
      client_id: "c",
      jti: "j",
      exp: 1,
      aud: ["x"],
    });
  });
});
