import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { connect as h2connect, constants, createSecureServer as createH2SecureServer } from "node:http2";
import type { Http2SecureServer, ServerHttp2Stream } from "node:http2";
import { Agent, createServer, request } from "node:https";
import type { Server } from "node:https";
import { connect as tcpConnect } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { status } from "@grpc/grpc-js";
import { X509SvidSource } from "@sts/grpc";
import { makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { CertFiles, WorkloadApiServer } from "@sts/testkit";
import { UPSTREAM_UNAVAILABLE, startH2Proxy } from "./h2-proxy.js";
import type { H2Router } from "./h2-proxy.js";
import { NoIdentityError, PeerTls, peerSpiffeId } from "./peer-tls.js";

const A_ID = "spiffe://mesh.test/ns/a/sa/svc-a";
const B_ID = "spiffe://mesh.test/ns/b/sa/svc-b";

let dir: string;
let ca: string;
let svidA: CertFiles;
let svidB: CertFiles;
/** B's next SVID: a new key, the same ID. */
let svidB2: CertFiles;
let rogue: { ca_file: string } & CertFiles;
const opened: PeerTls[] = [];
const servers: Server[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-peer-tls-"));
  const mesh = makeTestCa(dir, "mesh-ca");
  ca = mesh.ca_file;
  svidA = mesh.issue("svc-a", A_ID);
  svidB = mesh.issue("svc-b", B_ID);
  svidB2 = mesh.issue("svc-b-2", B_ID);
  const other = makeTestCa(dir, "rogue-ca");
  rogue = { ca_file: other.ca_file, ...other.issue("rogue", A_ID) };
});

afterAll(() => {
  for (const t of opened) t.close();
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const peerTls = (files: CertFiles, reload_interval = 0, onReload?: (e: { applied: boolean }) => void): PeerTls => {
  const t = new PeerTls({ ...files, ca_file: ca, reload_interval }, "sidecars.test.tls", onReload ? { onReload } : {});
  opened.push(t);
  return t;
};

/**
 * An inbound listener as the sidecar makes it, answering with the caller's SPIFFE ID and certificate fingerprint
 * (`/slow`: a quarter of a second later; `/hang`: never); it counts the calls, the connections open and every TCP
 * connection it was dialled.
 */
async function listener(tls: PeerTls): Promise<{ port: number; hits: () => number; open: () => number; dialled: () => number }> {
  let hits = 0;
  let open = 0;
  let dialled = 0;
  const server = tls.serve(
    createServer(tls.serverOptions(), (req, res) => {
      hits++;
      if (req.url === "/hang") return;
      const socket = req.socket as TLSSocket;
      const answer = JSON.stringify({ peer: peerSpiffeId(socket) ?? null, fingerprint: socket.getPeerCertificate().fingerprint256 });
      setTimeout(() => res.end(answer), req.url === "/slow" ? 250 : 0);
    }),
  );
  server.on("connection", () => dialled++);
  server.on("secureConnection", (socket: TLSSocket) => {
    open++;
    socket.once("close", () => open--);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, hits: () => hits, open: () => open, dialled: () => dialled };
}

/** One GET over HTTPS with the given agent or connection options; the answer's body, or the error. */
function get(
  port: number,
  via: { agent: Agent } | ConnectionOptions,
  path = "/",
): Promise<{ body?: { peer: string | null; fingerprint: string }; error?: Error }> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, ...("agent" in via ? { agent: via.agent } : { ...via, agent: false }) }, (res: IncomingMessage) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ body: JSON.parse(text) as { peer: string | null; fingerprint: string } }));
    });
    req.on("error", (error) => resolve({ error }));
    req.end();
  });
}

const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

/** The fingerprint of the certificate a listener presents to a new connection. */
const presented = (port: number, client: ConnectionOptions): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ...client }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on("error", reject);
  });

describe("PeerTls", () => {
  it("serves mutual TLS: a caller with a certificate from ca_file is named by its SPIFFE ID", async () => {
    const b = await listener(peerTls(svidB));
    const r = await get(b.port, peerTls(svidA).route("svc-b", B_ID));
    expect(r.error).toBeUndefined();
    expect(r.body).toEqual({ peer: A_ID, fingerprint: fingerprint(svidA.cert_file) });
  });

  it("refuses, before any request, a caller without a certificate or with one from another CA, and reports each refusal", async () => {
    const refused: Error[] = [];
    const tlsB = new PeerTls({ ...svidB, ca_file: ca, reload_interval: 0 }, "sidecars.svc-b.tls", { onHandshakeRefused: (err) => refused.push(err) });
    const b = await listener(tlsB);
    const checkB = { checkServerIdentity: () => undefined };
    const noCertificate = await get(b.port, { ca: readFileSync(ca), ...checkB });
    expect(noCertificate.error).toBeDefined();
    const otherCa = await get(b.port, { ca: readFileSync(ca), cert: readFileSync(rogue.cert_file), key: readFileSync(rogue.key_file), ...checkB });
    expect(otherCa.error).toBeDefined();
    expect(b.hits()).toBe(0);
    await waitFor(() => refused.length === 2, { timeoutMs: 5000, message: "the refused handshakes were not reported" });
  });

  it("checks the server by the route's SPIFFE ID instead of its host name, and refuses another ID or a server from another CA", async () => {
    const b = await listener(peerTls(svidB));
    const a = peerTls(svidA);
    expect((await get(b.port, a.route("right", B_ID))).body?.peer).toBe(A_ID);
    expect(a.route("right", B_ID)).toBe(a.route("right", B_ID));
    // One pool per route: the kept-alive connection the call above left, checked for B, must not carry this route's call.
    expect((await get(b.port, a.route("wrong", A_ID))).error?.message).toBe(`server presented ${B_ID}, expected ${A_ID}`);
    // Without an ID the host name is checked, which an SVID does not carry.
    expect((await get(b.port, a.route("by-host", undefined))).error?.message).toMatch(/127\.0\.0\.1/);
    const impostor = await listener(new PeerTls({ ...rogue, reload_interval: 0 }, "rogue"));
    expect((await get(impostor.port, a.route("impostor", A_ID))).error?.message).toBe("self-signed certificate in certificate chain");
    expect(impostor.hits()).toBe(0);
  });

  it("takes rotated files without a restart, for listeners and routes alike, and skips a rotation caught half written", async () => {
    const rotating = makeTestCa(dir, "rot-ca");
    const before = rotating.issue("rot-before", B_ID);
    const after = rotating.issue("rot-after", B_ID);
    const live = { cert_file: join(dir, "live.crt"), key_file: join(dir, "live.key") };
    copyFileSync(before.cert_file, live.cert_file);
    copyFileSync(before.key_file, live.key_file);
    const events: boolean[] = [];
    const t = new PeerTls({ ...live, ca_file: rotating.ca_file, reload_interval: 0.05 }, "sidecars.test.tls", {
      onReload: ({ applied }) => events.push(applied),
    });
    opened.push(t);
    const b = await listener(t);
    const client: ConnectionOptions = {
      ca: readFileSync(rotating.ca_file),
      cert: readFileSync(before.cert_file),
      key: readFileSync(before.key_file),
      checkServerIdentity: () => undefined,
    };
    const routeBefore = t.route("self", B_ID);
    expect(await presented(b.port, client)).toBe(fingerprint(before.cert_file));

    // The new certificate lands before its key: that pair does not match, so the old one stays in use.
    copyFileSync(after.cert_file, live.cert_file);
    await waitFor(() => events.includes(false), { timeoutMs: 5000, message: "the half-written rotation was never refused" });
    expect(await presented(b.port, client)).toBe(fingerprint(before.cert_file));
    expect(t.route("self", B_ID)).toBe(routeBefore);

    copyFileSync(after.key_file, live.key_file);
    await waitFor(() => events.includes(true), { timeoutMs: 5000, message: "the complete rotation was never applied" });
    expect(await presented(b.port, client)).toBe(fingerprint(after.cert_file));
    // Calls dial anew with the rotated certificate as the client's.
    const routeAfter = t.route("self", B_ID);
    expect(routeAfter).not.toBe(routeBefore);
    expect((await get(b.port, routeAfter)).body?.fingerprint).toBe(fingerprint(after.cert_file));
  });

  it("names nobody for a caller whose certificate is a CA, or whose URI SAN is no SPIFFE ID of a workload (X509-SVID §4.1, §5.2)", async () => {
    const mesh = makeTestCa(dir, "leaf-rules-ca");
    const b = await listener(new PeerTls({ ...mesh.issue("leaf-rules-b", B_ID), ca_file: mesh.ca_file, reload_interval: 0 }, "sidecars.svc-b.tls"));
    const callers = {
      "a CA certificate": mesh.issue("as-ca", A_ID, { ca: true }),
      "an https URI": mesh.issue("https-uri", "https://mesh.test/ns/a/sa/svc-a"),
      "a .. segment": mesh.issue("dot-dot", "spiffe://mesh.test/ns/a/../../admin/sa/root"),
      "a trust domain's own ID": mesh.issue("root-id", "spiffe://mesh.test"),
    };
    for (const [what, files] of Object.entries(callers)) {
      const r = await get(b.port, {
        ca: readFileSync(mesh.ca_file),
        cert: readFileSync(files.cert_file),
        key: readFileSync(files.key_file),
        checkServerIdentity: () => undefined,
      });
      expect(r.body?.peer, what).toBeNull();
    }
    // The same rule for a server a route pins: a CA certificate carrying the expected ID is not that workload.
    const server = await listener(new PeerTls({ ...callers["a CA certificate"], ca_file: mesh.ca_file, reload_interval: 0 }, "sidecars.svc-a.tls"));
    const caller = new PeerTls({ ...mesh.issue("leaf-rules-c", B_ID), ca_file: mesh.ca_file, reload_interval: 0 }, "sidecars.svc-b.tls");
    opened.push(caller);
    expect((await get(server.port, caller.route("to-a", A_ID))).error?.message).toBe(`server presented no single SPIFFE ID, expected ${A_ID}`);
    expect(server.hits()).toBe(0);
  });

  it("closes an open connection whose caller's CA a rotation took out of ca_file; a caller the new bundle trusts keeps its connection", async () => {
    const leaving = makeTestCa(dir, "leaving-ca");
    const staying = makeTestCa(dir, "staying-ca");
    const C_ID = "spiffe://mesh.test/ns/c/sa/svc-c";
    const bundle = join(dir, "rotating-bundle.pem");
    writeFileSync(bundle, Buffer.concat([readFileSync(leaving.ca_file), readFileSync(staying.ca_file)]));
    const events: boolean[] = [];
    const t = new PeerTls({ ...staying.issue("bundle-b", B_ID), ca_file: bundle, reload_interval: 0.05 }, "sidecars.svc-b.tls", {
      onReload: ({ applied }) => events.push(applied),
    });
    opened.push(t);
    const b = await listener(t);
    /** A kept-alive pool of one connection, presenting `files` and checking B against the staying CA. */
    const pool = ({ cert_file, key_file }: CertFiles): Agent =>
      new Agent({
        keepAlive: true,
        maxSockets: 1,
        ca: readFileSync(staying.ca_file),
        cert: readFileSync(cert_file),
        key: readFileSync(key_file),
        checkServerIdentity: () => undefined,
      });
    const leavingA = leaving.issue("leaving-a", A_ID);
    const fromLeaving = pool(leavingA);
    const fromStaying = pool(staying.issue("staying-c", C_ID));
    expect((await get(b.port, { agent: fromLeaving })).body?.peer).toBe(A_ID);
    expect((await get(b.port, { agent: fromStaying })).body?.peer).toBe(C_ID);
    expect(b.open()).toBe(2);
    // A connection accepted before the rotation whose handshake comes after: the listener took it under the old bundle.
    const early = tcpConnect({ host: "127.0.0.1", port: b.port });
    await new Promise((resolve) => early.once("connect", resolve));
    await waitFor(() => b.dialled() === 3, { timeoutMs: 5000, message: "the early connection was never accepted" });

    writeFileSync(bundle, readFileSync(staying.ca_file));
    await waitFor(() => events.includes(true), { timeoutMs: 5000, message: "the rotated bundle was never applied" });
    // The connection A opened under the old bundle no longer carries A's identity, nor does a new one get in.
    const afterwards = await get(b.port, { agent: fromLeaving });
    expect(afterwards.body).toBeUndefined();
    expect(afterwards.error).toBeDefined();
    const hits = b.hits();
    const late = connect({
      socket: early,
      ca: readFileSync(staying.ca_file),
      cert: readFileSync(leavingA.cert_file),
      key: readFileSync(leavingA.key_file),
      checkServerIdentity: () => undefined,
    });
    // An answer, or the connection closed without one.
    const answer = await new Promise<string>((resolve) => {
      let text = "";
      late.on("data", (d: Buffer) => {
        text += d.toString();
        if (text.endsWith("}")) resolve(text);
      });
      late.on("error", () => undefined);
      late.once("close", () => resolve(text));
      late.write("GET / HTTP/1.1\r\nhost: b\r\n\r\n");
    });
    late.destroy();
    expect(answer).not.toContain(A_ID);
    expect(b.hits()).toBe(hits);
    // C's connection stays: its next call goes over it, with no new dial.
    const dialled = b.dialled();
    expect((await get(b.port, { agent: fromStaying })).body?.peer).toBe(C_ID);
    expect(b.dialled()).toBe(dialled);
    expect(b.open()).toBe(1);
    fromLeaving.destroy();
    fromStaying.destroy();
  });

  it("fails at start naming the field of a missing file, and a key that is not the certificate's", () => {
    expect(() => new PeerTls({ ...svidA, cert_file: join(dir, "absent.crt"), ca_file: ca, reload_interval: 0 }, "sidecars.svc-a.tls")).toThrow(
      /^sidecars\.svc-a\.tls\.cert_file: cannot read .*absent\.crt \(ENOENT\)$/,
    );
    expect(() => new PeerTls({ ...svidA, key_file: svidB.key_file, ca_file: ca, reload_interval: 0 }, "sidecars.svc-a.tls")).toThrow(
      /^sidecars\.svc-a\.tls: the certificate, key or CA bundle is not usable/,
    );
  });
});

describe("PeerTls from the SPIFFE Workload API", () => {
  it("does not start, and closes the stream, when the first SVID is redacted before open() has resumed", async () => {
    // A first SVID and an empty response in one chunk are both handled before open() resumes: the source holds none.
    const stop = vi.fn();
    const open = vi.spyOn(X509SvidSource, "open").mockResolvedValueOnce({ current: undefined, stop } as unknown as X509SvidSource);
    try {
      await expect(PeerTls.open({ workload_api: { socket: "unix:///nowhere", startup_timeout: 5 } }, "sidecars.svc-b.tls")).rejects.toThrow(
        /^sidecars\.svc-b\.tls\.workload_api: the agent redacted the X\.509-SVID as soon as it sent it; without an identity the sidecar does not serve$/,
      );
    } finally {
      open.mockRestore();
    }
    expect(stop).toHaveBeenCalledOnce();
  });

  const agents: WorkloadApiServer[] = [];
  /** A stand-in agent that serves B's `files`, or nothing. */
  const agent = async (name: string, files?: CertFiles): Promise<WorkloadApiServer> => {
    const server = await startWorkloadApiServer(join(dir, `${name}.sock`), files && svidResponse({ ...files, ca_file: ca, spiffeId: B_ID }));
    agents.push(server);
    return server;
  };
  const open = async (socket: string, startup_timeout = 5): Promise<PeerTls> => {
    const t = await PeerTls.open({ workload_api: { socket, startup_timeout } }, "sidecars.svc-b.tls");
    opened.push(t);
    return t;
  };
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });
  /** Pushes B's next SVID, and waits until `t` dials with it. */
  const rotate = async (server: WorkloadApiServer, t: PeerTls): Promise<void> => {
    const before = t.route("to-a", A_ID);
    server.push(svidResponse({ ...svidB2, ca_file: ca, spiffeId: B_ID }));
    await waitFor(() => t.route("to-a", A_ID) !== before, { timeoutMs: 5000, message: "the rotation was never applied" });
  };

  it("serves with the agent's SVID, and applies a pushed rotation to new connections and routes", async () => {
    const server = await agent("agent-rot", svidB);
    const t = await open(server.socket);
    const b = await listener(t);
    const client: ConnectionOptions = {
      ca: readFileSync(ca),
      cert: readFileSync(svidA.cert_file),
      key: readFileSync(svidA.key_file),
      checkServerIdentity: () => undefined,
    };
    expect(await presented(b.port, client)).toBe(fingerprint(svidB.cert_file));
    const routeBefore = t.route("self", B_ID);
    expect((await get(b.port, routeBefore)).body?.fingerprint).toBe(fingerprint(svidB.cert_file));

    server.push(svidResponse({ ...svidB2, ca_file: ca, spiffeId: B_ID }));
    await waitFor(async () => (await presented(b.port, client)) === fingerprint(svidB2.cert_file), {
      timeoutMs: 5000,
      message: "the rotation never reached the listener",
    });
    const routeAfter = t.route("self", B_ID);
    expect(routeAfter).not.toBe(routeBefore);
    expect((await get(b.port, routeAfter)).body?.fingerprint).toBe(fingerprint(svidB2.cert_file));
  });

  it("drops the identity the agent redacts: new connections refused, open ones closed, routes refused; all back with the next SVID", async () => {
    const server = await agent("agent-redact", svidB);
    const redactions: string[] = [];
    const t = await PeerTls.open({ workload_api: { socket: server.socket, startup_timeout: 5 } }, "sidecars.svc-b.tls", {
      onRedacted: (reason) => redactions.push(reason),
    });
    opened.push(t);
    const b = await listener(t);
    const h2 = t.serve(createH2SecureServer(t.serverOptions()));
    h2.on("stream", (stream) => stream.respond({ ":status": 200 }, { endStream: true }));
    await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
    const h2Origin = `https://127.0.0.1:${(h2.address() as AddressInfo).port}`;
    const client: ConnectionOptions = {
      ca: readFileSync(ca),
      cert: readFileSync(svidA.cert_file),
      key: readFileSync(svidA.key_file),
      checkServerIdentity: () => undefined,
    };
    /** A new HTTP/2 session's first call: its status, or the session's error. */
    const h2Call = (): Promise<number | Error> =>
      new Promise((resolve) => {
        const session = h2connect(h2Origin, client);
        session.on("error", resolve);
        const req = session.request({ ":path": "/" });
        req.on("error", () => undefined);
        req.on("response", (headers) => {
          resolve(Number(headers[":status"]));
          session.close();
        });
        req.end();
      });

    // Before: a kept-alive HTTP/1.1 connection from A's route, a raw TLS connection and an HTTP/2 session, all open.
    const a = peerTls(svidA);
    const callerRoute = a.route("to-b", B_ID);
    expect((await get(b.port, callerRoute)).body?.peer).toBe(A_ID);
    const raw = connect({ host: "127.0.0.1", port: b.port, ...client });
    await new Promise((resolve) => raw.once("secureConnect", resolve));
    const session = h2connect(h2Origin, client);
    session.on("error", () => undefined);
    await new Promise((resolve) => session.once("connect", resolve));
    expect(await h2Call()).toBe(200);
    const ownRoute = t.route("self", B_ID);
    expect((await get(b.port, ownRoute)).body?.fingerprint).toBe(fingerprint(svidB.cert_file));
    const hits = b.hits();

    server.fail(status.PERMISSION_DENIED, "registration entry deleted");
    await waitFor(() => !t.hasIdentity(), { timeoutMs: 5000, message: "the redacted SVID was kept" });
    expect(redactions).toEqual(["PERMISSION_DENIED: registration entry deleted"]);
    // Open connections made with the redacted SVID are closed, whichever protocol they carry.
    await waitFor(() => raw.destroyed && session.destroyed, { timeoutMs: 5000, message: "a connection made with the redacted SVID stayed open" });
    await waitFor(() => b.open() === 0, { timeoutMs: 5000, message: "the listener kept a connection open" });
    // New connections fail before any handshake completes; the kept-alive pool of A's route has nothing left to reuse.
    await expect(presented(b.port, client)).rejects.toThrow();
    expect((await get(b.port, callerRoute)).error).toBeDefined();
    expect(await h2Call()).toBeInstanceOf(Error);
    expect(b.hits()).toBe(hits);
    // Calls out fail before dialling; what was dialled before is withdrawn.
    expect(() => t.route("self", B_ID)).toThrow(NoIdentityError);
    expect(ownRoute.withdrawn.aborted).toBe(true);

    server.push(svidResponse({ ...svidB2, ca_file: ca, spiffeId: B_ID }));
    await waitFor(() => t.hasIdentity(), { timeoutMs: 5000, message: "the next SVID was not taken" });
    expect(await presented(b.port, client)).toBe(fingerprint(svidB2.cert_file));
    expect((await get(b.port, callerRoute)).body?.peer).toBe(A_ID);
    expect(await h2Call()).toBe(200);
    const routeAfter = t.route("self", B_ID);
    expect(routeAfter).not.toBe(ownRoute);
    expect((await get(b.port, routeAfter)).body?.fingerprint).toBe(fingerprint(svidB2.cert_file));
    h2.close();
  });

  it("never handles a request whose handshake ends after the redaction, over HTTP/1.1 or HTTP/2", async () => {
    const server = await agent("agent-redact-handshake", svidB);
    const t = await open(server.socket);
    const b = await listener(t);
    let streams = 0;
    const h2 = t.serve(createH2SecureServer(t.serverOptions()));
    h2.on("stream", (stream) => {
      streams++;
      stream.respond({ ":status": 200 }, { endStream: true });
    });
    await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
    const h2Port = (h2.address() as AddressInfo).port;
    // TCP connections accepted while the SVID is held; their TLS handshakes, and the request sent with them, come later.
    const accepted = async (port: number): Promise<Socket> => {
      const socket = tcpConnect({ host: "127.0.0.1", port });
      await new Promise((resolve) => socket.once("connect", resolve));
      return socket;
    };
    const [h1Early, h2Early] = [await accepted(b.port), await accepted(h2Port)];
    await waitFor(() => b.dialled() === 1, { timeoutMs: 5000, message: "the early connection was never accepted" });

    server.fail(status.PERMISSION_DENIED, "registration entry deleted");
    await waitFor(() => !t.hasIdentity(), { timeoutMs: 5000, message: "the redacted SVID was kept" });
    const client = { ca: readFileSync(ca), cert: readFileSync(svidA.cert_file), key: readFileSync(svidA.key_file), checkServerIdentity: () => undefined };
    const h1 = connect({ socket: h1Early, ...client });
    h1.on("error", () => undefined);
    h1.end("GET / HTTP/1.1\r\nhost: b\r\n\r\n");
    const session = h2connect(`https://127.0.0.1:${h2Port}`, {
      ...client,
      createConnection: () => connect({ socket: h2Early, ...client, ALPNProtocols: ["h2"] }),
    });
    session.on("error", () => undefined);
    const req = session.request({ ":path": "/" });
    req.on("error", () => undefined);
    req.end();
    await waitFor(() => h1.destroyed && session.destroyed, { timeoutMs: 5000, message: "a handshake ended after the redaction was kept" });
    expect(b.hits()).toBe(0);
    expect(streams).toBe(0);
    h2.close();
  });

  it("retires the routes' connections at a rotation: the idle ones at once, a call under way when it has finished", async () => {
    const server = await agent("agent-retire", svidB);
    const t = await open(server.socket);
    const b = await listener(peerTls(svidA));
    const before = t.route("to-a", A_ID);
    // Two connections: one idle once its call is answered, one busy with a slow call across the rotation.
    const [quick, slow] = [get(b.port, before), get(b.port, before, "/slow")];
    expect((await quick).body?.peer).toBe(B_ID);
    await waitFor(() => b.open() === 2, { timeoutMs: 5000, message: "the slow call never connected" });

    server.push(svidResponse({ ...svidB2, ca_file: ca, spiffeId: B_ID }));
    await waitFor(() => t.route("to-a", A_ID) !== before, { timeoutMs: 5000, message: "the rotation was never applied" });
    await waitFor(() => b.open() === 1, { timeoutMs: 1000, message: "the old route's idle connection stayed open" });
    expect((await slow).body?.fingerprint).toBe(fingerprint(svidB.cert_file));
    await waitFor(() => b.open() === 0, { timeoutMs: 1000, message: "the old route's connection stayed open after its call" });
    // The new route dials with the rotated SVID.
    expect((await get(b.port, t.route("to-a", A_ID))).body?.fingerprint).toBe(fingerprint(svidB2.cert_file));
  });

  it("fails, without dialling for it, a call queued behind the route's sockets when the SVID is redacted", async () => {
    const server = await agent("agent-queued", svidB);
    const t = await open(server.socket);
    const b = await listener(peerTls(svidA));
    const route = t.route("to-a", A_ID);
    // One socket, held by a call never answered: the second call waits in the agent's queue.
    route.agent.maxSockets = 1;
    const first = get(b.port, route, "/hang");
    await waitFor(() => b.hits() === 1, { timeoutMs: 5000, message: "the first call never arrived" });
    const second = get(b.port, route);
    expect(Object.values(route.agent.requests).flat()).toHaveLength(1);

    server.fail(status.PERMISSION_DENIED, "registration entry deleted");
    expect((await first).error).toBeDefined();
    expect((await second).error).toBeInstanceOf(NoIdentityError);
    // Long enough for the dial Node makes for a queued call as the socket before it closes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(b.dialled()).toBe(1);
    expect(b.hits()).toBe(1);
  });

  it("cuts at a redaction the calls still under way on a route an earlier rotation retired", async () => {
    const server = await agent("agent-retired-redact", svidB);
    const t = await open(server.socket);
    const b = await listener(peerTls(svidA));
    let held: { error?: Error } | undefined;
    void get(b.port, t.route("to-a", A_ID), "/hang").then((r) => (held = r));
    await waitFor(() => b.hits() === 1, { timeoutMs: 5000, message: "the call never arrived" });

    await rotate(server, t);
    // The old SVID is still valid: a rotation lets the call go on.
    expect(b.open()).toBe(1);
    expect(held).toBeUndefined();

    server.fail(status.PERMISSION_DENIED, "registration entry deleted");
    await waitFor(() => held !== undefined, { timeoutMs: 5000, message: "the call on the retired route outlived the redaction" });
    expect(held?.error).toBeDefined();
    await waitFor(() => b.open() === 0, { timeoutMs: 5000, message: "the retired route's connection stayed open" });
  });

  describe("with HTTP/2 routes (the gRPC proxy)", () => {
    /** An HTTP/2 upstream presenting A's SVID; `/hold` answers headers and ends when `release` is called; anything else answers at once. */
    const h2Upstream = async (): Promise<{ origin: string; sessions: Array<{ fingerprint: string; closed: boolean }>; release: () => void }> => {
      const a = peerTls(svidA);
      const held = new Set<ServerHttp2Stream>();
      const sessions: Array<{ fingerprint: string; closed: boolean }> = [];
      const up = a.serve(createH2SecureServer(a.serverOptions()));
      up.on("session", (session) => {
        const seen = { fingerprint: (session.socket as TLSSocket).getPeerCertificate().fingerprint256, closed: false };
        sessions.push(seen);
        session.once("close", () => (seen.closed = true));
      });
      up.on("stream", (stream, headers) => {
        stream.on("error", () => undefined);
        stream.respond({ ":status": 200 }, { endStream: headers[":path"] !== "/hold" });
        if (headers[":path"] === "/hold") held.add(stream);
      });
      h2Servers.push(up);
      await new Promise<void>((resolve) => up.listen(0, "127.0.0.1", resolve));
      const release = (): void => {
        for (const stream of held) stream.end();
        held.clear();
      };
      return { origin: `https://127.0.0.1:${(up.address() as AddressInfo).port}`, sessions, release };
    };
    const h2Servers: Http2SecureServer[] = [];
    afterAll(() => {
      for (const s of h2Servers) s.close();
    });

    /** The gRPC proxy as the sidecar runs it, routing every call to `origin` by the route "to-a" of `t`. */
    const proxyTo = async (t: PeerTls, origin: string): Promise<number> => {
      const router: H2Router = async () => ({ target: origin, headers: {}, tls: { ...t.route("to-a", A_ID), pool: "to-a" } });
      const proxy = await startH2Proxy(router, () => ({ ...UPSTREAM_UNAVAILABLE, errorType: "no_identity" }), "127.0.0.1", 0);
      h2Servers.push(proxy as unknown as Http2SecureServer);
      return (proxy.address() as AddressInfo).port;
    };

    /** A call through the proxy: its response status once answered, and how its stream ended. */
    const h2Call = (port: number, path: string): { answered: Promise<number>; ended: { rstCode?: number; done: boolean } } => {
      const session = h2connect(`http://127.0.0.1:${port}`);
      session.on("error", () => undefined);
      const stream = session.request({ ":path": path, ":method": "POST" });
      stream.on("error", () => undefined);
      const ended: { rstCode?: number; done: boolean } = { done: false };
      stream.on("close", () => {
        ended.rstCode = stream.rstCode;
        ended.done = true;
        session.close();
      });
      stream.resume();
      stream.end();
      return { answered: new Promise((resolve) => stream.once("response", (h) => resolve(Number(h[":status"])))), ended };
    };

    /** A call held open through the proxy on a session dialled with B's SVID, then B's next SVID taken. */
    const holdAcrossRotation = async (
      name: string,
    ): Promise<{ server: WorkloadApiServer; upstream: Awaited<ReturnType<typeof h2Upstream>>; port: number; held: ReturnType<typeof h2Call> }> => {
      const server = await agent(name, svidB);
      const t = await open(server.socket);
      const upstream = await h2Upstream();
      const port = await proxyTo(t, upstream.origin);
      const held = h2Call(port, "/hold");
      expect(await held.answered).toBe(200);
      await rotate(server, t);
      return { server, upstream, port, held };
    };

    it("closes the old session at a rotation as soon as its calls end, with no new call needed", async () => {
      const { upstream, port, held } = await holdAcrossRotation("agent-h2-rotate");
      // Graceful: the call under way finishes.
      upstream.release();
      await waitFor(() => held.ended.done, { timeoutMs: 5000, message: "the held call never ended" });
      expect(held.ended.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
      await waitFor(() => upstream.sessions[0]?.closed === true, { timeoutMs: 5000, message: "the old SVID's session stayed open" });
      // The next call dials with the rotated SVID.
      expect(await h2Call(port, "/quick").answered).toBe(200);
      expect(upstream.sessions.map((s) => s.fingerprint)).toEqual([fingerprint(svidB.cert_file), fingerprint(svidB2.cert_file)]);
    });

    it("cuts at a redaction a call still under way on the session of a route an earlier rotation retired", async () => {
      const { server, upstream, held } = await holdAcrossRotation("agent-h2-redact");
      expect(held.ended.done).toBe(false);

      server.fail(status.PERMISSION_DENIED, "registration entry deleted");
      await waitFor(() => held.ended.done, { timeoutMs: 5000, message: "the call on the retired session outlived the redaction" });
      expect(held.ended.rstCode).not.toBe(constants.NGHTTP2_NO_ERROR);
      await waitFor(() => upstream.sessions[0]?.closed === true, { timeoutMs: 5000, message: "the retired session stayed open" });
    });
  });

  it("reports the stream refused for good after startup: no longer renewable, the SVID in use kept", async () => {
    const server = await agent("agent-refuses", svidB);
    const t = await open(server.socket);
    expect(t.canRenew()).toBe(true);
    server.fail(status.INVALID_ARGUMENT, "malformed request");
    await waitFor(() => !t.canRenew(), { timeoutMs: 5000, message: "the refusal was never noticed" });
    expect(t.hasIdentity()).toBe(true);
    expect(peerTls(svidA).canRenew()).toBe(true);
  });

  it("holds an identity until the SVID in use expires; files always do", async () => {
    const t = await open((await agent("agent-expiry", svidB)).socket);
    expect(t.hasIdentity()).toBe(true);
    // The test CA signs for two days.
    expect(t.hasIdentity(Date.now() + 3 * 86_400_000)).toBe(false);
    expect(peerTls(svidA).hasIdentity(Date.now() + 3 * 86_400_000)).toBe(true);
  });

  it("fails to open, naming the section and the socket, when no SVID comes within startup_timeout", async () => {
    const silent = await agent("agent-silent");
    await expect(open(silent.socket, 0.2)).rejects.toThrow(
      `sidecars.svc-b.tls.workload_api: no X.509-SVID from ${silent.socket} within 0.2 s (no answer); without an identity the sidecar does not serve`,
    );
  });
});
