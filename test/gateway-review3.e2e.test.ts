/**
 * The gateway's HTTP edge against a real issuer on a real nats-server: parameters sent without a value (RFC 6749
 * §3.1), and the connection of a GET that brought a body (RFC 9112 §9.6).
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { basicAuth, claimsOf, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const SECRET = "gateway-review3-secret-01";

let stack: Stack;

beforeAll(async () => {
  const clients = [{ client_id: "svc", client_secret: SECRET, scope: ["read", "write"], audience: ["api-1"] }];
  stack = await startStack({ clients }, { services: ["issuer", "gateway"] });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** POSTs `body` exactly as written (no re-encoding) to the token endpoint as svc. */
async function tokenRequest(body: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.gatewayUrl}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basicAuth("svc", SECRET) },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("parameters sent without a value are treated as omitted (RFC 6749 §3.1)", () => {
  it("issues a token when grant_type also comes once without a value, as a form builder that keeps empty fields sends it", async () => {
    for (const body of ["grant_type=client_credentials&grant_type=", "grant_type=&grant_type=client_credentials"]) {
      const res = await tokenRequest(body);
      expect([body, res.status]).toEqual([body, 200]);
      expect(typeof res.body.access_token).toBe("string");
    }
  });

  it("grants the one scope given when scope also comes without a value", async () => {
    const res = await tokenRequest("grant_type=client_credentials&scope=&scope=read");
    expect(res.status).toBe(200);
    expect(claimsOf(res.body.access_token as string).scope).toBe("read");
  });

  it("still refuses a parameter given two values (RFC 6749 §3.2)", async () => {
    const res = await tokenRequest("grant_type=client_credentials&scope=read&scope=write");
    expect(res).toEqual({ status: 400, body: { error: "invalid_request", error_description: "parameter scope is repeated" } });
  });
});

describe("a GET that brought a body (RFC 9112 §9.6)", () => {
  /** Sends a GET announcing a 10 MB body and its first KiB; resolves with what came back once the gateway closed. */
  function getWithBody(path: string): Promise<string> {
    const url = new URL(stack.gatewayUrl);
    return new Promise((resolve) => {
      const socket = connect(Number(url.port), url.hostname, () =>
        socket.write(`GET ${path} HTTP/1.1\r\nHost: sts\r\nContent-Length: 10000000\r\n\r\n${"a".repeat(1024)}`),
      );
      let received = "";
      socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(received));
    });
  }

  it.each(["/oauth2/jwks", "/readyz", "/.well-known/oauth-authorization-server"])(
    "is answered at %s with Connection: close before the gateway closes the connection unread",
    async (path) => {
      const answer = await getWithBody(path);
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      const head = answer.slice(0, answer.indexOf("\r\n\r\n")).toLowerCase();
      expect(head).toContain("\r\nconnection: close");
      expect(head).not.toContain("keep-alive");
    },
  );
});
