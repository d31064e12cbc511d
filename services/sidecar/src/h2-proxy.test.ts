import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { connect, constants, createSecureServer, createServer } from "node:http2";
import type { ClientSessionOptions, Http2SecureServer, Http2Server, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Session } from "node:http2";
import { createServer as createTcpServer, connect as tcpConnect } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import ts from "typescript";
import { Client, Metadata, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { makeTestCa, waitFor } from "@sts/testkit";
import { H2_LIMITS, forwardableH2Headers, startH2Proxy } from "./h2-proxy.js";
import type { H2Refusal, H2Router } from "./h2-proxy.js";

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = constants;
const WAIT_MS = 5_000;

/** Bounded wait: a step that never happens fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref())]);
}

/** What the upstream received last, by path. */
const received = new Map<string, IncomingHttpHeaders>();
let upstream: Http2Server;
const upstreamSessions = new Set<ServerHttp2Session>();
let upstreamOrigin: string;

/**
 * The upstream gRPC server's behaviours, by method:
 * - Echo: answers headers, one message and trailers, each with an underscored header among them;
 * - ResetAfterHeaders: answers headers and a message, then resets with the code in `x-reset-code` once the client has sent everything;
 * - Denied: answers trailers-only (one HEADERS frame with END_STREAM), as grpc-js sends every error, with a metadata entry.
 */
function startUpstream(): Promise<Http2Server> {
  const server = createServer();
  // The proxies keep their upstream sessions alive; the upstream ends them to close.
  server.on("session", (session) => upstreamSessions.add(session.on("close", () => upstreamSessions.delete(session))));
  server.on("stream", (stream, headers) => {
    const path = String(headers[":path"]);
    received.set(path, headers);
    stream.on("error", () => {});
    if (path.endsWith("/Echo")) {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "x-kept": "yes", x_upstream_secret: "internal" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", x_trailer_secret: "internal", "x-trailer-kept": "yes" }));
      stream.on("end", () => stream.end("hello"));
      stream.resume();
    } else if (path.endsWith("/ResetAfterHeaders")) {
      // As a gRPC server does: with trailers pending, no END_STREAM goes out before the reset.
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.write("part of an answer");
      stream.on("end", () => stream.close(Number(headers["x-reset-code"])));
      stream.resume();
    } else if (path.endsWith("/Denied")) {
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "7", "grpc-message": "not%20for%20you", "x-reason": "policy" },
        { endStream: true },
      );
      stream.resume();
    } else {
      stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** An upstream that takes header lists up to `maxHeaderListSize` and records the length of each call's `x-big`. */
async function startH2Upstream(maxHeaderListSize: number): Promise<{ server: Http2Server; received: number[]; close: () => Promise<void> }> {
  const received: number[] = [];
  const sessions = new Set<ServerHttp2Session>();
  const server = createServer({ settings: { maxHeaderListSize } });
  server.on("session", (session) => sessions.add(session));
  server.on("stream", (stream, headers) => {
    received.push(String(headers["x-big"] ?? "").length);
    stream.respond({ ":status": 200 }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const close = async (): Promise<void> => {
    const closed = new Promise((r) => server.close(r));
    for (const session of sessions) session.destroy();
    await closed;
  };
  return { server, received, close };
}

interface Outcome {
  headers?: IncomingHttpHeaders;
  trailers?: IncomingHttpHeaders;
  body: string;
  /** The stream's RST_STREAM code: NO_ERROR for a clean end. */
  rstCode: number | undefined;
}

/** One gRPC-shaped call to an h2c listener; resolves when the stream closes, cleanly or not. */
function call(port: number, path: string, headers: OutgoingHttpHeaders = {}, options: ClientSessionOptions = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const client = connect(`http://127.0.0.1:${port}`, options);
    client.on("error", () => {});
    const req = client.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    const outcome: Outcome = { body: "", rstCode: undefined };
    req.setEncoding("utf8");
    req.on("response", (h) => (outcome.headers = h));
    req.on("trailers", (t: IncomingHttpHeaders) => (outcome.trailers = t));
    req.on("data", (chunk: string) => (outcome.body += chunk));
    req.on("error", () => {});
    req.on("close", () => {
      outcome.rstCode = req.rstCode;
      client.close();
      resolve(outcome);
    });
    req.end("request");
  });
}

function portOf(server: Http2Server): number {
  return (server.address() as AddressInfo).port;
}

const refusal = (): H2Refusal => ({ grpcStatus: 16, message: "refused", errorType: "invalid_token" });

beforeAll(async () => {
  upstream = await startUpstream();
  upstreamOrigin = `http://127.0.0.1:${portOf(upstream)}`;
});

afterAll(async () => {
  const closed = new Promise((r) => upstream.close(r));
  for (const session of upstreamSessions) session.destroy();
  await closed;
});

describe("forwardableH2Headers", () => {
  it("drops pseudo-headers, connection-specific and Connection-nominated ones, authorization, x-mesh-* and underscored names", () => {
    expect(
      forwardableH2Headers({
        ":path": "/svc/Method",
        ":authority": "svc",
        connection: "x-hop",
        "x-hop": "1",
        "keep-alive": "timeout=5",
        host: "svc",
        authorization: "Bearer caller-token",
        "x-mesh-subject": "mallory",
        x_mesh_subject: "mallory",
        te: "trailers",
        "content-type": "application/grpc",
        "grpc-timeout": "1S",
      }),
    ).toEqual({ te: "trailers", "content-type": "application/grpc", "grpc-timeout": "1S" });
  });

  it("drops a caller's x-forwarded-client-cert, which workloads trust to name the TLS peer (as Envoy sanitises it)", () => {
    expect(forwardableH2Headers({ "x-forwarded-client-cert": "By=spiffe://mesh/admin", "content-type": "application/grpc" })).toEqual({
      "content-type": "application/grpc",
    });
  });

  it("drops the names frameworks read as the client's address or scheme, as over HTTP/1.1 (X-Client-IP, X-Forwarded-Ssl)", () => {
    expect(forwardableH2Headers({ "x-client-ip": "10.0.0.1", "x-forwarded-ssl": "on", "content-type": "application/grpc" })).toEqual({
      "content-type": "application/grpc",
    });
  });

  it("drops http2-settings (RFC 7540 §3.2.1) and keeps te only as `trailers` (RFC 9113 §8.2.2), the fields Node refuses to send", () => {
    expect(forwardableH2Headers({ "http2-settings": "AAMAAABkAAQCAAAAAAIAAAAA", te: "TRAILERS", "grpc-status": "0" })).toEqual({
      te: "trailers",
      "grpc-status": "0",
    });
    expect(forwardableH2Headers({ te: "trailers, deflate", "grpc-status": "0" })).toEqual({ "grpc-status": "0" });
  });
});

/** One unary call through grpc-js, bytes in and out; resolves with its error, if any. */
function grpcCall(port: number, path: string): Promise<ServiceError | null> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const bytes = (b: Buffer): Buffer => b;
  return new Promise((resolve) =>
    client.makeUnaryRequest(path, bytes, bytes, Buffer.from("request"), new Metadata(), (err) => {
      client.close();
      resolve(err);
    }),
  );
}

describe("startH2Proxy", () => {
  let proxy: Http2Server;
  let proxyPort: number;
  const router: H2Router = async (headers) => ({ target: upstreamOrigin, headers: { ...forwardableH2Headers(headers), "x-mesh-subject": "alice" } });

  beforeAll(async () => {
    proxy = await startH2Proxy(router, refusal, "127.0.0.1", 0);
    proxyPort = portOf(proxy);
  });

  afterAll(async () => {
    await new Promise((r) => proxy.close(r));
  });

  it("forwards no underscored header, in headers, response headers or trailers", async () => {
    const outcome = await within(call(proxyPort, "/test.Svc/Echo", { x_mesh_subject: "mallory", "x-kept": "yes" }), WAIT_MS, "the call ended");
    expect(received.get("/test.Svc/Echo")).toMatchObject({ "x-mesh-subject": "alice", "x-kept": "yes" });
    expect(received.get("/test.Svc/Echo")).not.toHaveProperty("x_mesh_subject");
    expect(outcome).toMatchObject({
      body: "hello",
      rstCode: NGHTTP2_NO_ERROR,
      headers: { "x-kept": "yes" },
      trailers: { "grpc-status": "0", "x-trailer-kept": "yes" },
    });
    expect(outcome.headers).not.toHaveProperty("x_upstream_secret");
    expect(outcome.trailers).not.toHaveProperty("x_trailer_secret");
  });

  it.each([
    ["INTERNAL_ERROR", NGHTTP2_INTERNAL_ERROR],
    ["CANCEL", NGHTTP2_CANCEL],
  ])("passes on an upstream reset with %s after headers as a reset, not a clean end with empty trailers", async (_name, code) => {
    const outcome = await within(call(proxyPort, "/test.Svc/ResetAfterHeaders", { "x-reset-code": String(code) }), WAIT_MS, "the call ended");
    expect(outcome.headers?.[":status"]).toBe(200);
    expect(outcome.trailers).toBeUndefined();
    expect(outcome.rstCode).toBe(code);
  });

  it("passes on a trailers-only answer as one, so a grpc-js client gets its status, message and metadata (gRPC over HTTP/2)", async () => {
    const outcome = await within(call(proxyPort, "/test.Svc/Denied"), WAIT_MS, "the call ended");
    expect(outcome.headers).toMatchObject({ ":status": 200, "grpc-status": "7", "grpc-message": "not%20for%20you", "x-reason": "policy" });
    expect(outcome.trailers).toBeUndefined();
    const err = await within(grpcCall(proxyPort, "/test.Svc/Denied"), WAIT_MS, "the grpc-js call ended");
    expect(err).toMatchObject({ code: status.PERMISSION_DENIED, details: "not for you" });
    expect(err?.metadata.get("x-reason")).toEqual(["policy"]);
  });

  it("hands its router the header fields as received, where Node's header object keeps one Authorization of two", async () => {
    const seen: Array<{ authorization: unknown; rawHeaders: readonly string[] }> = [];
    const recording = await startH2Proxy(
      async (headers, _socket, rawHeaders) => {
        seen.push({ authorization: headers.authorization, rawHeaders });
        throw new Error("refused");
      },
      refusal,
      "127.0.0.1",
      0,
    );
    // Node's client will not send a field twice: the request goes frame by frame.
    const socket = tcpConnect(portOf(recording), "127.0.0.1");
    socket.on("error", () => {});
    try {
      socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      socket.write(frame(SETTINGS, 0, 0, Buffer.alloc(0)));
      // 0x83 `:method: POST`, 0x86 `:scheme: http` (RFC 7541 Appendix A).
      const fields = [
        literal(":path", "/test.Svc/Echo"),
        literal(":authority", "svc"),
        literal("authorization", "Bearer first"),
        literal("authorization", "Bearer second"),
      ];
      socket.write(frame(HEADERS, END_HEADERS | END_STREAM, 1, Buffer.concat([Buffer.from([0x83, 0x86]), ...fields])));
      await waitFor(() => seen.length > 0, { timeoutMs: WAIT_MS, message: "the router was not asked" });
      expect(seen[0]?.authorization).toBe("Bearer first");
      expect(seen[0]?.rawHeaders.filter((_, i, all) => i % 2 === 1 && all[i - 1] === "authorization")).toEqual(["Bearer first", "Bearer second"]);
    } finally {
      socket.destroy();
      await new Promise((r) => recording.close(r));
    }
  });

  it("answers UNAVAILABLE, trailers-only, when the upstream cannot be reached", async () => {
    const gone = createServer();
    const port = await new Promise<number>((resolve) => gone.listen(0, "127.0.0.1", () => resolve(portOf(gone))));
    await new Promise((r) => gone.close(r));
    const unreachable = await startH2Proxy(async () => ({ target: `http://127.0.0.1:${port}`, headers: {} }), refusal, "127.0.0.1", 0);
    try {
      const outcome = await within(call(portOf(unreachable), "/test.Svc/Echo"), WAIT_MS, "the call ended");
      expect(outcome.headers).toMatchObject({ ":status": 200, "grpc-status": "14", "grpc-message": "upstream%20unavailable" });
      // Nothing is wrong with the token: no Bearer challenge.
      expect(outcome.headers).not.toHaveProperty("www-authenticate");
    } finally {
      await new Promise((r) => unreachable.close(r));
    }
  });
});

describe("startH2Proxy to an https:// upstream", () => {
  let dir: string;
  let secure: Http2SecureServer;
  /** The client certificate (fingerprint) of each TLS session the upstream accepted, in order. */
  const sessionsSeen: string[] = [];
  /** The TLS sessions the upstream has open. */
  const secureSessions = new Set<ServerHttp2Session>();
  /** Two client identities, as a rotation would replace one with the other. */
  let clients: ConnectionOptions[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sts-h2-tls-"));
    const ca = makeTestCa(dir, "h2-ca");
    const server = ca.issue("upstream", "spiffe://mesh.test/upstream");
    const pem = (f: string): Buffer => readFileSync(f);
    clients = [ca.issue("client-1", "spiffe://mesh.test/client"), ca.issue("client-2", "spiffe://mesh.test/client")].map((c) => ({
      ca: pem(ca.ca_file),
      cert: pem(c.cert_file),
      key: pem(c.key_file),
    }));
    secure = createSecureServer({ cert: pem(server.cert_file), key: pem(server.key_file), ca: pem(ca.ca_file), requestCert: true, rejectUnauthorized: true });
    secure.on("session", (session) => {
      sessionsSeen.push((session.socket as TLSSocket).getPeerCertificate().fingerprint256);
      secureSessions.add(session.on("close", () => secureSessions.delete(session)));
      // The proxy keeps its upstream sessions alive; the upstream ends them to close.
      upstreamSessions.add(session.on("close", () => upstreamSessions.delete(session)));
    });
    secure.on("stream", (stream, headers) => {
      received.set(String(headers[":path"]), headers);
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true });
      stream.resume();
    });
    await new Promise<void>((resolve) => secure.listen(0, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    const closed = new Promise((r) => secure.close(r));
    for (const session of upstreamSessions) session.destroy();
    await closed;
    rmSync(dir, { recursive: true, force: true });
  });

  it("dials it over TLS with the route's options, one session per pool, and a new session once the options change (rotated files)", async () => {
    const options = { current: { ...clients[0], checkServerIdentity: () => undefined } as ConnectionOptions };
    const router: H2Router = async () => ({
      target: `https://127.0.0.1:${(secure.address() as AddressInfo).port}`,
      headers: {},
      tls: { pool: "r", options: options.current },
    });
    const proxy = await startH2Proxy(router, refusal, "127.0.0.1", 0);
    try {
      for (let i = 0; i < 2; i++) expect((await within(call(portOf(proxy), "/tls.Svc/One"), WAIT_MS, "the call ended")).headers?.["grpc-status"]).toBe("0");
      expect(received.get("/tls.Svc/One")?.[":scheme"]).toBe("https");
      expect(sessionsSeen).toHaveLength(1);
      options.current = { ...clients[1], checkServerIdentity: () => undefined };
      expect((await within(call(portOf(proxy), "/tls.Svc/Two"), WAIT_MS, "the call ended")).headers?.["grpc-status"]).toBe("0");
      const fingerprint = (c: ConnectionOptions): string => new X509Certificate(c.cert as Buffer).fingerprint256;
      expect(sessionsSeen).toEqual([fingerprint(clients[0]!), fingerprint(clients[1]!)]);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  it("destroys a session once the identity it was dialled with is withdrawn", async () => {
    const withdraw = new AbortController();
    const tls = { pool: "withdrawn", options: { ...clients[0], checkServerIdentity: () => undefined }, withdrawn: withdraw.signal };
    const router: H2Router = async () => ({ target: `https://127.0.0.1:${(secure.address() as AddressInfo).port}`, headers: {}, tls });
    const proxy = await startH2Proxy(router, refusal, "127.0.0.1", 0);
    try {
      const before = new Set(secureSessions);
      expect((await within(call(portOf(proxy), "/tls.Svc/Kept"), WAIT_MS, "the call ended")).headers?.["grpc-status"]).toBe("0");
      const [dialled] = [...secureSessions].filter((session) => !before.has(session));
      expect(dialled?.closed).toBe(false);
      withdraw.abort();
      await within(new Promise((resolve) => dialled?.once("close", resolve)), WAIT_MS, "the session was closed");
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });
});

/** Resolves when `emitter` emits 'close' (at once if `closed()` says it already has). */
function closeOf(emitter: { once(event: "close", listener: () => void): unknown }, closed: () => boolean = () => false): Promise<void> {
  return new Promise((resolve) => (closed() ? resolve() : emitter.once("close", () => resolve())));
}

const closeProxy = (server: Http2Server | Http2SecureServer): Promise<unknown> => new Promise((r) => server.close(r));

/** Resolves once `server` holds no connection: the file descriptors themselves, not only what a client notices. */
async function noConnections(server: Http2Server | Http2SecureServer): Promise<void> {
  const count = (): Promise<number> => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  while ((await count()) > 0) await new Promise((r) => setTimeout(r, 20));
}

/**
 * A TCP connection that sends `first` (nothing by default) and then nothing more, reading and dropping what comes; it
 * never closes its end by itself (half-open allowed), as a hostile client would not: only the server's bounds close it.
 */
const silentConnection = (port: number, first?: Buffer): Socket => {
  const socket = tcpConnect({ port, host: "127.0.0.1", allowHalfOpen: true }).on("error", () => {});
  if (first) socket.write(first);
  return socket.resume();
};

/** A client's HTTP/2 preface (RFC 9113 §3.4): the magic string, then an empty SETTINGS frame. */
const CLIENT_PREFACE = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from("000000040000000000", "hex")]);

describe("startH2Proxy's bounds on connections", () => {
  /** Short limits, so that each test waits for the close itself rather than a timer of minutes. */
  const SHORT = { prefaceTimeoutMs: 200, idleTimeoutMs: 300 };

  it("announces a bounded SETTINGS_MAX_CONCURRENT_STREAMS, not Node's 2^32 - 1", async () => {
    const proxy = await startH2Proxy(async () => ({ target: upstreamOrigin, headers: {} }), refusal, "127.0.0.1", 0);
    const client = connect(`http://127.0.0.1:${portOf(proxy)}`);
    client.on("error", () => {});
    try {
      const settings = await within(new Promise<{ maxConcurrentStreams?: number }>((r) => client.once("remoteSettings", r)), WAIT_MS, "the proxy's SETTINGS");
      expect(settings.maxConcurrentStreams).toBe(H2_LIMITS.maxConcurrentStreams);
      expect(H2_LIMITS.maxConcurrentStreams).toBeLessThanOrEqual(1000);
    } finally {
      client.destroy();
      await closeProxy(proxy);
    }
  });

  it("takes a header list up to maxHeaderListSize (65,535 unless set), announced, and refuses a larger one before the router sees it", async () => {
    const seen: number[] = [];
    const router: H2Router = async (headers) => {
      seen.push(String(headers["x-big"]).length);
      return { target: upstreamOrigin, headers: {} };
    };
    // Two fields (nghttp2 takes no single one over 64 KiB as sent), of characters HPACK does not compress much.
    const big = (length: number) => {
      const half = Array.from({ length: length / 2 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join("");
      return { "x-big": half, "x-big-2": half };
    };
    const sender = { maxSendHeaderBlockLength: 100_000 };
    const raised = await startH2Proxy(router, refusal, "127.0.0.1", 0, undefined, undefined, { maxHeaderListSize: 80_000 });
    const plain = await startH2Proxy(router, refusal, "127.0.0.1", 0);
    try {
      const passed = await call(portOf(raised), "/big/Echo", big(70_000), sender);
      expect(passed.trailers?.["grpc-status"]).toBe("0");
      expect(seen).toEqual([35_000]);
      // Each call() is a new connection's first stream, sent before the client could acknowledge the proxy's SETTINGS.
      for (const [port, length] of [
        [portOf(raised), 82_000],
        [portOf(plain), 66_000],
      ] as const) {
        const refused = await call(port, "/big/Echo", big(length), sender);
        expect(refused.headers).toMatchObject({ ":status": 200, "grpc-status": "8", "grpc-message": "request%20headers%20too%20large" });
      }
      expect(seen).toEqual([35_000]);
      expect((await call(portOf(plain), "/big/Echo", big(60_000), sender)).trailers?.["grpc-status"]).toBe("0");
      const client = connect(`http://127.0.0.1:${portOf(raised)}`);
      client.on("error", () => {});
      const settings = await within(new Promise<{ maxHeaderListSize?: number }>((r) => client.once("remoteSettings", r)), WAIT_MS, "the proxy's SETTINGS");
      client.destroy();
      expect(settings.maxHeaderListSize).toBe(80_000);
    } finally {
      await Promise.all([closeProxy(raised), closeProxy(plain)]);
    }
  });

  it("carries a raised header list on to its upstream", async () => {
    const value = Array.from({ length: 40_000 }, (_, i) => String.fromCharCode(33 + ((i * 7907) % 90))).join("");
    const wide = await startH2Upstream(200_000);
    const proxy = await startH2Proxy(
      async () => ({ target: `http://127.0.0.1:${portOf(wide.server)}`, headers: { "x-big": value, "x-big-2": value } }),
      refusal,
      "127.0.0.1",
      0,
      undefined,
      undefined,
      { maxHeaderListSize: 100_000 },
    );
    try {
      const outcome = await call(portOf(proxy), "/big/Echo");
      expect(outcome.headers?.[":status"]).toBe(200);
      expect(wide.received).toEqual([40_000]);
    } finally {
      await closeProxy(proxy);
      await wide.close();
    }
  });

  it("closes connections that never send the HTTP/2 preface (h2c)", async () => {
    const proxy = await startH2Proxy(async () => ({ target: upstreamOrigin, headers: {} }), refusal, "127.0.0.1", 0, undefined, undefined, SHORT);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 5; i++) sockets.push(silentConnection(portOf(proxy)));
      await within(new Promise((r) => proxy.once("session", r)), WAIT_MS, "a connection accepted");
      await within(noConnections(proxy), WAIT_MS, "the proxy holding no connection");
    } finally {
      for (const s of sockets) s.destroy();
      await closeProxy(proxy);
    }
  });

  it("over TLS, closes a connection that never starts its handshake, one that negotiates no h2, and one that completes it but sends no preface", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sts-h2-bounds-"));
    const ca = makeTestCa(dir, "bounds-ca");
    const server = ca.issue("server", "spiffe://mesh.test/server");
    const client = ca.issue("client", "spiffe://mesh.test/client");
    const pem = (f: string): Buffer => readFileSync(f);
    const tls = {
      serverOptions: () => ({ cert: pem(server.cert_file), key: pem(server.key_file), ca: pem(ca.ca_file), requestCert: true, rejectUnauthorized: true }),
      serve: <S>(s: S): S => s,
    };
    const proxy = await startH2Proxy(async () => ({ target: upstreamOrigin, headers: {} }), refusal, "127.0.0.1", 0, undefined, tls, SHORT);
    const port = (proxy.address() as AddressInfo).port;
    const raw = silentConnection(port);
    const handshake = (ALPNProtocols: string[]): TLSSocket =>
      tlsConnect({
        port,
        host: "127.0.0.1",
        ALPNProtocols,
        ca: pem(ca.ca_file),
        cert: pem(client.cert_file),
        key: pem(client.key_file),
        checkServerIdentity: () => undefined,
      })
        .on("error", () => {})
        .resume();
    const secure = handshake(["h2"]);
    const http1 = handshake(["http/1.1"]);
    try {
      await within(new Promise((r) => secure.once("secureConnect", r)), WAIT_MS, "the TLS handshake");
      expect(secure.alpnProtocol).toBe("h2");
      await within(noConnections(proxy), WAIT_MS, "the proxy holding no connection");
    } finally {
      for (const s of [raw, secure, http1]) s.destroy();
      await closeProxy(proxy);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("closes a session once it has had no open stream for idleTimeoutMs, and never while a stream is open", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const router: H2Router = async (headers) => {
      if (String(headers[":path"]).endsWith("/Hold")) await held;
      return { target: upstreamOrigin, headers: forwardableH2Headers(headers) };
    };
    const proxy = await startH2Proxy(router, refusal, "127.0.0.1", 0, undefined, undefined, SHORT);
    const client = connect(`http://127.0.0.1:${portOf(proxy)}`);
    client.on("error", () => {});
    try {
      const req = client.request({ ":method": "POST", ":path": "/test.Svc/Hold", "content-type": "application/grpc", te: "trailers" });
      req.on("error", () => {});
      req.end("request");
      // Three idle timeouts with the stream open: a timer running late on a loaded machine only makes this surer.
      await new Promise((r) => setTimeout(r, 3 * SHORT.idleTimeoutMs));
      expect(client.closed || client.destroyed).toBe(false);
      release();
      await within(
        closeOf(req, () => req.closed),
        WAIT_MS,
        "the held call ended",
      );
      await within(
        closeOf(client, () => client.destroyed),
        WAIT_MS,
        "the idle session closed",
      );
    } finally {
      release();
      client.destroy();
      await closeProxy(proxy);
    }
  });

  it("closes an idle session whose client sent its preface and then nothing, ignoring the GOAWAY", async () => {
    // The preface's own bound is out of the way: only the idle timeout can close this one.
    const proxy = await startH2Proxy(async () => ({ target: upstreamOrigin, headers: {} }), refusal, "127.0.0.1", 0, undefined, undefined, {
      ...SHORT,
      prefaceTimeoutMs: 60_000,
    });
    const socket = silentConnection(portOf(proxy), CLIENT_PREFACE);
    try {
      await within(new Promise((r) => proxy.once("session", r)), WAIT_MS, "the connection accepted");
      await within(noConnections(proxy), WAIT_MS, "the proxy holding no connection");
    } finally {
      socket.destroy();
      await closeProxy(proxy);
    }
  });

  it("resets a refused stream once answered (NO_ERROR), so a client that never ends its request holds no session open", async () => {
    const proxy = await startH2Proxy(
      async () => {
        throw new Error("no token");
      },
      refusal,
      "127.0.0.1",
      0,
      undefined,
      undefined,
      SHORT,
    );
    const client = connect(`http://127.0.0.1:${portOf(proxy)}`);
    client.on("error", () => {});
    try {
      // Headers only, never END_STREAM: as a client holding the stream open would send.
      const req = client.request({ ":method": "POST", ":path": "/test.Svc/Echo", "content-type": "application/grpc", te: "trailers" }, { endStream: false });
      req.on("error", () => {});
      const headers = await within(new Promise<IncomingHttpHeaders>((r) => req.once("response", r)), WAIT_MS, "the refusal");
      expect(headers["grpc-status"]).toBe("16");
      await within(
        closeOf(req, () => req.closed),
        WAIT_MS,
        "the refused stream closed",
      );
      expect(req.rstCode).toBe(NGHTTP2_NO_ERROR);
      await within(
        closeOf(client, () => client.destroyed),
        WAIT_MS,
        "the idle session closed",
      );
    } finally {
      client.destroy();
      await closeProxy(proxy);
    }
  });
});

describe("startH2Proxy's bounds on upstream sessions", () => {
  it("fails with UNAVAILABLE the calls on an upstream session that never becomes HTTP/2, and says why", async () => {
    // Accepts the connection and never answers, as a wedged process or a wrong port might.
    const silentSockets = new Set<Socket>();
    const silent = createTcpServer((socket) => silentSockets.add(socket.on("error", () => {})));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const failures: Error[] = [];
    const router: H2Router = async () => ({
      target: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      headers: {},
      onSessionError: (err) => failures.push(err),
    });
    const proxy = await startH2Proxy(router, refusal, "127.0.0.1", 0, undefined, undefined, { upstreamConnectTimeoutMs: 200 });
    try {
      for (let i = 0; i < 2; i++) {
        const outcome = await within(call(portOf(proxy), "/test.Svc/Echo"), WAIT_MS, "the call to a silent upstream ended");
        expect(outcome.headers).toMatchObject({ "grpc-status": "14", "grpc-message": "upstream%20unavailable" });
      }
      expect(failures.map((e) => e.message)).toEqual([
        "no HTTP/2 session with the upstream within 200 ms",
        "no HTTP/2 session with the upstream within 200 ms",
      ]);
    } finally {
      await closeProxy(proxy);
      for (const s of silentSockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it("closes its session to an upstream once no call has used it for upstreamIdleTimeoutMs", async () => {
    const own = createServer();
    const opened: ServerHttp2Session[] = [];
    own.on("session", (session) => opened.push(session));
    own.on("stream", (stream) => {
      stream.on("error", () => {});
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true });
      stream.resume();
    });
    await new Promise<void>((r) => own.listen(0, "127.0.0.1", r));
    const target = `http://127.0.0.1:${portOf(own)}`;
    const proxy = await startH2Proxy(async () => ({ target, headers: {} }), refusal, "127.0.0.1", 0, undefined, undefined, { upstreamIdleTimeoutMs: 200 });
    try {
      expect((await within(call(portOf(proxy), "/test.Svc/Once"), WAIT_MS, "the call ended")).headers?.["grpc-status"]).toBe("0");
      expect(opened).toHaveLength(1);
      const [session] = opened;
      await within(
        closeOf(session!, () => session!.destroyed),
        WAIT_MS,
        "the idle upstream session closed",
      );
    } finally {
      await closeProxy(proxy);
      for (const session of opened) session.destroy();
      await new Promise((r) => own.close(r));
    }
  });
});

describe("startH2Proxy's targets", () => {
  it.each([
    ["a target with a path, which would be dropped", (origin: string) => `${origin}/only-under-this-prefix`],
    ["a target with a query", (origin: string) => `${origin}/?x=1`],
    ["an https:// target without its tls", (origin: string) => origin.replace("http:", "https:")],
  ])("refuses %s (INTERNAL), and forwards nothing", async (_what, target) => {
    const path = `/test.Svc/Refused${Math.random().toString(36).slice(2)}`;
    const proxy = await startH2Proxy(async () => ({ target: target(upstreamOrigin), headers: {} }), refusal, "127.0.0.1", 0);
    try {
      const outcome = await within(call(portOf(proxy), path), WAIT_MS, "the call ended");
      expect(outcome.headers).toMatchObject({ "grpc-status": "13" });
      expect(received.has(path)).toBe(false);
    } finally {
      await closeProxy(proxy);
    }
  });
});

/** An HTTP/2 frame (RFC 9113 §4.1). */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** RFC 7541 §6.2.2, a literal field with a new name, not indexed; both strings under 127 bytes, without Huffman coding. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

const [DATA, HEADERS, SETTINGS] = [0, 1, 4];
const [END_STREAM, ACK, END_HEADERS] = [1, 1, 4];

/**
 * A bare HTTP/2 server written frame by frame, for what Node's own server refuses to send: it answers every request
 * with `:status` 200, `content-type: application/grpc`, an empty gRPC message and then `trailers` (HPACK literals, no
 * indexing), however the request looked. nghttp2 takes fields such as `http2-settings` or `te: TRAILERS` as received.
 */
async function startBareH2Upstream(trailers: ReadonlyArray<readonly [string, string]>): Promise<{ origin: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.write(frame(SETTINGS, 0, 0, Buffer.alloc(0)));
    // The client's preface (24 octets), then its frames.
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!prefaceSeen) {
        if (pending.length < 24) return;
        pending = pending.subarray(24);
        prefaceSeen = true;
      }
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const [length, type, flags, stream] = [pending.readUIntBE(0, 3), pending.readUInt8(3), pending.readUInt8(4), pending.readUInt32BE(5) & 0x7fffffff];
        pending = pending.subarray(9 + length);
        if (type === SETTINGS && (flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
        if (type !== HEADERS) continue;
        // 0x88: `:status: 200` from the static table (RFC 7541 Appendix A).
        socket.write(frame(HEADERS, END_HEADERS, stream, Buffer.concat([Buffer.from([0x88]), literal("content-type", "application/grpc")])));
        socket.write(frame(DATA, 0, stream, Buffer.alloc(5)));
        socket.write(frame(HEADERS, END_HEADERS | END_STREAM, stream, Buffer.concat(trailers.map(([name, value]) => literal(name, value)))));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const close = async (): Promise<void> => {
    const closed = new Promise((r) => server.close(r));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close };
}

/**
 * The proxy in a process of its own, as the sidecar runs it: an unhandled 'error' there ends the process, where inside
 * the test runner it would only be reported. Its router holds streams to `*​/Hold` until a line arrives on stdin, and
 * it prints `closed <rstCode>` as each inbound stream closes.
 */
describe("startH2Proxy in its own process", () => {
  let dir: string;
  let child: ChildProcess;
  let out = "";
  let port: number;

  /** Resolves once the child printed a line matching re; fails at once if the child exits. */
  function printed(re: RegExp, what: string): Promise<RegExpMatchArray> {
    return within(
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(re);
          if (m) return void resolve(m);
          if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`the proxy exited (${child.exitCode ?? child.signalCode}): ${out}`));
          else setTimeout(check, 10);
        };
        check();
      }),
      WAIT_MS,
      what,
    );
  }

  beforeAll(async () => {
    // The child runs the sources under test, transpiled as they are; no build step needed.
    dir = mkdtempSync(join(tmpdir(), "h2-proxy-test-"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    for (const name of ["proxy", "h2-proxy"]) {
      const source = readFileSync(new URL(`./${name}.ts`, import.meta.url), "utf8");
      const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      writeFileSync(join(dir, `${name}.js`), outputText);
    }
    writeFileSync(
      join(dir, "main.js"),
      `
import { createInterface } from "node:readline";
import { forwardableH2Headers, startH2Proxy } from "./h2-proxy.js";
const held = [];
createInterface({ input: process.stdin }).on("line", () => held.splice(0).forEach((release) => release()));
const router = async (headers) => {
  if (String(headers[":path"]).endsWith("/Hold")) {
    console.log("holding");
    await new Promise((release) => held.push(release));
  }
  // A test names another upstream in x-upstream; the proxy's own router would take it from its config.
  return { target: headers["x-upstream"] ?? process.argv[2], headers: forwardableH2Headers(headers) };
};
const server = await startH2Proxy(router, () => ({ grpcStatus: 16, message: "refused" }), "127.0.0.1", 0);
server.on("stream", (stream) => stream.on("close", () => console.log("closed " + stream.rstCode)));
console.log("listening " + server.address().port);
`,
    );
    child = spawn(process.execPath, [join(dir, "main.js"), upstreamOrigin], { stdio: ["pipe", "pipe", "pipe"] });
    child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    port = Number((await printed(/listening (\d+)/, "the proxy listening"))[1]);
  });

  afterAll(() => {
    child?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("survives a client resetting its stream with INTERNAL_ERROR while the router is still deciding, and serves the next call", async () => {
    const client = connect(`http://127.0.0.1:${port}`);
    client.on("error", () => {});
    const req = client.request({ ":method": "POST", ":path": "/test.Svc/Hold", "content-type": "application/grpc", te: "trailers" });
    req.on("error", () => {});
    req.end("request");
    await printed(/holding/, "the router holding the stream");
    req.close(NGHTTP2_INTERNAL_ERROR);
    await printed(new RegExp(`closed ${NGHTTP2_INTERNAL_ERROR}`), "the proxy seeing the reset");
    client.close();
    // The router now decides for a stream that is gone.
    child.stdin?.write("\n");
    const next = await within(call(port, "/test.Svc/Echo"), WAIT_MS, "the next call ended");
    expect(next).toMatchObject({ body: "hello", trailers: { "grpc-status": "0" }, rstCode: NGHTTP2_NO_ERROR });
    expect(child.exitCode).toBeNull();
  });

  it("survives an upstream failing after its headers, and serves the next call", async () => {
    const failed = await within(
      call(port, "/test.Svc/ResetAfterHeaders", { "x-reset-code": String(NGHTTP2_INTERNAL_ERROR) }),
      WAIT_MS,
      "the failed call ended",
    );
    expect(failed.rstCode).toBe(NGHTTP2_INTERNAL_ERROR);
    const next = await within(call(port, "/test.Svc/Echo"), WAIT_MS, "the next call ended");
    expect(next).toMatchObject({ body: "hello", trailers: { "grpc-status": "0" }, rstCode: NGHTTP2_NO_ERROR });
    expect(child.exitCode).toBeNull();
  });

  it.each([
    ["http2-settings (RFC 7540 §3.2.1)", "http2-settings", "AAMAAABkAAQCAAAAAAIAAAAA"],
    ["te in capitals (RFC 9113 §8.2.2)", "te", "TRAILERS"],
  ])("survives an upstream's trailers holding %s, which Node will not send: relayed without it, and serves the next call", async (_name, field, value) => {
    const bare = await startBareH2Upstream([
      ["grpc-status", "0"],
      [field, value],
    ]);
    try {
      const odd = await within(call(port, "/test.Svc/Odd", { "x-upstream": bare.origin }), WAIT_MS, "the call ended");
      expect(odd.headers).toMatchObject({ ":status": 200, "content-type": "application/grpc" });
      expect(odd.trailers?.["grpc-status"]).toBe("0");
      expect(odd.trailers?.[field]).not.toBe(value);
      const next = await within(call(port, "/test.Svc/Echo"), WAIT_MS, "the next call ended");
      expect(next).toMatchObject({ body: "hello", trailers: { "grpc-status": "0" }, rstCode: NGHTTP2_NO_ERROR });
      expect(child.exitCode).toBeNull();
    } finally {
      await bare.close();
    }
  });
});
