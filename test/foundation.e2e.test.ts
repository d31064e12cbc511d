/**
 * Issue "workspace foundation and the issuer": client_credentials end to end
 * through the real gateway and issuer, a real nats-server, and an
 * off-the-shelf OAuth client (oauth4webapi) that knows nothing of this stack.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oauth from "oauth4webapi";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { EVENTS_STREAM, connectNats } from "@sts/nats";
import type { TokenBatchResponse__Output } from "@sts/proto";
import type { NatsHandle } from "@sts/nats";
import { freePort } from "@sts/testkit";
import { ROOT, basicAuth, claimsOf, postForm, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { tokenClient } from "./chain.js";

const SECRET = "service-secret-000000001";
const clients = [
  { client_id: "svc", client_secret: SECRET, scope: ["read", "write", "read:/data/cern"], audience: ["api-1", "api-2", "api-3"] },
  { client_id: "poster", client_secret: SECRET, token_endpoint_auth_method: "client_secret_post", scope: ["read"], audience: ["api-1"] },
  { client_id: "admin:test/vo_1", client_secret: SECRET, scope: ["read"], audience: ["api-1"] },
  { client_id: "opaque-user", client_secret: SECRET, scope: ["read"], audience: ["api-opaque", "api-1"], access_token_format: { "api-opaque": "opaque" } },
];

let stack: Stack;
let tokenUrl: string;
let nats: NatsHandle;

/** token.issued events in the stream: nothing may be issued for bad input. */
async function issuedCount(): Promise<number> {
  const info = await nats.jsm.streams.info(EVENTS_STREAM.name, { subjects_filter: "sts.events.token.issued" });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

beforeAll(async () => {
  // This edge is told to join its callers' traces (the default starts a new one: exchange-chain.e2e).
  stack = await startStack({ clients, telemetry: { incoming_trace: "continue" } }, { services: ["issuer", "gateway"] });
  tokenUrl = `${stack.gatewayUrl}/oauth2/token`;
  nats = await connectNats({ servers: stack.nats.url, name: "foundation-test" });
}, 60_000);

afterAll(async () => {
  await nats?.close();
  await stack?.stop();
});

const cc = (form: Record<string, string | string[]>, id = "svc", secret = SECRET) =>
  postForm(tokenUrl, { grant_type: "client_credentials", ...form }, { authorization: basicAuth(id, secret) });

describe("client_credentials with an off-the-shelf client (oauth4webapi)", () => {
  it("advertises only what it does (RFC 8414, OIDC Discovery §3)", async () => {
    for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
      const m = (await (await fetch(`${stack.gatewayUrl}${path}`)).json()) as Record<string, unknown>;
      expect(m).toMatchObject({
        issuer: stack.gatewayUrl,
        response_types_supported: [],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["ES256"],
        registration_endpoint: `${stack.gatewayUrl}/oauth2/register`,
      });
      expect(m).not.toHaveProperty("authorization_endpoint");
      // Every advertised endpoint is served: none answers 404.
      for (const key of ["token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint", "userinfo_endpoint", "registration_endpoint"]) {
        const r = await fetch(m[key] as string, { method: key === "jwks_uri" ? "GET" : "POST" });
        expect([key, r.status]).not.toEqual([key, 404]);
      }
    }
  });

  it("discovers, gets a token, verifies it against jwks_uri, introspects and revokes it", async () => {
    const issuer = new URL(stack.gatewayUrl);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", [oauth.allowInsecureRequests]: true }));
    expect(as.token_endpoint).toBe(tokenUrl);
    const client: oauth.Client = { client_id: "svc" };
    const auth = oauth.ClientSecretBasic(SECRET);
    const options = { [oauth.allowInsecureRequests]: true };
    const response = await oauth.processClientCredentialsResponse(
      as,
      client,
      await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: "read write nope", audience: "api-2" }, options),
    );
    expect(response.token_type).toBe("bearer");
    expect(response.scope).toBe("read write");

    const jwks = createRemoteJWKSet(new URL(as.jwks_uri as string), { [Symbol.for("jose.allowInsecure")]: true });
    const { payload, protectedHeader } = await jwtVerify(response.access_token, jwks, {
      issuer: stack.gatewayUrl,
      audience: "api-2",
      typ: "at+jwt",
      algorithms: ["ES256"],
      requiredClaims: ["exp", "iat", "jti"],
    });
    expect(protectedHeader.typ).toBe("at+jwt");
    expect(payload).toMatchObject({ sub: "svc", client_id: "svc", aud: "api-2", scope: "read write" });
    expect(typeof payload.jti).toBe("string");

    const active = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, response.access_token, options));
    expect(active).toMatchObject({ active: true, sub: "svc", client_id: "svc", scope: "read write", jti: payload.jti });

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, response.access_token, options));
    const inactive = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, response.access_token, options));
    expect(inactive).toEqual({ active: false });
  });
});

describe("client_credentials rules", () => {
  it("keeps the client's audience order, the first being primary", async () => {
    const { status, body } = await cc({ audience: ["api-3", "api-1"], scope: "read" });
    expect(status).toBe(200);
    expect(claimsOf(body.access_token as string).aud).toEqual(["api-1", "api-3"]);
  });

  it("gives a token without scope when none is requested, for the primary audience", async () => {
    const { status, body } = await cc({});
    expect(status).toBe(200);
    const claims = claimsOf(body.access_token as string);
    expect(claims.scope).toBeUndefined();
    expect(body.scope).toBeUndefined();
    expect(claims.aud).toBe("api-1");
  });

  it("grants structured down-scopes of an allowed path only", async () => {
    const ok = await cc({ scope: "read:/data/cern/run7" });
    expect(ok.body.scope).toBe("read:/data/cern/run7");
    const sibling = await cc({ scope: "read:/data/cernX" });
    expect(sibling.status).toBe(400);
    expect(sibling.body.error).toBe("invalid_scope");
  });

  it("serves a client whose id is admin:test/vo_1 (encoded in NATS keys)", async () => {
    const { status, body } = await cc({ scope: "read" }, "admin:test/vo_1");
    expect(status).toBe(200);
    expect(claimsOf(body.access_token as string)).toMatchObject({ sub: "admin:test/vo_1", client_id: "admin:test/vo_1" });
  });

  it("authenticates client_secret_post", async () => {
    const { status, body } = await postForm(tokenUrl, { grant_type: "client_credentials", client_id: "poster", client_secret: SECRET });
    expect(status).toBe(200);
    expect(claimsOf(body.access_token as string).sub).toBe("poster");
  });

  it("tells only the token's holder or audience about it at introspection (RFC 7662 §4)", async () => {
    const { body } = await cc({ scope: "read" });
    const token = body.access_token as string;
    const stranger = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth("admin:test/vo_1", SECRET) });
    expect(stranger.body).toEqual({ active: false });
    const holder = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth("svc", SECRET) });
    expect(holder.body.active).toBe(true);
  });

  it("issues opaque tokens for audiences configured so, resolved by introspection", async () => {
    const { status, body } = await cc({}, "opaque-user");
    expect(status).toBe(200);
    const token = body.access_token as string;
    expect(token.split(".")).toHaveLength(1);
    const intro = await postForm(`${stack.gatewayUrl}/oauth2/introspect`, { token }, { authorization: basicAuth("opaque-user", SECRET) });
    expect(intro.body).toMatchObject({ active: true, sub: "opaque-user", aud: "api-opaque" });
    // The same client's other audience keeps the default format.
    const jwt = await cc({ audience: "api-1" }, "opaque-user");
    expect(jwt.status).toBe(200);
    expect((jwt.body.access_token as string).split(".")).toHaveLength(3);
  });
});

describe("bad input gets its RFC error, and nothing is issued", () => {
  const cases: Array<[string, () => Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>, number, string]> = [
    ["unknown client", () => cc({}, "nobody"), 401, "invalid_client"],
    ["wrong secret", () => cc({}, "svc", "wrong-secret-0000000000"), 401, "invalid_client"],
    [
      "two auth methods at once",
      () => postForm(tokenUrl, { grant_type: "client_credentials", client_id: "svc", client_secret: SECRET }, { authorization: basicAuth("svc", SECRET) }),
      400,
      "invalid_request",
    ],
    [
      "unknown grant type",
      () => postForm(tokenUrl, { grant_type: "urn:example:magic" }, { authorization: basicAuth("svc", SECRET) }),
      400,
      "unsupported_grant_type",
    ],
    ["scope outside the allowed set", () => cc({ scope: "admin" }), 400, "invalid_scope"],
    ["audience not allowed", () => cc({ audience: "api-9" }), 400, "invalid_target"],
    ["audiences that take different token formats", () => cc({ audience: ["api-opaque", "api-1"] }, "opaque-user"), 400, "invalid_target"],
    ["missing grant_type", () => postForm(tokenUrl, {}, { authorization: basicAuth("svc", SECRET) }), 400, "invalid_request"],
    ["duplicated parameter", () => cc({ scope: ["read", "write"] }), 400, "invalid_request"],
  ];

  it.each(cases)("%s", async (_name, send, status, error) => {
    const before = await issuedCount();
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.body.error).toBe(error);
    expect(res.body.access_token).toBeUndefined();
    expect(res.headers.get("cache-control")).toBe("no-store");
    if (status === 401) expect(res.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect(await issuedCount()).toBe(before);
  });

  it("refuses a body that is not form-encoded", async () => {
    const res = await fetch(tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: basicAuth("svc", SECRET) },
      body: JSON.stringify({ grant_type: "client_credentials" }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
  });

  it("refuses an oversized body", async () => {
    const res = await fetch(tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basicAuth("svc", SECRET) },
      body: `grant_type=client_credentials&scope=${"a".repeat(100_000)}`,
    });
    expect([400, 413]).toContain(res.status);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
  });
});

describe("a client that goes away mid-request", () => {
  it("is no server error: nothing logged at error level, and the gateway serves on", async () => {
    const { connect } = await import("node:net");
    const gateway = stack.processes.gateway!;
    // A mark, not the length of the kept tail: once the log outgrows that tail its length stops growing, and the
    // lines these requests cause would fall outside a slice taken from it.
    const logged = gateway.mark();
    const url = new URL(tokenUrl);
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname, () => {
          // A body announced at 1,000 bytes, 20 of them sent, then the connection dropped.
          socket.write(
            `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=client_cre`,
            () => setTimeout(() => socket.destroy(), 50),
          );
        });
        socket.on("close", () => resolve());
        socket.on("error", reject);
      });
    }
    // A request after them, so that anything they logged is in the output by the time it is answered.
    expect((await cc({ scope: "read" })).status).toBe(200);
    const lines = gateway.outputSince(logged).split("\n").filter(Boolean);
    expect(lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50)).toEqual([]);
  });
});

describe("trace context", () => {
  it("carries the caller's W3C trace from the HTTP request through the issuer into the token.issued event (incoming_trace: continue)", async () => {
    const traceId = randomBytes(16).toString("hex");
    const res = await postForm(
      tokenUrl,
      { grant_type: "client_credentials", scope: "read" },
      { authorization: basicAuth("svc", SECRET), traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` },
    );
    expect(res.status).toBe(200);
    const jti = claimsOf(res.body.access_token as string).jti;
    const stored = await nats.jsm.streams.getMessage(EVENTS_STREAM.name, { last_by_subj: "sts.events.token.issued" });
    const event = stored?.json<{ subject: string; traceparent?: string }>();
    expect(event?.subject).toBe(jti);
    expect(stored?.header.get("traceparent")).toContain(`-${traceId}-`);
    expect(event?.traceparent).toContain(`-${traceId}-`);
  });
});

describe("requests coalesced on the way to the issuer (TokenBatch)", () => {
  it("answers each of many concurrent HTTP requests on its own: good ones get their token, bad ones their error", async () => {
    const before = await issuedCount();
    const sends = Array.from({ length: 40 }, (_, i) =>
      i % 4 === 1 ? cc({}, "svc", "wrong-secret-0000000000") : i % 4 === 3 ? cc({ scope: "admin" }) : cc({ scope: i % 2 ? "read" : "write" }),
    );
    const results = await Promise.all(sends);
    results.forEach((res, i) => {
      if (i % 4 === 1) expect([res.status, res.body.error]).toEqual([401, "invalid_client"]);
      else if (i % 4 === 3) expect([res.status, res.body.error]).toEqual([400, "invalid_scope"]);
      else {
        expect(res.status).toBe(200);
        expect(claimsOf(res.body.access_token as string).scope).toBe(i % 2 ? "read" : "write");
      }
    });
    const jtis = results.filter((r) => r.status === 200).map((r) => claimsOf(r.body.access_token as string).jti);
    expect(new Set(jtis).size).toBe(20);
    expect(await issuedCount()).toBe(before + 20);
  });

  it("keeps large concurrent requests within the issuer's message limit: each is judged on its own", async () => {
    // 30 requests of ~7 KB arriving together would make a 200 KB batch, over the issuer's 64 KiB limit.
    const big = { scope: Array.from({ length: 1400 }, () => "read").join(" ") };
    const alone = await cc(big);
    const together = await Promise.all(Array.from({ length: 30 }, () => cc(big)));
    // The single request succeeds, so the concurrent ones are held to a success, not to a shared failure.
    expect([alone.status, alone.body.error]).toEqual([200, undefined]);
    for (const res of together) expect([res.status, res.body.error]).toEqual([alone.status, alone.body.error]);
  });

  it("judges a valid request on its own when it arrives with bulky multi-byte ones (batch budget in UTF-8 bytes)", async () => {
    // 5,000 CJK characters: 5 KB as a JSON string length, 15 KB on the wire. A budget counted in
    // UTF-16 units packed nine of these into one batch, over the issuer's 64 KiB, and every request
    // in it (the valid one too) failed as invalid_request "upstream service unavailable".
    const bulky = `grant_type=client_credentials&scope=${"読".repeat(5000)}`;
    const sendBulky = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8", authorization: basicAuth("svc", SECRET) },
        body: bulky,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    for (let round = 0; round < 3; round++) {
      const sends = Array.from({ length: 24 }, (_, i) => (i % 6 === 3 ? cc({ scope: "read" }) : sendBulky()));
      const results = await Promise.all(sends);
      const valid = results.filter((_, i) => i % 6 === 3);
      expect(valid.map((r) => [r.status, r.body.error])).toEqual(valid.map(() => [200, undefined]));
      for (const res of results.filter((_, i) => i % 6 !== 3)) expect([res.status, res.body.error]).toEqual([400, "invalid_scope"]);
    }
  });

  it("serves TokenBatch over gRPC with one result per item, in order", async () => {
    const client = tokenClient(stack.address.issuer);
    const item = (authorization: string, grant_type = "client_credentials") => ({
      request: { grant_type, scope: "read", client: { authorization } },
      trace_context: {},
    });
    const r = await new Promise<TokenBatchResponse__Output>((resolve, reject) =>
      client.TokenBatch(
        { items: [item(basicAuth("svc", SECRET)), item(basicAuth("svc", "wrong-secret-0000000000")), item(basicAuth("svc", SECRET), "urn:example:magic")] },
        (err, res) => (err || !res ? reject(err ?? new Error("no response")) : resolve(res)),
      ),
    );
    client.close();
    expect(r.results.map((x) => x.outcome)).toEqual(["response", "error", "error"]);
    expect(claimsOf(r.results[0]?.response?.access_token ?? "").scope).toBe("read");
    expect(r.results.slice(1).map((x) => x.error?.code)).toEqual(["invalid_client", "unsupported_grant_type"]);
  });
});

describe("state lives in NATS", () => {
  it("keeps keys and clients across an issuer restart; old tokens still verify", async () => {
    const before = await cc({ scope: "read" });
    const jwksBefore = (await (await fetch(`${stack.gatewayUrl}/oauth2/jwks`)).json()) as { keys: Array<{ kid: string }> };
    await stack.processes.issuer?.stop();
    await stack.start("issuer");
    const jwksAfter = (await (await fetch(`${stack.gatewayUrl}/oauth2/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwksAfter.keys.map((k) => k.kid)).toEqual(jwksBefore.keys.map((k) => k.kid));
    const intro = await postForm(
      `${stack.gatewayUrl}/oauth2/introspect`,
      { token: before.body.access_token as string },
      { authorization: basicAuth("svc", SECRET) },
    );
    expect(intro.body.active).toBe(true);
    const jwks = createRemoteJWKSet(new URL(`${stack.gatewayUrl}/oauth2/jwks`));
    await expect(jwtVerify(before.body.access_token as string, jwks, { issuer: stack.gatewayUrl, audience: "api-1" })).resolves.toBeTruthy();
    expect((await cc({ scope: "read" }, "admin:test/vo_1")).status).toBe(200);
  }, 60_000);

  it("brings the buckets it owns back to its configured lifetimes when it starts", async () => {
    const buckets = ["KV_sts_assertion_jti", "KV_sts_revocations", "KV_sts_refresh"];
    const configured = await Promise.all(buckets.map(async (b) => (await nats.jsm.streams.info(b)).config.max_age));
    expect(configured.every((ns) => ns > 0)).toBe(true);
    // As a bucket created by a reader, or by an older config, would be.
    for (const b of buckets) await nats.jsm.streams.update(b, { max_age: 0 });
    await stack.processes.issuer?.stop();
    await stack.start("issuer");
    expect(await Promise.all(buckets.map(async (b) => (await nats.jsm.streams.info(b)).config.max_age))).toEqual(configured);
  }, 60_000);
});

describe("configuration errors stop the start", () => {
  async function startWith(yaml: string): Promise<{ status: number | null; stderr: string }> {
    const dir = mkdtempSync(join(tmpdir(), "sts-badcfg-"));
    try {
      const file = join(dir, "sts.yaml");
      writeFileSync(file, yaml);
      // A free port of its own: should the config be accepted after all, the issuer must not take a default port.
      const port = await freePort();
      const run = spawnSync(process.execPath, [join(ROOT, "services/issuer/dist/main.js")], {
        cwd: ROOT,
        env: { ...process.env, STS_CONFIG: file, STS_MASTER_KEY: "x".repeat(43), NATS_URL: stack.nats.url, STS_ISSUER_PORT: String(port) },
        encoding: "utf8",
        timeout: 20_000,
      });
      return { status: run.status, stderr: run.stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it.each([
    ["an unknown field", "clients:\n  - client_id: a\n    client_secret: aaaaaaaaaaaaaaaaaaaa\n    colour: red\n", "clients[0].colour: unknown field"],
    ["a wrong type", "tokens:\n  max_token_bytes: lots\n", "tokens.max_token_bytes"],
    [
      "both jwks and jwks_uri",
      "clients:\n  - client_id: a\n    token_endpoint_auth_method: private_key_jwt\n    jwks: { keys: [ { kty: EC } ] }\n    jwks_uri: https://example.org/jwks\n",
      "clients[0].jwks_uri: jwks and jwks_uri are mutually exclusive",
    ],
  ])("names the field for %s", async (_name, yaml, expected) => {
    const { status, stderr } = await startWith(yaml);
    expect(status).not.toBe(0);
    expect(stderr).toContain(expected);
  });
});
