import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, createServer, request } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { waitFor } from "@sts/testkit";
import { forward, forwardableHeaders, routeLocation } from "./proxy.js";

/** Bounded wait: a step that never happens fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref())]);
}

const WAIT_MS = 5_000;

/** What each test's upstream does, by path. */
const upstreamRoutes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
/** Every request the upstream parsed, in order. */
const upstreamSaw: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
/** The promise of each forward() call, by path. */
const forwards = new Map<string, Promise<Error | undefined>>();
let upstream: Server;
/** The pool and signal of the calls to `/withdrawn/…`: one socket, as a busy route's pool whose sockets are all taken. */
const withdrawnPool = new Agent({ keepAlive: true, maxSockets: 1 });
const withdraw = new AbortController();
let front: Server;
let frontPort: number;

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    upstreamSaw.push({ url: req.url ?? "", headers: req.headers });
    upstreamRoutes.get(req.url ?? "")?.(req, res);
  });
  const upstreamPort = await listen(upstream);
  // Stands for the sidecar: forwards every path to the same path upstream; `/timeout/…` with a short upstream timeout,
  // `/withdrawn/…` through withdrawnPool under withdraw's signal, `/routed/…` as the outbound listener's route svc-b.
  front = createServer((req, res) => {
    const path = req.url ?? "/";
    const options = path.startsWith("/timeout/")
      ? { timeoutMs: 300 }
      : path.startsWith("/withdrawn/")
        ? { agent: withdrawnPool, signal: withdraw.signal }
        : path.startsWith("/routed/")
          ? { redirects: { prefix: "/svc-b", listenerHost: "127.0.0.1" } }
          : {};
    forwards.set(path, forward(req, res, new URL(path, `http://127.0.0.1:${upstreamPort}`), forwardableHeaders(req.headers), options));
  });
  frontPort = await listen(front);
});

afterAll(async () => {
  withdrawnPool.destroy();
  for (const s of [front, upstream]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** False when the connection was cut before the whole body arrived. */
  complete: boolean;
}

/** One call to the front server on its own connection; resolves once the response is over, whole or cut. */
function call(path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: frontPort, path, method: body === undefined ? "GET" : "POST", headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("error", () => {});
      res.on("close", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, complete: res.complete }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends `raw` bytes on a connection of their own (which they must ask to close) and answers all that comes back. */
function rawCall(raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(frontPort, "127.0.0.1", () => socket.write(raw));
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
}

describe("forwardableHeaders", () => {
  it("drops a caller's x-forwarded-client-cert, which workloads trust to name the TLS peer (as Envoy sanitises it)", () => {
    expect(forwardableHeaders({ "x-forwarded-client-cert": "By=spiffe://mesh/admin;URI=spiffe://mesh/admin", accept: "*/*" })).toEqual({ accept: "*/*" });
  });

  it("drops hop-by-hop, Connection-nominated (RFC 9110 §7.6.1), authorization, x-mesh-* and underscored names", () => {
    expect(
      forwardableHeaders({
        connection: "keep-alive, X-Hop-A,x-hop-b , ",
        "keep-alive": "timeout=5",
        "x-hop-a": "1",
        "x-hop-b": "2",
        "transfer-encoding": "chunked",
        te: "trailers",
        upgrade: "h2c",
        host: "example.test",
        authorization: "Bearer caller-token",
        "x-mesh-subject": "mallory",
        x_mesh_subject: "mallory",
        x_custom: "1",
        "content-type": "application/json",
        "x-request-id": "r1",
        "set-cookie": ["a=1", "b=2"],
      }),
    ).toEqual({ "content-type": "application/json", "x-request-id": "r1", "set-cookie": ["a=1", "b=2"] });
  });
});

describe("forwardableHeaders and names a framework folds", () => {
  it("drops the proxies' names spelled with `.` for `-`, which PHP behind Caddy or FrankenPHP reads as the real ones, and keeps other dotted names", () => {
    expect(
      forwardableHeaders({
        "x-mesh.subject": "admin",
        "x.mesh.scope": "admin",
        "x-forwarded.for": "10.0.0.1",
        "x-forwarded-client.cert": "By=spiffe://mesh.test/admin",
        "x-real.ip": "10.0.0.1",
        "x-app.version": "3",
      }),
    ).toEqual({ "x-app.version": "3" });
  });
});

describe("forwardableHeaders and the proxies' own headers", () => {
  it("drops a caller's Forwarded (RFC 7239), X-Forwarded-For/-Proto/-Host/-Port and X-Real-IP: only the sidecar says who called and how", () => {
    expect(
      forwardableHeaders({
        forwarded: "for=10.0.0.1;proto=https",
        "x-forwarded-for": "10.0.0.1",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "admin.internal",
        "x-forwarded-port": "443",
        "x-real-ip": "10.0.0.1",
        accept: "*/*",
      }),
    ).toEqual({ accept: "*/*" });
  });

  it("drops the names frameworks read ahead of X-Forwarded-For/-Proto: X-Forwarded-Ssl (Rack), X-Forwarded-Prefix (Spring), X-Client-IP (request-ip) and kin", () => {
    expect(
      forwardableHeaders({
        "x-forwarded-ssl": "on",
        "x-forwarded-scheme": "https",
        "front-end-https": "on",
        "x-url-scheme": "https",
        "x-forwarded-prefix": "/admin",
        "x-forwarded-server": "admin.internal",
        "x-forwarded": "for=10.0.0.1",
        "forwarded-for": "10.0.0.1",
        "x-client-ip": "10.0.0.1",
        "client-ip": "10.0.0.1",
        "true-client-ip": "10.0.0.1",
        "x-cluster-client-ip": "10.0.0.1",
        "cf-connecting-ip": "10.0.0.1",
        "fastly-client-ip": "10.0.0.1",
        "x-original-forwarded-for": "10.0.0.1",
        accept: "*/*",
      }),
    ).toEqual({ accept: "*/*" });
  });
});

describe("routeLocation (proxy_redirect for the outbound listener's routes)", () => {
  const asked = new URL("http://127.0.0.1:8001/app/page?x=1");
  const redirects = { prefix: "/svc-b", listenerHost: "127.0.0.1" };
  it.each([
    ["an absolute path", "/login", "/svc-b/login"],
    ["another route's path, which stays a path of the destination", "/svc-c/admin/delete-all", "/svc-b/svc-c/admin/delete-all"],
    ["a relative path, resolved against the URL asked for", "login?next=%2F", "/svc-b/app/login?next=%2F"],
    ["dot segments climbing out", "../../../svc-c/admin", "/svc-b/svc-c/admin"],
    ["percent-encoded dot segments", "/%2e%2e/%2E%2e/svc-c/admin", "/svc-b/svc-c/admin"],
    ["backslashes for slashes", "..\\..\\svc-c\\admin", "/svc-b/svc-c/admin"],
    ["an encoded slash, which stays one segment", "/..%2f..%2fsvc-c", "/svc-b/..%2f..%2fsvc-c"],
    ["a path that normalises to start with //", "/.//evil.example/x", "/svc-b//evil.example/x"],
    ["a query or fragment alone", "#top", "/svc-b/app/page?x=1#top"],
    ["an absolute URL on the route's origin", "http://127.0.0.1:8001/x?y#z", "/svc-b/x?y#z"],
    ["the route's origin with its default port written out", "http://127.0.0.1:8001/x", "/svc-b/x"],
  ])("puts %s under the route's prefix", (_name, location, expected) => {
    expect(routeLocation(location, asked, redirects)).toBe(expected);
  });

  it.each([
    ["an absolute URL on another origin", "https://elsewhere.example/x?y", "https://elsewhere.example/x?y"],
    ["a network-path reference", "//elsewhere.example/x", "http://elsewhere.example/x"],
    ["backslashes WHATWG reads as a network-path reference", "/\\svc-c/admin", "http://svc-c/admin"],
    ["the route's host on another port (the workload calls its sidecar on localhost)", "http://127.0.0.1:8002/x", "http://127.0.0.1:8002/x"],
  ])("leaves %s pointing where it points, written out absolute", (_name, location, expected) => {
    expect(routeLocation(location, asked, { prefix: "/svc-b", listenerHost: "localhost" })).toBe(expected);
  });

  it.each([
    ["does not parse", "http://[::1"],
    ["names the outbound listener itself (fetch would keep Authorization and call route svc-c)", "http://127.0.0.1:15001/svc-c/admin"],
    ["names the listener's host on another port (Go's client keeps Authorization for the same host)", "http://127.0.0.1:15002/admin"],
    ["names the listener as a network-path reference", "//127.0.0.1:15001/svc-c/admin"],
  ])("drops a Location that %s", (_name, location) => {
    expect(routeLocation(location, asked, redirects)).toBeUndefined();
  });

  it("drops what would leave a prefix that dot segments could climb out of", () => {
    expect(routeLocation("/x", asked, { prefix: "/.." })).toBeUndefined();
  });
});

describe("forward", () => {
  it("re-expresses the answer's Location and Content-Location under the route's prefix, and drops one that does not parse", async () => {
    const upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const answers: Record<string, Record<string, string>> = {
      "/routed/moved": { location: "../svc-c/admin/delete-all", "content-location": `${upstreamOrigin}/routed/moved.json` },
      "/routed/garbled": { location: "http://[::1", "content-location": "http://[::1" },
      "/routed/away": { location: "https://elsewhere.example/x" },
      "/routed/listener": { location: `http://127.0.0.1:${frontPort}/svc-c/admin` },
    };
    for (const [path, headers] of Object.entries(answers)) upstreamRoutes.set(path, (_req, res) => res.writeHead(307, headers).end());
    const seen = async (path: string) => {
      const { status, headers } = await call(path);
      return { status, location: headers.location, contentLocation: headers["content-location"] };
    };
    expect(await seen("/routed/moved")).toEqual({ status: 307, location: "/svc-b/svc-c/admin/delete-all", contentLocation: "/svc-b/routed/moved.json" });
    expect(await seen("/routed/garbled")).toEqual({ status: 307, location: undefined, contentLocation: undefined });
    expect(await seen("/routed/away")).toEqual({ status: 307, location: "https://elsewhere.example/x", contentLocation: undefined });
    expect(await seen("/routed/listener")).toEqual({ status: 307, location: undefined, contentLocation: undefined });
  });

  it("passes Location on as it is without a route (the inbound listener's paths are the workload's own)", async () => {
    upstreamRoutes.set("/moved-inbound", (_req, res) => res.writeHead(302, { location: "/svc-c/admin" }).end());
    expect((await call("/moved-inbound")).headers.location).toBe("/svc-c/admin");
  });

  it("forwards neither Connection-nominated nor underscored headers, in either direction", async () => {
    let seen: IncomingHttpHeaders | undefined;
    upstreamRoutes.set("/headers", (req, res) => {
      seen = req.headers;
      res.writeHead(200, {
        connection: "keep-alive, x-upstream-hop",
        "x-upstream-hop": "internal",
        x_upstream_secret: "internal",
        "x-kept": "yes",
      });
      res.end("ok");
    });
    const answer = await call("/headers", { connection: "keep-alive, x-client-hop", "x-client-hop": "1", x_mesh_subject: "mallory", "x-kept": "yes" });
    expect(answer).toMatchObject({ status: 200, body: "ok", complete: true });
    expect(seen).toMatchObject({ "x-kept": "yes" });
    expect(seen).not.toHaveProperty("x-client-hop");
    expect(seen).not.toHaveProperty("x_mesh_subject");
    expect(answer.headers).toMatchObject({ "x-kept": "yes" });
    expect(answer.headers).not.toHaveProperty("x-upstream-hop");
    expect(answer.headers).not.toHaveProperty("x_upstream_secret");
    await expect(within(forwards.get("/headers")!, WAIT_MS, "forward() resolved")).resolves.toBeUndefined();
  });

  // The body is a whole second request: sent upstream without framing, the workload would parse it as a request of its own.
  const smuggled = "GET /admin HTTP/1.1\r\nHost: upstream\r\nx-mesh-subject: admin\r\n\r\n";
  it.each([
    [
      "Transfer-Encoding: chunked",
      "/smuggle/chunked",
      `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
    ],
    [
      "a Content-Length nominated by Connection",
      "/smuggle/length",
      `Content-Length: ${smuggled.length}\r\nConnection: close, content-length\r\n\r\n${smuggled}`,
    ],
  ])("sends the body of a GET with %s upstream as a body, never as a second request (RFC 9112 §6, request smuggling)", async (_name, path, rest) => {
    upstreamRoutes.set(path, (req, res) => {
      let body = "";
      req.setEncoding("latin1");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end(body));
    });
    const before = upstreamSaw.length;
    const answer = await within(rawCall(`GET ${path} HTTP/1.1\r\nHost: front\r\n${rest}`), WAIT_MS, "the client got its answer");
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    // The upstream read the smuggled bytes as the body of the one request it was sent.
    expect(answer.slice(answer.indexOf("\r\n\r\n") + 4)).toContain(smuggled);
    await within(forwards.get(path)!, WAIT_MS, "forward() resolved");
    expect(upstreamSaw.slice(before).map((r) => r.url)).toEqual([path]);
    expect(upstreamSaw.some((r) => r.url === "/admin" || r.headers["x-mesh-subject"] !== undefined)).toBe(false);
  });

  it("frames the upstream request as the received one was: an exact content-length, chunked, or no body at all", async () => {
    const framing = new Map<string, Pick<IncomingHttpHeaders, "content-length" | "transfer-encoding">>();
    for (const path of ["/framing/length", "/framing/chunked", "/framing/none"]) {
      upstreamRoutes.set(path, (req, res) => {
        framing.set(path, { "content-length": req.headers["content-length"], "transfer-encoding": req.headers["transfer-encoding"] });
        req.resume().on("end", () => res.end("ok"));
      });
    }
    await call("/framing/length", {}, "12345");
    await within(
      rawCall("POST /framing/chunked HTTP/1.1\r\nHost: front\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
      WAIT_MS,
      "answer",
    );
    await call("/framing/none");
    expect(Object.fromEntries(framing)).toEqual({
      "/framing/length": { "content-length": "5", "transfer-encoding": undefined },
      "/framing/chunked": { "content-length": undefined, "transfer-encoding": "chunked" },
      "/framing/none": { "content-length": undefined, "transfer-encoding": undefined },
    });
  });

  it("aborts the upstream request and resolves when the client leaves mid-body", async () => {
    let arrived!: () => void;
    const upstreamGotRequest = new Promise<void>((r) => (arrived = r));
    const upstreamSawAbort = new Promise<boolean>((resolve) =>
      upstreamRoutes.set("/client-leaves", (req) => {
        arrived();
        req.resume();
        req.on("close", () => resolve(req.complete));
      }),
    );
    const client = request({ host: "127.0.0.1", port: frontPort, path: "/client-leaves", method: "POST", headers: { "content-length": "1000" }, agent: false });
    client.on("error", () => {});
    client.write("x".repeat(10));
    await within(upstreamGotRequest, WAIT_MS, "the upstream got the request");
    client.destroy();
    expect(await within(upstreamSawAbort, WAIT_MS, "the upstream request was aborted")).toBe(false);
    await expect(within(forwards.get("/client-leaves")!, WAIT_MS, "forward() resolved")).resolves.toBeUndefined();
  });

  it("cuts the client's connection when the upstream dies mid-body, instead of a short body under the full content-length", async () => {
    upstreamRoutes.set("/upstream-dies", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "100" });
      res.write("x".repeat(10), () => res.socket?.destroy());
    });
    const answer = await within(call("/upstream-dies"), WAIT_MS, "the client saw the response end");
    expect(answer).toMatchObject({ status: 200, headers: { "content-length": "100" }, complete: false });
    expect(answer.body.length).toBeLessThan(100);
    await expect(within(forwards.get("/upstream-dies")!, WAIT_MS, "forward() resolved")).resolves.toBeInstanceOf(Error);
  });

  it("answers 504 temporarily_unavailable when the upstream does not answer before the timeout", async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((r) => (upstreamClosed = r));
    upstreamRoutes.set("/timeout/silent", (req) => req.on("close", upstreamClosed).resume());
    const answer = await within(call("/timeout/silent"), WAIT_MS, "the client got an answer");
    expect(answer.status).toBe(504);
    expect(answer.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(answer.body)).toEqual({ error: "temporarily_unavailable", error_description: "the upstream did not answer in time" });
    const err = await within(forwards.get("/timeout/silent")!, WAIT_MS, "forward() resolved");
    expect(err?.message).toBe("no answer from the upstream within 300 ms");
    await within(closed, WAIT_MS, "the upstream request was given up");
  });

  it("cuts the client's connection when the upstream goes silent after its headers", async () => {
    upstreamRoutes.set("/timeout/stalls", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "100" });
      res.write("x".repeat(10));
    });
    const answer = await within(call("/timeout/stalls"), WAIT_MS, "the client saw the response end");
    expect(answer).toMatchObject({ status: 200, complete: false });
    await expect(within(forwards.get("/timeout/stalls")!, WAIT_MS, "forward() resolved")).resolves.toBeInstanceOf(Error);
  });

  it("answers 502, sending nothing more, once its signal aborts: a call under way, one queued in its agent, and any later call", async () => {
    // A plain agent still dials for the queued call as the first socket closes (PeerTls's route agents do not); nothing is sent on it.
    upstreamRoutes.set("/withdrawn/hangs", () => undefined);
    const underWay = call("/withdrawn/hangs");
    await waitFor(() => upstreamSaw.some((r) => r.url === "/withdrawn/hangs"), { timeoutMs: WAIT_MS, message: "the first call never arrived" });
    const queued = call("/withdrawn/queued");
    await waitFor(() => Object.values(withdrawnPool.requests).flat().length === 1, { timeoutMs: WAIT_MS, message: "the second call never queued" });
    withdraw.abort(new Error("identity withdrawn"));
    for (const answer of await within(Promise.all([underWay, queued]), WAIT_MS, "both callers got an answer")) {
      expect(answer.status).toBe(502);
      expect(JSON.parse(answer.body)).toEqual({ error: "bad_gateway" });
    }
    expect((await within(forwards.get("/withdrawn/queued")!, WAIT_MS, "forward() resolved"))?.message).toBe("identity withdrawn");
    expect((await within(call("/withdrawn/later"), WAIT_MS, "the later caller got an answer")).status).toBe(502);
    expect(upstreamSaw.map((r) => r.url).filter((url) => url.startsWith("/withdrawn/"))).toEqual(["/withdrawn/hangs"]);
  });
});
