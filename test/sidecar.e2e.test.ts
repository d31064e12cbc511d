/**
 * Sidecars that downscope per hop, through real sidecar processes: client →
 * [sidecar A] → A → [sidecar A out] → [sidecar B] → B → … → C. The
 * workloads are small HTTP servers in this process that only pass on the
 * token they received, as an application that knows nothing of exchange.
 */
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server as HttpServer } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, Server, ServerCredentials, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { loadTokenProto } from "@sts/proto";
import type { MintResponse__Output } from "@sts/proto";
import { freePort, tcpOpen, waitFor } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { parseSamples, total } from "./prometheus.js";
import type { Sample } from "./prometheus.js";
import { basicAuth, claimsOf, postForm, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, call, tokenClient } from "./chain.js";

interface Seen {
  headers: IncomingHttpHeaders;
}
let stack: Stack;
let grpcServer: Server;
let grpcPorts: { aOut: number; gIn: number; aHealth: number; gHealth: number };
const gSeen: Metadata[] = [];
const sidecars: ProcessHandle[] = [];
const workloads: HttpServer[] = [];
const seen: Record<"a" | "b" | "c", Seen[]> = { a: [], b: [], c: [] };
const ports: Record<string, { inbound: number; outbound: number; workload: number }> = {};
let healthPort = 0;

function workload(name: "a" | "b" | "c", next?: string): Promise<number> {
  const server = createServer((req, res) => {
    seen[name].push({ headers: req.headers });
    void (async () => {
      let downstream: unknown;
      const target = req.url === "/try-a" ? "svc-a" : req.url === "/try-b" ? "svc-b" : next;
      if (target) {
        // The application passes on the token it received; its sidecar does the rest.
        const r = await fetch(`http://127.0.0.1:${ports[name]!.outbound}/${target}/work`, { headers: { authorization: req.headers.authorization ?? "" } });
        downstream = { status: r.status, body: await r.json().catch(() => null) };
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name, scope: req.headers["x-mesh-scope"], downstream }));
    })();
  });
  workloads.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

const appToken = async (): Promise<string> =>
  (
    await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a b c" },
      { authorization: basicAuth("end-user-app", SECRET) },
    )
  ).body.access_token as string;

const callA = (token: string | undefined, path = "/work", extra: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${ports.a!.inbound}${path}`, { headers: { ...(token !== undefined && { authorization: `Bearer ${token}` }), ...extra } });

beforeAll(async () => {
  for (const n of ["a", "b", "c", "g"]) ports[n] = { inbound: await freePort(), outbound: await freePort(), workload: 0 };
  healthPort = await freePort();
  grpcPorts = { aOut: await freePort(), gIn: await freePort(), aHealth: await freePort(), gHealth: await freePort() };
  // Service G speaks gRPC: the TokenService's GetJwks stands in for its API and echoes what its sidecar told it.
  grpcServer = new Server();
  grpcServer.addService(loadTokenProto().sts.token.v1.TokenService.service, {
    GetJwks: (call: { metadata: Metadata }, cb: (e: Partial<ServiceError> | null, v?: { jwks_json: string }) => void) => {
      gSeen.push(call.metadata);
      // grpc-js answers an error trailers-only: one HEADERS frame carrying the status.
      if (call.metadata.get("x-deny").length > 0) return cb({ code: status.PERMISSION_DENIED, details: "not for you" });
      cb(null, { jwks_json: JSON.stringify({ sub: call.metadata.get("x-mesh-subject")[0], scope: call.metadata.get("x-mesh-scope")[0] }) });
    },
  });
  ports.g!.workload = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  ports.a!.workload = await workload("a", "svc-b");
  ports.b!.workload = await workload("b", "svc-c");
  ports.c!.workload = await workload("c");
  const sidecar = (n: string, routes: Record<string, { url: string; grpc_url?: string; audience: string; scopes: string[] }>) => ({
    inbound: { port: ports[n]!.inbound },
    outbound: { port: ports[n]!.outbound },
    upstream: `http://127.0.0.1:${ports[n]!.workload}`,
    routes,
  });
  const inbound = (n: string): string => `http://127.0.0.1:${ports[n]!.inbound}`;
  stack = await startStack(
    {
      tokens: { clock_tolerance: 0 },
      policy: {
        hops: [
          { from: "svc-a", to: "svc-b", scopes: ["b", "c"] },
          { from: "svc-a", to: "svc-g", scopes: ["b"] },
          { from: "svc-b", to: "svc-c", scopes: ["c"] },
        ],
      },
      clients: [
        { client_id: "end-user-app", client_secret: SECRET, scope: ["a", "b", "c"], audience: ["svc-a"] },
        { client_id: "short-lived", client_secret: SECRET, scope: ["a"], audience: ["svc-a"], access_token_ttl: 1 },
        ...["svc-a", "svc-b", "svc-c", "svc-g"].map((id) => ({
          client_id: id,
          client_secret: SECRET,
          grant_types: ["client_credentials", EXCHANGE_GRANT],
          audience: [],
        })),
      ],
      sidecars: {
        "svc-a": {
          ...sidecar("a", {
            "svc-b": { url: inbound("b"), audience: "svc-b", scopes: ["b", "c"] },
            "svc-g": { url: inbound("g"), grpc_url: `http://127.0.0.1:${grpcPorts.gIn}`, audience: "svc-g", scopes: ["b"] },
          }),
          grpc_outbound: { port: grpcPorts.aOut },
          health: { port: grpcPorts.aHealth },
        },
        "svc-g": {
          ...sidecar("g", {}),
          grpc_inbound: { port: grpcPorts.gIn },
          grpc_upstream: `http://127.0.0.1:${ports.g!.workload}`,
          health: { port: grpcPorts.gHealth },
        },
        "svc-b": { ...sidecar("b", { "svc-c": { url: inbound("c"), audience: "svc-c", scopes: ["c"] } }), health: { port: healthPort } },
        "svc-c": sidecar("c", { "svc-b": { url: inbound("b"), audience: "svc-b", scopes: ["c"] } }),
      },
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  for (const n of ["a", "b", "c", "g"]) {
    sidecars.push(
      await startSidecar(
        stack,
        `svc-${n}`,
        SECRET,
        async () => (await tcpOpen(ports[n]!.inbound)) && (await tcpOpen(ports[n]!.outbound)) && (n !== "g" || tcpOpen(grpcPorts.gIn)),
      ),
    );
  }
}, 90_000);

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  for (const w of workloads) w.close();
  grpcServer?.forceShutdown();
  await stack?.stop();
});

describe("the chain through sidecars", () => {
  it("gives each hop least privilege and never forwards the inbound token", async () => {
    const at1 = await appToken();
    const r = await callA(at1);
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      scope: string;
      downstream: { status: number; body: { scope: string; downstream: { status: number; body: { scope: string } } } };
    };
    expect(body.scope).toBe("a b c");
    expect(body.downstream.status).toBe(200);
    expect(body.downstream.body.scope).toBe("b c");
    expect(body.downstream.body.downstream.body.scope).toBe("c");

    const atB = (seen.b.at(-1)?.headers.authorization ?? "").slice(7);
    const atC = (seen.c.at(-1)?.headers.authorization ?? "").slice(7);
    expect(claimsOf(atB)).toMatchObject({ aud: "svc-b", scope: "b c", act: { sub: "svc-a" } });
    expect(claimsOf(atC)).toMatchObject({ aud: "svc-c", scope: "c", act: { sub: "svc-b", act: { sub: "svc-a" } } });
    expect(seen.b.at(-1)?.headers["x-mesh-actors"]).toBe("svc-a");
    // The token each workload got is a new one: never the caller's own.
    expect(new Set([at1, atB, atC]).size).toBe(3);
  });

  it("refuses C's calls back to A (no route: invalid_target) and to B (no policy: insufficient_scope), sending nothing", async () => {
    const at1 = await appToken();
    // The chain ran to C, so the last token C saw is this call's.
    expect((await callA(at1)).status).toBe(200);
    const atC = (seen.c.at(-1)?.headers.authorization ?? "").slice(7);
    expect(claimsOf(atC)).toMatchObject({ aud: "svc-c", scope: "c" });
    const before = { a: seen.a.length, b: seen.b.length };
    const toA = await fetch(`http://127.0.0.1:${ports.c!.outbound}/svc-a/work`, { headers: { authorization: `Bearer ${atC}` } });
    expect([toA.status, ((await toA.json()) as { error?: string }).error]).toEqual([403, "invalid_target"]);
    const toB = await fetch(`http://127.0.0.1:${ports.c!.outbound}/svc-b/work`, { headers: { authorization: `Bearer ${atC}` } });
    expect([toB.status, ((await toB.json()) as { error?: string }).error]).toEqual([403, "insufficient_scope"]);
    expect(toB.headers.get("www-authenticate")).toMatch(/^Bearer error="insufficient_scope"/);
    expect({ a: seen.a.length, b: seen.b.length }).toEqual(before);
  });

  it("stops the next hop when the token is revoked while the chain runs, and every hop after it", async () => {
    const at1 = await appToken();
    expect((await callA(at1)).status).toBe(200); // exchanges cached for AT1 at A, and for AT2 at B
    const at2 = seen.b.at(-1)?.headers.authorization ?? "";
    expect(claimsOf(at2.slice(7)).lineage).toEqual([claimsOf(at1).jti]);
    const revoke = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: at1 }, { authorization: basicAuth("end-user-app", SECRET) });
    expect(revoke.status).toBe(200);
    await waitFor(async () => (await callA(at1)).status === 401, { timeoutMs: 10_000, message: "revocation not seen by sidecar A" });
    const out = await fetch(`http://127.0.0.1:${ports.a!.outbound}/svc-b/work`, { headers: { authorization: `Bearer ${at1}` } });
    expect(out.status).toBe(401);
    // AT2 was made from AT1, so it goes too: B can no longer be called with it, nor use it (or the AT3 cached for it) to call C.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.b!.inbound}/work`, { headers: { authorization: at2 } })).status === 401, {
      timeoutMs: 10_000,
      message: "revocation of AT1 not seen for AT2 by sidecar B",
    });
    const cBefore = seen.c.length;
    expect((await fetch(`http://127.0.0.1:${ports.b!.outbound}/svc-c/work`, { headers: { authorization: at2 } })).status).toBe(401);
    expect(seen.c.length).toBe(cBefore);
  });

  it("exchanges anew once the cached exchanged token is revoked, instead of handing it out until it expires (RFC 7009)", async () => {
    const at1 = await appToken();
    const outToB = () => fetch(`http://127.0.0.1:${ports.a!.outbound}/svc-b/work`, { headers: { authorization: `Bearer ${at1}` } });
    expect((await outToB()).status).toBe(200);
    const atB = seen.b.at(-1)?.headers.authorization ?? "";
    const revoke = await postForm(
      `${stack.gatewayUrl}/oauth2/revoke`,
      { token: atB.slice(7) },
      { authorization: basicAuth(String(claimsOf(atB.slice(7)).client_id), SECRET) },
    );
    expect(revoke.status).toBe(200);
    // B's sidecar refuses the revoked token once the revocation reached it...
    await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.b!.inbound}/work`, { headers: { authorization: atB } })).status === 401, {
      timeoutMs: 10_000,
      message: "revocation not seen by sidecar B",
    });
    // ...and A's, which watches the same revocations, stops handing it out: the next call goes with a new token.
    await waitFor(async () => (await outToB()).status === 200 && seen.b.at(-1)?.headers.authorization !== atB, {
      timeoutMs: 10_000,
      message: "sidecar A still sends the revoked exchanged token",
    });
  });

  it("makes one exchange for many concurrent calls with the same token", async () => {
    const at1 = await appToken();
    const before = seen.b.length;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${ports.a!.outbound}/svc-b/work`, { headers: { authorization: `Bearer ${at1}` } })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const tokens = new Set(seen.b.slice(before).map((s) => s.headers.authorization));
    expect(tokens.size).toBe(1);
  });
});

describe("gRPC over HTTP/2 through sidecars", () => {
  const callG = (token: string | undefined, extra: Record<string, string | Buffer> = {}): Promise<{ value?: { jwks_json: string }; error?: ServiceError }> => {
    // The workload addresses the destination by route name as the channel's authority.
    const client = new (loadTokenProto().sts.token.v1.TokenService)(`127.0.0.1:${grpcPorts.aOut}`, credentials.createInsecure(), {
      "grpc.default_authority": "svc-g",
    });
    const md = new Metadata();
    if (token) md.set("authorization", `Bearer ${token}`);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    return new Promise((resolve) =>
      client.GetJwks({}, md, (error, value) => {
        client.close();
        resolve(error ? { error } : { value: value as { jwks_json: string } });
      }),
    );
  };

  it("exchanges on the way out and verifies on the way in", async () => {
    const at1 = await appToken();
    const r = await callG(at1);
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.value?.jwks_json ?? "{}")).toEqual({ sub: "end-user-app", scope: "b" });
    const sent = String(gSeen.at(-1)?.get("authorization")[0]).slice(7);
    expect(sent).not.toBe(at1);
    expect(claimsOf(sent)).toMatchObject({ aud: "svc-g", scope: "b", act: { sub: "svc-a" } });
  });

  it("tells the workload who connected (x-forwarded-for, -proto), never what the caller claimed", async () => {
    const r = await callG(await appToken(), { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https", forwarded: "for=203.0.113.9" });
    expect(r.error).toBeUndefined();
    const md = gSeen.at(-1);
    // G's sidecar was called by A's, over cleartext loopback.
    expect([md?.get("x-forwarded-for"), md?.get("x-forwarded-proto"), md?.get("forwarded")]).toEqual([["127.0.0.1"], ["http"], []]);
  });

  it("passes on the workload's error status and message through both sidecars, not INTERNAL", async () => {
    const r = await callG(await appToken(), { "x-deny": "yes" });
    expect(r.error).toMatchObject({ code: status.PERMISSION_DENIED, details: "not for you" });
  });

  it("refuses a call without a token and forwards nothing", async () => {
    const before = gSeen.length;
    const r = await callG(undefined);
    expect(r.error?.code).toBe(status.UNAUTHENTICATED);
    // The OAuth code in trailing metadata, as every gRPC service of the stack sends it.
    expect(r.error?.metadata.get("oauth-error")).toEqual(["invalid_token"]);
    // RFC 6750 §3.1: no credential sent, so the challenge names no error, as the HTTP listeners answer.
    expect(r.error?.metadata.get("www-authenticate")).toEqual(['Bearer realm="mesh"']);
    expect(gSeen.length).toBe(before);
  });

  it("refuses the inbound token carried in binary metadata (INVALID_ARGUMENT, invalid_request) and forwards nothing", async () => {
    const before = gSeen.length;
    const at1 = await appToken();
    // On the wire, a -bin value is base64: the sidecar reads the bytes G would get.
    const r = await callG(at1, { "x-context-bin": Buffer.from(`ctx:${at1}`) });
    expect(r.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(r.error?.metadata.get("oauth-error")).toEqual(["invalid_request"]);
    expect(gSeen.length).toBe(before);
  });

  it("refuses metadata larger than the HTTP/1.1 listeners take (RESOURCE_EXHAUSTED) and forwards nothing", async () => {
    const before = gSeen.length;
    const r = await callG(await appToken(), { "x-padding": "x".repeat(20_000) });
    // Reset by nghttp2 (ENHANCE_YOUR_CALM) once the client has acknowledged the sidecar's SETTINGS, answered by the
    // sidecar before that: RESOURCE_EXHAUSTED to a gRPC client either way.
    expect(r.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(gSeen.length).toBe(before);
    // Within the bound, the same call goes through.
    expect((await callG(await appToken(), { "x-padding": "x".repeat(8_000) })).error).toBeUndefined();
    expect(gSeen.length).toBe(before + 1);
  });

  it("times calls on both gRPC listeners, by route and the status the caller got", async () => {
    const samples = async (port: number) => parseSamples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const calls = (now: Sample[], was: Sample[], labels: Record<string, string>) =>
      total(now, "rpc_server_call_duration_count", labels) - total(was, "rpc_server_call_duration_count", labels);
    const [aBefore, gBefore] = [await samples(grpcPorts.aHealth), await samples(grpcPorts.gHealth)];
    expect((await callG(await appToken())).error).toBeUndefined();
    expect((await callG(undefined)).error?.code).toBe(status.UNAUTHENTICATED);
    const [a, g] = [await samples(grpcPorts.aHealth), await samples(grpcPorts.gHealth)];
    expect(calls(a, aBefore, { sts_listener: "grpc_outbound", sts_route: "svc-g", rpc_response_status_code: "OK" })).toBe(1);
    expect(calls(a, aBefore, { sts_listener: "grpc_outbound", rpc_response_status_code: "UNAUTHENTICATED", error_type: "invalid_token" })).toBe(1);
    // Only the admitted call reached G's sidecar; its status came back in the workload's trailers.
    expect(calls(g, gBefore, { sts_listener: "grpc_inbound", rpc_response_status_code: "OK" })).toBe(1);
    expect(calls(g, gBefore, { sts_listener: "grpc_inbound" })).toBe(1);
  });
});

describe("health", () => {
  it("answers liveness and readiness on its own listener, and nothing else there", async () => {
    for (const path of ["/healthz", "/readyz"]) expect((await fetch(`http://127.0.0.1:${healthPort}${path}`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${healthPort}/work`)).status).toBe(404);
    // The inbound listener still proxies /readyz to the workload like any path: it needs a token.
    expect((await fetch(`http://127.0.0.1:${ports.b!.inbound}/readyz`)).status).toBe(401);
  });
});

describe("bad input at the sidecar", () => {
  // RFC 6750 §3.1: the challenge names no error when the request sent no bearer credential at all.
  it.each([
    ["no token", undefined, /^Bearer realm="mesh"$/],
    ["another scheme", "Basic c3ZjLWE6cw==", /^Bearer realm="mesh"$/],
    ["a malformed Authorization", "Bearer not a token", /^Bearer error="invalid_token"/],
  ])("refuses %s with 401 and forwards nothing", async (_name, token, challenge) => {
    const before = seen.a.length;
    const r = await fetch(`http://127.0.0.1:${ports.a!.inbound}/work`, { headers: { ...(token !== undefined && { authorization: token }) } });
    expect([r.status, ((await r.json()) as { error?: string }).error]).toEqual([401, "invalid_token"]);
    expect(r.headers.get("www-authenticate")).toMatch(challenge);
    expect(seen.a.length).toBe(before);
  });

  it("refuses a token for another audience (401 invalid_token, RFC 6750 §3.1) and a forged mesh header is never passed on", async () => {
    const at1 = await appToken();
    const before = seen.b.length;
    const wrong = await fetch(`http://127.0.0.1:${ports.b!.inbound}/work`, { headers: { authorization: `Bearer ${at1}` } });
    expect([wrong.status, ((await wrong.json()) as { error?: string }).error]).toEqual([401, "invalid_token"]);
    expect(wrong.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
    expect(seen.b.length).toBe(before);
    // The forged call must itself reach A: the header A's workload saw last is otherwise an earlier call's.
    const reachedA = seen.a.length;
    expect((await callA(at1, "/work", { "x-mesh-subject": "admin" })).status).toBe(200);
    expect(seen.a.length).toBe(reachedA + 1);
    expect(seen.a.at(-1)?.headers["x-mesh-subject"]).toBe("end-user-app");
  });

  it("refuses an expired token with 401 invalid_token (RFC 6750 §3.1) and forwards nothing", async () => {
    const short = (
      await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials" }, { authorization: basicAuth("short-lived", SECRET) })
    ).body.access_token as string;
    const exp = claimsOf(short).exp as number;
    while (Date.now() / 1000 < exp + 1) await new Promise((r) => setTimeout(r, 100));
    const before = seen.a.length;
    const expired = await callA(short);
    expect([expired.status, ((await expired.json()) as { error?: string }).error]).toEqual([401, "invalid_token"]);
    expect(expired.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
    expect(seen.a.length).toBe(before);
  });

  describe("a request target that names another host", () => {
    // Stands for cloud metadata or any host off the mesh: nothing may reach it.
    const elsewhere: string[] = [];
    let elsewherePort = 0;
    const other = createServer((req, res) => {
      elsewhere.push(req.url ?? "");
      res.end("{}");
    });
    beforeAll(async () => {
      await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
      elsewherePort = (other.address() as AddressInfo).port;
    });
    afterAll(() => {
      other.close();
    });

    /** Sends one raw HTTP/1.1 request (fetch cannot send an absolute-form target) and answers the status code. */
    const rawStatus = (port: number, requestLine: string, token: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const socket = connect(port, "127.0.0.1", () =>
          socket.write(`${requestLine}\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`),
        );
        let head = "";
        socket.on("data", (d: Buffer) => (head += d.toString("latin1")));
        socket.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)));
        socket.on("error", reject);
      });

    it("refuses an absolute-form target with 400 at either listener and forwards nothing", async () => {
      const at1 = await appToken();
      const before = { a: seen.a.length, b: seen.b.length };
      for (const port of [ports.a!.inbound, ports.a!.outbound]) {
        expect(await rawStatus(port, `GET http://127.0.0.1:${elsewherePort}/latest/meta-data HTTP/1.1`, at1)).toBe(400);
        expect(await rawStatus(port, `GET 127.0.0.1:${elsewherePort} HTTP/1.1`, at1)).toBe(400);
      }
      expect(elsewhere).toEqual([]);
      expect({ a: seen.a.length, b: seen.b.length }).toEqual(before);
    });

    it("keeps a path that starts with // on the configured destination", async () => {
      const at1 = await appToken();
      const before = seen.b.length;
      const inbound = await callA(at1, `//127.0.0.1:${elsewherePort}/x`);
      expect(inbound.status).toBe(200);
      const outbound = await fetch(`http://127.0.0.1:${ports.a!.outbound}/svc-b//127.0.0.1:${elsewherePort}/x`, {
        headers: { authorization: `Bearer ${at1}` },
      });
      expect(outbound.status).toBe(200);
      expect(seen.b.length).toBeGreaterThan(before);
      expect(elsewhere).toEqual([]);
    });
  });

  it("tells the workload about a caller whose id no header could carry as it is, percent-encoded", async () => {
    const tokens = tokenClient(stack.address.issuer);
    const internal = new Metadata();
    internal.set("authorization", basicAuth("sts-exchanger", stack.secrets.exchanger));
    const sub = "Zoë 李,admin";
    const minted = await call<MintResponse__Output>(
      tokens,
      "Mint",
      {
        sub,
        client_id: "end-user-app",
        audience: ["svc-a"],
        scope: "a b c",
        not_after: String(Math.floor(Date.now() / 1000) + 300),
        requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
      },
      internal,
    );
    tokens.close();
    if (!minted.ok) throw new Error(minted.failure.description);
    const r = await callA(minted.value.access_token);
    expect(r.status).toBe(200);
    const header = seen.a.at(-1)?.headers["x-mesh-subject"];
    expect(header).toBe("Zo%C3%AB%20%E6%9D%8E%2Cadmin");
    expect(decodeURIComponent(header as string)).toBe(sub);
  });

  it("refuses huge headers", async () => {
    const before = seen.a.length;
    const r = await callA(await appToken(), "/work", { "x-padding": "x".repeat(20_000) });
    expect(r.status).toBe(431);
    expect(seen.a.length).toBe(before);
  });
});
