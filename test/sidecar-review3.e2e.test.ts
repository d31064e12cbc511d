/**
 * Sidecar review, third pass, through real sidecar processes and the real exchanger: identity headers spelled the way
 * a framework folds them, the RFC 6750 answers to a token the exchanger refuses for a route, and a graceful stop
 * (SIGTERM) that finishes the calls under way and tells HTTP/1.1 and HTTP/2 clients to go elsewhere.
 */
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server as HttpServer } from "node:http";
import { Agent, request } from "node:http";
import { connect as h2connect, createServer as createH2Server } from "node:http2";
import type { Http2Server, ServerHttp2Stream } from "node:http2";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, tcpOpen, waitFor } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { basicAuth, postForm, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET } from "./chain.js";

let stack: Stack;
const sidecars: ProcessHandle[] = [];
const servers: Array<HttpServer | Http2Server> = [];
/** What each HTTP workload received. */
const seen: Record<"a" | "b" | "d", IncomingHttpHeaders[]> = { a: [], b: [], d: [] };
const ports = {
  a: { inbound: 0, outbound: 0, workload: 0, grpcOutbound: 0 },
  b: { inbound: 0, outbound: 0, workload: 0 },
  d: { inbound: 0, outbound: 0, workload: 0, grpcInbound: 0, grpcWorkload: 0 },
};
/** Calls workload D holds until the test lets them go: its HTTP answers, and its gRPC streams. */
const heldHttp: Array<() => void> = [];
const heldStreams: ServerHttp2Stream[] = [];

/** Pipelined calls as workload A saw them: the order they arrived in, and how many it had at once at most. */
const pipelined = { order: [] as string[], underWay: 0, most: 0 };

/**
 * An HTTP workload that records each call; D's holds `/slow` until released, and A answers `/pipelined/*` only after
 * a pause, long enough for any call forwarded meanwhile to reach it.
 */
function workload(name: "a" | "b" | "d"): Promise<number> {
  const server = createServer((req, res) => {
    seen[name].push(req.headers);
    const answer = (): void => void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name }));
    req.resume().on("end", () => {
      if (req.url === "/slow") return void heldHttp.push(answer);
      if (!req.url?.startsWith("/pipelined/")) return answer();
      pipelined.order.push(`${req.method} ${req.url}`);
      pipelined.most = Math.max(pipelined.most, ++pipelined.underWay);
      setTimeout(() => {
        pipelined.underWay--;
        answer();
      }, 50);
    });
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** D's gRPC workload (h2c): holds every stream until the test answers it with status OK. */
function grpcWorkload(): Promise<number> {
  const server = createH2Server();
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.resume();
    heldStreams.push(stream);
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** An access token of end-user-app for `audience` with `scope`. */
const token = async (audience: string, scope: string): Promise<string> => {
  const r = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope, audience },
    { authorization: basicAuth("end-user-app", SECRET) },
  );
  if (typeof r.body.access_token !== "string") throw new Error(`no token: ${JSON.stringify(r.body)}`);
  return r.body.access_token;
};

beforeAll(async () => {
  for (const n of ["a", "b", "d"] as const) Object.assign(ports[n], { inbound: await freePort(), outbound: await freePort() });
  ports.d.grpcInbound = await freePort();
  ports.a.grpcOutbound = await freePort();
  ports.a.workload = await workload("a");
  ports.b.workload = await workload("b");
  ports.d.workload = await workload("d");
  ports.d.grpcWorkload = await grpcWorkload();
  const sidecar = (n: "a" | "b" | "d", routes: Record<string, { url: string; audience: string; scopes: string[] }> = {}) => ({
    inbound: { port: ports[n].inbound },
    outbound: { port: ports[n].outbound },
    upstream: `http://127.0.0.1:${ports[n].workload}`,
    routes,
  });
  const toB = `http://127.0.0.1:${ports.b.inbound}`;
  stack = await startStack(
    {
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b"] }] },
      clients: [
        { client_id: "end-user-app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a", "svc-b", "svc-d"] },
        ...["svc-a", "svc-b", "svc-d"].map((client_id) => ({
          client_id,
          client_secret: SECRET,
          grant_types: ["client_credentials", EXCHANGE_GRANT],
          audience: [],
        })),
      ],
      sidecars: {
        // svc-c: a route to B's sidecar that no policy hop allows.
        "svc-a": {
          ...sidecar("a", { "svc-b": { url: toB, audience: "svc-b", scopes: ["b"] }, "svc-c": { url: toB, audience: "svc-c", scopes: ["b"] } }),
          grpc_outbound: { port: ports.a.grpcOutbound },
        },
        "svc-b": sidecar("b"),
        "svc-d": { ...sidecar("d"), grpc_inbound: { port: ports.d.grpcInbound }, grpc_upstream: `http://127.0.0.1:${ports.d.grpcWorkload}` },
      },
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  for (const n of ["a", "b", "d"] as const) {
    const open = async (): Promise<boolean> =>
      (await tcpOpen(ports[n].inbound)) &&
      (await tcpOpen(ports[n].outbound)) &&
      (n !== "d" || (await tcpOpen(ports.d.grpcInbound))) &&
      (n !== "a" || (await tcpOpen(ports.a.grpcOutbound)));
    sidecars.push(await startSidecar(stack, `svc-${n}`, SECRET, open));
  }
}, 90_000);

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  for (const stream of heldStreams) stream.destroy();
  for (const s of servers) s.close();
  await stack?.stop();
});

/** Header names a caller sends for the sidecar's own, with `.` where the sidecar writes `-`. */
const DOTTED = {
  "x-mesh.subject": "admin",
  "x.mesh.client-id": "admin-console",
  "x-mesh-token.id": "forged",
  "x-forwarded.for": "10.0.0.1",
  "x-forwarded-client.cert": "By=spiffe://mesh.test/admin",
};

describe("identity headers spelled as a framework folds them", () => {
  it("never reach the workload with `.` for `-` (PHP reads x-mesh.subject behind Caddy or FrankenPHP as x-mesh-subject), at the inbound listener or through an outbound hop", async () => {
    const forA = await token("svc-a", "a b");
    const r = await fetch(`http://127.0.0.1:${ports.a.inbound}/work`, { headers: { authorization: `Bearer ${forA}`, ...DOTTED } });
    expect(r.status).toBe(200);
    const atA = seen.a.at(-1) ?? {};
    expect(atA["x-mesh-subject"]).toBe("end-user-app");
    for (const name of Object.keys(DOTTED)) expect(atA).not.toHaveProperty(name);

    const before = seen.b.length;
    const out = await fetch(`http://127.0.0.1:${ports.a.outbound}/svc-b/work`, { headers: { authorization: `Bearer ${forA}`, ...DOTTED } });
    expect(out.status).toBe(200);
    expect(seen.b.length).toBe(before + 1);
    for (const name of Object.keys(DOTTED)) expect(seen.b.at(-1)).not.toHaveProperty(name);
  });
});

describe("requests pipelined on one connection (RFC 9112 §9.3.2)", () => {
  it("reach the workload one at a time and in order, a POST before the GET sent after it, never all at once", async () => {
    const forA = await token("svc-a", "a b");
    const calls = ["POST /pipelined/1", "GET /pipelined/2", "POST /pipelined/3", "GET /pipelined/4", "GET /pipelined/5"];
    const wire = calls.map((call) => `${call} HTTP/1.1\r\nHost: svc-a\r\nAuthorization: Bearer ${forA}\r\nContent-Length: 0\r\n\r\n`).join("");
    const answers = await new Promise<string>((resolve, reject) => {
      const socket = connect(ports.a.inbound, "127.0.0.1", () => socket.write(wire));
      let text = "";
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        if (text.split("HTTP/1.1 200 ").length - 1 === calls.length) socket.destroy();
      });
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
    });
    expect(answers.split("HTTP/1.1 200 ").length - 1).toBe(calls.length);
    expect(pipelined).toEqual({ order: calls, underWay: 0, most: 1 });
  });
});

describe("a token the exchanger refuses for a route, at the outbound listener (RFC 6750 §3, §3.1)", () => {
  it("answers a token without the route's scope 403 insufficient_scope, with the challenge naming the route's scopes, and sends nothing", async () => {
    const onlyA = await token("svc-a", "a");
    const before = seen.b.length;
    const r = await fetch(`http://127.0.0.1:${ports.a.outbound}/svc-b/work`, { headers: { authorization: `Bearer ${onlyA}` } });
    expect([r.status, ((await r.json()) as { error: string }).error]).toEqual([403, "insufficient_scope"]);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer error="insufficient_scope", error_description="[^"]*", scope="b"$/);
    expect(seen.b.length).toBe(before);
  });

  it("answers the same over gRPC: PERMISSION_DENIED, oauth-error insufficient_scope and the challenge, trailers-only", async () => {
    const onlyA = await token("svc-a", "a");
    const session = h2connect(`http://127.0.0.1:${ports.a.grpcOutbound}`);
    session.on("error", () => {});
    try {
      // The route is the channel's authority (grpc.default_authority); the refusal comes before anything is dialled.
      const stream = session.request({
        ":method": "POST",
        ":path": "/svc.B/Work",
        ":authority": "svc-b",
        "content-type": "application/grpc",
        te: "trailers",
        authorization: `Bearer ${onlyA}`,
      });
      stream.end();
      const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        stream.on("response", (h) => resolve(h));
        stream.on("error", reject);
      });
      stream.resume();
      expect([headers["grpc-status"], headers["oauth-error"]]).toEqual(["7", "insufficient_scope"]);
      expect(headers["www-authenticate"]).toMatch(/^Bearer error="insufficient_scope", error_description="[^"]*", scope="b"$/);
    } finally {
      session.destroy();
    }
  });

  it("answers a hop the policy does not allow 403 insufficient_scope with its challenge, and sends nothing", async () => {
    const forA = await token("svc-a", "a b");
    const before = seen.b.length;
    const r = await fetch(`http://127.0.0.1:${ports.a.outbound}/svc-c/work`, { headers: { authorization: `Bearer ${forA}` } });
    expect([r.status, ((await r.json()) as { error: string }).error]).toEqual([403, "insufficient_scope"]);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer error="insufficient_scope"/);
    expect(seen.b.length).toBe(before);
  });

  it("answers a subject token the exchanger rejects (RFC 8693 invalid_request) 401 invalid_token in the body as in the challenge", async () => {
    const forA = await token("svc-a", "a b");
    // The same claims under a signature that does not verify: the sidecar forwards it to the exchanger, which rejects it.
    const [head, body, signature = ""] = forA.split(".");
    const forged = `${head}.${body}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    const before = seen.b.length;
    const r = await fetch(`http://127.0.0.1:${ports.a.outbound}/svc-b/work`, { headers: { authorization: `Bearer ${forged}` } });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
    expect(((await r.json()) as { error: string }).error).toBe("invalid_token");
    expect(seen.b.length).toBe(before);
  });
});

describe("a sidecar stopping (SIGTERM)", () => {
  it("finishes the calls under way, answers them Connection: close, sends GOAWAY to its HTTP/2 clients and exits 0", async () => {
    const forD = await token("svc-d", "a");
    const d = sidecars[2] as ProcessHandle;
    // An HTTP/1.1 call under way on a kept-alive connection, and a gRPC call under way on an HTTP/2 session.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const httpCall = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = request({ port: ports.d.inbound, host: "127.0.0.1", path: "/slow", agent, headers: { authorization: `Bearer ${forD}` } }, (res) => {
        res.resume().on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      });
      req.on("error", reject);
      req.end();
    });
    const session = h2connect(`http://127.0.0.1:${ports.d.grpcInbound}`);
    session.on("error", () => {});
    let goaway = false;
    session.on("goaway", () => (goaway = true));
    const stream = session.request({
      ":method": "POST",
      ":path": "/svc.D/Work",
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${forD}`,
    });
    stream.end();
    const grpcCall = new Promise<{ status: string | undefined }>((resolve, reject) => {
      let status: string | undefined;
      stream.on("trailers", (t) => (status = String(t["grpc-status"])));
      stream.on("error", reject);
      stream.resume().on("end", () => resolve({ status }));
    });
    await waitFor(async () => heldHttp.length === 1 && heldStreams.length === 1, { timeoutMs: 10_000, message: "D's workload never got both calls" });

    const exited = d.kill("SIGTERM");
    // Stopping: the listeners take no new connection.
    await waitFor(async () => !(await tcpOpen(ports.d.inbound)), { timeoutMs: 10_000, message: "D's sidecar still listens" });
    heldHttp.shift()?.();
    const held = heldStreams.shift() as ServerHttp2Stream;
    held.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    held.on("wantTrailers", () => held.sendTrailers({ "grpc-status": "0" }));
    held.end();

    // Both calls answered in full; the HTTP/1.1 client told to reconnect elsewhere, the HTTP/2 one too (GOAWAY, sent as
    // the stop began, so before the answer on the same connection); and the stop over well before its deadline.
    const outcome = { http: await httpCall, grpc: await grpcCall, goaway, exit: await exited };
    expect(outcome).toEqual({ http: { status: 200, connection: "close" }, grpc: { status: "0" }, goaway: true, exit: 0 });
    agent.destroy();
    session.destroy();
  });
});
