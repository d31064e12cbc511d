import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createServer, request } from "node:https";
import type { Agent, Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCa, startWorkloadApiServer, svidResponse, waitFor } from "@sts/testkit";
import type { CertFiles, WorkloadApiServer } from "@sts/testkit";
import { PeerTls, peerSpiffeId } from "./peer-tls.js";

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

/** An inbound listener as the sidecar makes it, answering with the caller's SPIFFE ID and certificate fingerprint. */
async function listener(tls: PeerTls): Promise<{ port: number; hits: () => number }> {
  let hits = 0;
  const server = tls.serve(
    createServer(tls.serverOptions(), (req, res) => {
      hits++;
      const socket = req.socket as TLSSocket;
      res.end(JSON.stringify({ peer: peerSpiffeId(socket) ?? null, fingerprint: socket.getPeerCertificate().fingerprint256 }));
    }),
  );
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, hits: () => hits };
}

/** One GET over HTTPS with the given agent or connection options; the answer's body, or the error. */
function get(port: number, via: { agent: Agent } | ConnectionOptions): Promise<{ body?: { peer: string | null; fingerprint: string }; error?: Error }> {
  return new Promise((resolve) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/", ...("agent" in via ? { agent: via.agent } : { ...via, agent: false }) },
      (res: IncomingMessage) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ body: JSON.parse(text) as { peer: string | null; fingerprint: string } }));
      },
    );
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
