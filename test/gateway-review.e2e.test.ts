/**
 * The gateway as an OAuth engineer probes it first: the issuer identifier its metadata names and where that metadata
 * lives (RFC 8414 §3), header fields HTTP allows once (RFC 9110 §5.3), and the status and Allow field of each method
 * at each path (RFC 9110 §15.5). A real issuer and gateway on a real nats-server; the issuer identifier has a path
 * and a trailing "/", as a deployment behind a path-routing proxy may have.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oauth from "oauth4webapi";
import { basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const SECRET = "gateway-review-secret-01";
const ISSUER = "https://sts.example.test/tenant-a/";
const FORM = "application/x-www-form-urlencoded";

/** Request header fields; an array is sent as that many field lines. */
type FieldLines = Record<string, string | string[]>;

let stack: Stack;

beforeAll(async () => {
  const clients = [{ client_id: "svc", client_secret: SECRET, scope: ["read"], audience: ["api-1"] }];
  stack = await startStack({ clients }, { services: ["issuer", "gateway"], env: { STS_ISSUER: ISSUER } });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** One HTTP/1.1 exchange with the gateway, headers sent as given (an array value is sent as that many field lines). */
function send(
  method: string,
  path: string,
  headers: FieldLines = {},
  body = "",
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Record<string, unknown> }> {
  const url = new URL(stack.gatewayUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers: { ...headers, "content-length": Buffer.byteLength(body) }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("the issuer identifier in the metadata (RFC 8414 §3)", () => {
  it("serves the metadata of an issuer with a path where RFC 8414 §3.1 puts it, naming the issuer exactly as configured (§3.3)", async () => {
    const res = await fetch(`${stack.gatewayUrl}/.well-known/oauth-authorization-server/tenant-a`);
    expect(res.status).toBe(200);
    // An off-the-shelf client refuses a document whose issuer is not the identifier it looked up, byte for byte.
    const as = await oauth.processDiscoveryResponse(new URL(ISSUER), res);
    expect(as.issuer).toBe(ISSUER);
    expect(as.token_endpoint).toBe("https://sts.example.test/tenant-a/oauth2/token");
    expect(as.jwks_uri).toBe("https://sts.example.test/tenant-a/oauth2/jwks");
  });

  it("names in its metadata the issuer its tokens carry as iss (OIDC Discovery §4.3)", async () => {
    const metadata = (await (await fetch(`${stack.gatewayUrl}/.well-known/openid-configuration`)).json()) as { issuer: string };
    const token = await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials" }, { authorization: basicAuth("svc", SECRET) });
    expect(token.status).toBe(200);
    expect(claimsOf(token.body.access_token as string).iss).toBe(metadata.issuer);
  });
});

describe("header fields HTTP allows once (RFC 9110 §5.3)", () => {
  const good = basicAuth("svc", SECRET);
  const other = basicAuth("svc", "not-the-secret-000000000");

  it("refuses two Authorization fields instead of acting on the first (RFC 6749 §2.3: one method, one credential)", async () => {
    const res = await send("POST", "/oauth2/token", { "content-type": FORM, authorization: [good, other] }, "grant_type=client_credentials");
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "the authorization header is repeated" });
    expect(res.headers["cache-control"]).toBe("no-store");
  });

  it("refuses two Content-Type fields instead of reading the body as the first says", async () => {
    const res = await send("POST", "/oauth2/token", { "content-type": [FORM, "application/json"], authorization: good }, "grant_type=client_credentials");
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "invalid_request", error_description: "the content-type header is repeated" });
  });

  it("still serves one of each", async () => {
    const res = await send("POST", "/oauth2/token", { "content-type": FORM, authorization: good }, "grant_type=client_credentials");
    expect(res.status).toBe(200);
    expect(typeof res.body.access_token).toBe("string");
  });
});

describe("methods and paths (RFC 9110 §15.5.5, §15.5.6, §9.3.2)", () => {
  it("answers 404 for a path it does not serve, whatever the method", async () => {
    for (const method of ["POST", "PUT", "DELETE", "GET"]) {
      const res = await send(method, "/oauth2/nothing-here");
      expect([method, res.status]).toEqual([method, 404]);
    }
  });

  it("answers 405 with the methods each resource takes in Allow", async () => {
    const cases: Array<[string, string, string]> = [
      ["GET", "/oauth2/token", "POST"],
      ["PUT", "/oauth2/introspect", "POST"],
      ["POST", "/.well-known/oauth-authorization-server/tenant-a", "GET, HEAD, OPTIONS"],
      ["DELETE", "/oauth2/jwks", "GET, HEAD, OPTIONS"],
      ["PUT", "/oauth2/userinfo", "GET, HEAD, POST"],
      ["GET", "/oauth2/register", "POST"],
      ["PATCH", "/oauth2/register/svc", "GET, HEAD, PUT, DELETE"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await send(method, path, { authorization: "Bearer abc" });
      expect([method, path, res.status, res.headers.allow]).toEqual([method, path, 405, allow]);
      expect(res.body.error).toBe("invalid_request");
    }
  });

  it("answers HEAD wherever it answers GET, with GET's status", async () => {
    for (const path of ["/oauth2/userinfo", "/oauth2/jwks", "/.well-known/openid-configuration"]) {
      const [get, head] = [await send("GET", path), await send("HEAD", path)];
      expect([path, head.status]).toEqual([path, get.status]);
      expect(head.status).not.toBe(404);
    }
  });

  it("routes a request in absolute-form by its path (RFC 9112 §3.2.2)", async () => {
    const res = await send(
      "POST",
      `${stack.gatewayUrl}/oauth2/token`,
      { "content-type": FORM, authorization: basicAuth("svc", SECRET) },
      "grant_type=client_credentials",
    );
    expect(res.status).toBe(200);
    expect(typeof res.body.access_token).toBe("string");
  });
});

describe("Bearer challenges of the protected resources (RFC 6750 §3)", () => {
  it("names no error in the challenge of a request that carried no credential (§3.1), with one auth-param (§3)", async () => {
    const cases: Array<[string, string, FieldLines]> = [
      ["GET", "/oauth2/userinfo", {}],
      ["GET", "/oauth2/userinfo", { authorization: basicAuth("svc", SECRET) }],
      ["POST", "/oauth2/register", { "content-type": "application/json" }],
      ["GET", "/oauth2/register/svc", {}],
    ];
    for (const [method, path, headers] of cases) {
      const res = await send(method, path, headers);
      expect([method, path, res.status, res.headers["www-authenticate"]]).toEqual([method, path, 401, 'Bearer realm="sts"']);
      expect(res.body.error).toBe("invalid_token");
    }
  });

  it("still names invalid_token when a bearer token was sent and is no good", async () => {
    for (const authorization of ["Bearer not-a-token", "Bearer two words"]) {
      const res = await send("GET", "/oauth2/userinfo", { authorization });
      expect([authorization, res.status, res.headers["www-authenticate"]]).toEqual([authorization, 401, 'Bearer error="invalid_token"']);
    }
  });
});
