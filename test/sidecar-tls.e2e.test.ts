/**
 * Mutual TLS between sidecars, through real sidecar processes: the test plays
 * workload A and calls [sidecar A out] → https → [sidecar B in] → B, and gRPC
 * the same way to G over HTTP/2 with TLS. Certificates are X.509-SVIDs from a
 * throwaway CA made with openssl. A caller without a certificate, with one
 * from another CA, or not in allowed_peers gets nothing through; a destination
 * that is not the route's SPIFFE ID gets nothing sent.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server as HttpServer } from "node:http";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Metadata, Server, ServerCredentials, credentials, status } from "@grpc/grpc-js";
import type { ChannelCredentials, ServiceError } from "@grpc/grpc-js";
import { grpcCredentials, requireSpiffeId } from "@sts/grpc";
import { loadTokenProto } from "@sts/proto";
import { freePort, makeTestCa, tcpOpen } from "@sts/testkit";
import type { CertFiles, ProcessHandle } from "@sts/testkit";
import { parseSamples, total } from "./prometheus.js";
import { basicAuth, claimsOf, postForm, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, workloadClients } from "./chain.js";

const A_ID = "spiffe://mesh.test/ns/shop/sa/svc-a";
const B_ID = "spiffe://mesh.test/ns/shop/sa/svc-b";
const G_ID = "spiffe://mesh.test/ns/shop/sa/svc-g";
/** A workload of the mesh, with a genuine SVID, that allowed_peers does not list. */
const C_ID = "spiffe://mesh.test/ns/shop/sa/svc-c";
const IMPOSTOR_ID = "spiffe://mesh.test/ns/shop/sa/impostor";

let dir: string;
let stack: Stack;
let ca: string;
const svid = {} as Record<"a" | "b" | "c" | "g", CertFiles>;
/** A's SPIFFE ID, signed by a CA the mesh does not trust. */
let rogueA: CertFiles;
const ports = { outA: 0, inA: 0, grpcOutA: 0, inB: 0, outB: 0, healthB: 0, inG: 0, outG: 0, grpcInG: 0 };
const sidecars: ProcessHandle[] = [];
let workloadB: HttpServer;
let workloadG: Server;
const seenByB: IncomingHttpHeaders[] = [];
const seenByG: Metadata[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-sidecar-tls-"));
  const mesh = makeTestCa(dir, "mesh-ca");
  ca = mesh.ca_file;
  svid.a = mesh.issue("svc-a", A_ID);
  svid.b = mesh.issue("svc-b", B_ID);
  svid.c = mesh.issue("svc-c", C_ID);
  svid.g = mesh.issue("svc-g", G_ID);
  rogueA = makeTestCa(dir, "rogue-ca").issue("rogue-svc-a", A_ID);
  for (const name of Object.keys(ports) as Array<keyof typeof ports>) ports[name] = await freePort();

  // B is a plain HTTP workload that tells what its sidecar told it.
  workloadB = createServer((req, res) => {
    seenByB.push(req.headers);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ peer: req.headers["x-mesh-peer"] ?? null }));
  });
  const portB = await new Promise<number>((resolve) => workloadB.listen(0, "127.0.0.1", () => resolve((workloadB.address() as AddressInfo).port)));
  // G speaks gRPC: the TokenService's GetJwks stands in for its API and echoes what its sidecar told it.
  workloadG = new Server();
  workloadG.addService(loadTokenProto().sts.token.v1.TokenService.service, {
    GetJwks: (call: { metadata: Metadata }, cb: (e: Partial<ServiceError> | null, v?: { jwks_json: string }) => void) => {
      seenByG.push(call.metadata);
      const first = (key: string): unknown => call.metadata.get(key)[0] ?? null;
      cb(null, { jwks_json: JSON.stringify({ peer: first("x-mesh-peer"), sub: first("x-mesh-subject"), scope: first("x-mesh-scope") }) });
    },
  });
  const portG = await new Promise<number>((resolve, reject) =>
    workloadG.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );

  const tls = (files: CertFiles, more: Record<string, unknown> = {}) => ({ ...files, ca_file: ca, ...more });
  const inB = `https://127.0.0.1:${ports.inB}`;
  const inG = `https://127.0.0.1:${ports.inG}`;
  const grpcInG = `https://127.0.0.1:${ports.grpcInG}`;
  stack = await startStack(
    {
      policy: {
        hops: [
          { from: "svc-a", to: "svc-b", scopes: ["b"] },
          { from: "svc-a", to: "svc-g", scopes: ["g"] },
        ],
      },
      clients: [
        { client_id: "end-user-app", client_secret: SECRET, scope: ["a", "b", "g"], audience: ["svc-a"] },
        ...workloadClients("svc-a", "svc-b", "svc-g"),
      ],
      sidecars: {
        "svc-a": {
          inbound: { port: ports.inA },
          outbound: { port: ports.outA },
          grpc_outbound: { port: ports.grpcOutA },
          upstream: "http://127.0.0.1:9",
          tls: tls(svid.a),
          routes: {
            "svc-b": { url: inB, spiffe_id: B_ID, audience: "svc-b", scopes: ["b"] },
            // The same destination, expected to be someone else: B's genuine certificate must not pass for it.
            "svc-b-as-impostor": { url: inB, spiffe_id: IMPOSTOR_ID, audience: "svc-b", scopes: ["b"] },
            "svc-g": { url: inG, grpc_url: grpcInG, spiffe_id: G_ID, audience: "svc-g", scopes: ["g"] },
            "svc-g-as-impostor": { url: inG, grpc_url: grpcInG, spiffe_id: IMPOSTOR_ID, audience: "svc-g", scopes: ["g"] },
          },
        },
        "svc-b": {
          inbound: { port: ports.inB },
          outbound: { port: ports.outB },
          health: { port: ports.healthB },
          upstream: `http://127.0.0.1:${portB}`,
          // G may call B too, but only with tokens issued to svc-g: a token is bound to the peer of its client.
          tls: tls(svid.b, { allowed_peers: [A_ID, G_ID], peer_clients: { [A_ID]: "svc-a", [G_ID]: "svc-g" } }),
        },
        "svc-g": {
          inbound: { port: ports.inG },
          outbound: { port: ports.outG },
          grpc_inbound: { port: ports.grpcInG },
          upstream: "http://127.0.0.1:9",
          grpc_upstream: `http://127.0.0.1:${portG}`,
          tls: tls(svid.g, { allowed_peers: [A_ID] }),
        },
      },
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  const open =
    (...p: number[]) =>
    async () =>
      (await Promise.all(p.map(tcpOpen))).every(Boolean);
  sidecars.push(await startSidecar(stack, "svc-a", SECRET, open(ports.inA, ports.outA, ports.grpcOutA)));
  sidecars.push(await startSidecar(stack, "svc-b", SECRET, open(ports.inB, ports.outB, ports.healthB)));
  sidecars.push(await startSidecar(stack, "svc-g", SECRET, open(ports.inG, ports.outG, ports.grpcInG)));
}, 90_000);

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  workloadB?.close();
  workloadG?.forceShutdown();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const appToken = async (): Promise<string> => {
  const r = await postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    { grant_type: "client_credentials", scope: "a b g" },
    { authorization: basicAuth("end-user-app", SECRET) },
  );
  expect(r.status).toBe(200);
  return r.body.access_token as string;
};

/** Workload A calling a destination through its sidecar's outbound listener (cleartext, on loopback). */
const outOfA = (route: string, token: string, extra: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${ports.outA}/${route}/work`, { headers: { authorization: `Bearer ${token}`, ...extra } });

/** A B-bound token, as sidecar A last delivered it (a stolen one, for the tests that play another caller). */
const tokenForB = async (): Promise<string> => {
  expect((await outOfA("svc-b", await appToken())).status).toBe(200);
  return (seenByB.at(-1)?.authorization ?? "").slice("Bearer ".length);
};

interface Answer {
  status?: number;
  body?: string;
  error?: Error;
}

/** A call straight to B's inbound listener over HTTPS, presenting `client` (or no certificate), with B's SPIFFE ID checked. */
function callB(client: CertFiles | undefined, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: ports.inB,
        path: "/work",
        headers,
        agent: false,
        ca: readFileSync(ca),
        ...(client && { cert: readFileSync(client.cert_file), key: readFileSync(client.key_file) }),
        checkServerIdentity: requireSpiffeId(B_ID),
      },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", (error) => resolve({ error }));
    req.end();
  });
}

describe("HTTP between sidecars over mutual TLS", () => {
  it("carries the A → B hop, and B's workload learns A's SPIFFE ID in x-mesh-peer", async () => {
    const subject = await appToken();
    const r = await outOfA("svc-b", subject);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ peer: A_ID });
    const seen = seenByB.at(-1)!;
    expect(seen["x-mesh-peer"]).toBe(A_ID);
    expect(seen["x-mesh-actors"]).toBe("svc-a");
    // Still one token per hop: B got a token for B, never A's.
    const forwarded = (seen.authorization ?? "").slice("Bearer ".length);
    expect(forwarded).not.toBe(subject);
    expect(claimsOf(forwarded)).toMatchObject({ aud: "svc-b", scope: "b", act: { sub: "svc-a" } });
  });

  it("never passes on an x-mesh-peer the caller wrote: through A's sidecar, or straight to B's", async () => {
    const forged = { "x-mesh-peer": "spiffe://mesh.test/ns/admin/sa/root" };
    expect((await outOfA("svc-b", await appToken(), forged)).status).toBe(200);
    expect(seenByB.at(-1)?.["x-mesh-peer"]).toBe(A_ID);
    const direct = await callB(svid.a, { authorization: `Bearer ${await tokenForB()}`, ...forged });
    expect(direct.status).toBe(200);
    expect(seenByB.at(-1)?.["x-mesh-peer"]).toBe(A_ID);
  });

  it("refuses at B's inbound listener a caller in plaintext, without a certificate, or with one from another CA; nothing reaches B", async () => {
    const token = await tokenForB();
    const before = seenByB.length;
    const plaintext: Answer = await fetch(`http://127.0.0.1:${ports.inB}/work`, { headers: { authorization: `Bearer ${token}` } }).then(
      (r) => ({ status: r.status }),
      (error: Error) => ({ error }),
    );
    expect(plaintext.error, "plaintext").toBeDefined();
    expect((await callB(undefined, { authorization: `Bearer ${token}` })).error, "no client certificate").toBeDefined();
    // The same SPIFFE ID as A's, signed by a CA the mesh does not trust.
    expect((await callB(rogueA, { authorization: `Bearer ${token}` })).error, "a certificate from another CA").toBeDefined();
    expect(seenByB.length).toBe(before);
    // The control: the same token with A's genuine certificate goes through.
    expect((await callB(svid.a, { authorization: `Bearer ${token}` })).status).toBe(200);
    expect(seenByB.length).toBe(before + 1);
  });

  it("refuses a peer allowed_peers does not list with 403, before its token is looked at, and forwards nothing", async () => {
    const stolen = await tokenForB();
    const before = seenByB.length;
    const withToken = await callB(svid.c, { authorization: `Bearer ${stolen}` });
    expect(withToken.status).toBe(403);
    expect(JSON.parse(withToken.body ?? "{}")).toEqual({ error: "access_denied", error_description: "the calling peer is not allowed to call this workload" });
    // Without any token it is still 403, not 401: the peer is refused first.
    expect((await callB(svid.c, {})).status).toBe(403);
    expect(seenByB.length).toBe(before);
  });

  it("refuses a token from an allowed peer it was not issued to (peer_clients) with 401, and forwards nothing", async () => {
    const stolen = await tokenForB();
    expect(claimsOf(stolen).client_id).toBe("svc-a");
    const before = seenByB.length;
    const fromG = await callB(svid.g, { authorization: `Bearer ${stolen}` });
    expect(fromG.status).toBe(401);
    expect(JSON.parse(fromG.body ?? "{}")).toEqual({
      error: "invalid_token",
      error_description: "the token was issued to another client than the calling peer",
    });
    expect(seenByB.length).toBe(before);
    // The same token from the peer of svc-a goes through.
    expect((await callB(svid.a, { authorization: `Bearer ${stolen}` })).status).toBe(200);
    expect(seenByB.length).toBe(before + 1);
  });

  it("fails with 502 and sends nothing when the destination does not present the route's SPIFFE ID", async () => {
    const inboundCalls = async () =>
      total(parseSamples(await (await fetch(`http://127.0.0.1:${ports.healthB}/metrics`)).text()), "http_server_request_duration_count", {
        sts_listener: "inbound",
      });
    const token = await appToken();
    const [before, callsBefore] = [seenByB.length, await inboundCalls()];
    const r = await outOfA("svc-b-as-impostor", token);
    expect(r.status).toBe(502);
    expect(await r.json()).toEqual({ error: "bad_gateway" });
    expect(seenByB.length).toBe(before);
    await vi.waitFor(() => expect(sidecars[0]?.output()).toContain(`server presented ${B_ID}, expected ${IMPOSTOR_ID}`));
    // Not even B's sidecar saw a request: the handshake failed before any byte of it.
    expect(await inboundCalls()).toBe(callsBefore);
    // The control: the genuine route to the same address is counted there.
    expect((await outOfA("svc-b", token)).status).toBe(200);
    expect(await inboundCalls()).toBe(callsBefore + 1);
  });
});

describe("gRPC between sidecars over HTTP/2 with mutual TLS", () => {
  /** A GetJwks call to `target` with the given credentials and authority; the workload G's echo, or the error. */
  const getJwks = (
    target: string,
    channel: ChannelCredentials,
    token: string | undefined,
    options: Record<string, string> = {},
    extra: Record<string, string> = {},
  ): Promise<{ echo?: Record<string, unknown>; error?: ServiceError }> => {
    const client = new (loadTokenProto().sts.token.v1.TokenService)(target, channel, options);
    const md = new Metadata();
    if (token) md.set("authorization", `Bearer ${token}`);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    return new Promise((resolve) =>
      client.GetJwks({}, md, { deadline: Date.now() + 5000 }, (error, value) => {
        client.close();
        resolve(error ? { error } : { echo: JSON.parse(value?.jwks_json ?? "{}") as Record<string, unknown> });
      }),
    );
  };
  /** Workload A's call through its sidecar's gRPC outbound listener, the route named by the channel's authority. */
  const outOfA = (route: string, token: string, extra: Record<string, string> = {}) =>
    getJwks(`127.0.0.1:${ports.grpcOutA}`, credentials.createInsecure(), token, { "grpc.default_authority": route }, extra);
  /** A call straight to G's gRPC inbound listener presenting `client`'s SVID, with G's SPIFFE ID checked. */
  const straightToG = (client: CertFiles, token: string | undefined) =>
    getJwks(
      `127.0.0.1:${ports.grpcInG}`,
      grpcCredentials({ ...client, ca_file: ca, require_client_cert: true, spiffe_ids: { g: G_ID } }).channelTo("g"),
      token,
    );
  const tokenForG = async (): Promise<string> => {
    expect((await outOfA("svc-g", await appToken())).error).toBeUndefined();
    return String(seenByG.at(-1)?.get("authorization")[0]).slice("Bearer ".length);
  };

  it("carries the A → G call, G's workload learning A's SPIFFE ID, and drops a forged x-mesh-peer", async () => {
    const subject = await appToken();
    const r = await outOfA("svc-g", subject, { "x-mesh-peer": "spiffe://mesh.test/ns/admin/sa/root" });
    expect(r.error).toBeUndefined();
    expect(r.echo).toEqual({ peer: A_ID, sub: "end-user-app", scope: "g" });
    expect(seenByG.at(-1)?.get("x-mesh-peer")).toEqual([A_ID]);
    const sent = String(seenByG.at(-1)?.get("authorization")[0]).slice("Bearer ".length);
    expect(sent).not.toBe(subject);
    expect(claimsOf(sent)).toMatchObject({ aud: "svc-g", scope: "g", act: { sub: "svc-a" } });
  });

  it("fails with UNAVAILABLE and sends nothing when G does not present the route's SPIFFE ID", async () => {
    const before = seenByG.length;
    const r = await outOfA("svc-g-as-impostor", await appToken());
    expect(r.error?.code).toBe(status.UNAVAILABLE);
    expect(seenByG.length).toBe(before);
    // The caller only sees UNAVAILABLE; the operator of A's sidecar is told which identity was found instead.
    await vi.waitFor(() => expect(sidecars[0]?.output()).toContain(`server presented ${G_ID}, expected ${IMPOSTOR_ID}`));
  });

  it("refuses a peer allowed_peers does not list with PERMISSION_DENIED, and a caller without a certificate, forwarding nothing", async () => {
    const stolen = await tokenForG();
    const before = seenByG.length;
    const unlisted = await straightToG(svid.c, stolen);
    expect(unlisted.error?.code).toBe(status.PERMISSION_DENIED);
    expect(unlisted.error?.details).toBe("the calling peer is not allowed to call this workload");
    const noCertificate = await getJwks(
      `127.0.0.1:${ports.grpcInG}`,
      credentials.createSsl(readFileSync(ca), null, null, { checkServerIdentity: requireSpiffeId(G_ID) }),
      stolen,
    );
    expect(noCertificate.error?.code).toBe(status.UNAVAILABLE);
    const plaintext = await getJwks(`127.0.0.1:${ports.grpcInG}`, credentials.createInsecure(), stolen);
    expect(plaintext.error?.code).toBe(status.UNAVAILABLE);
    expect(seenByG.length).toBe(before);
    // The control: the same token from A's genuine certificate goes through.
    expect((await straightToG(svid.a, stolen)).echo).toEqual({ peer: A_ID, sub: "end-user-app", scope: "g" });
    expect(seenByG.length).toBe(before + 1);
  });
});
