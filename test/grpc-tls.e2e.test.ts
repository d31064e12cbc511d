/**
 * grpc_tls: every gRPC port of the stack speaks mutual TLS, and the services
 * dial each other with their certificates. Real processes, a real PKI made
 * with openssl; callers without a certificate from the stack's CA, or that
 * do not trust it, get nothing.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server, credentials, status } from "@grpc/grpc-js";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { grpcCredentials } from "@sts/grpc";
import type { GrpcTlsFiles } from "@sts/grpc";
import { loadExchangeProto } from "@sts/proto";
import type { ExchangeResponse__Output, ExchangeServiceClient } from "@sts/proto";
import { freePort, grpcHealthy, makeTestCa, tcpOpen, waitFor } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { ROOT, basicAuth, claimsOf, postForm, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, call, decideOver, exchangeRequest, mintOver } from "./chain.js";

let dir: string;
let stack: Stack;
let tls: GrpcTlsFiles;
let rogue: { ca_file: string; cert_file: string; key_file: string };
const opened: ExchangeServiceClient[] = [];
let workloadB: HttpServer;
let sidecarA: ProcessHandle | undefined;
let outboundA = 0;
const seenByB: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sts-tls-"));
  const ca = makeTestCa(dir, "stack-ca");
  tls = { ca_file: ca.ca_file, ...ca.issue("stack"), require_client_cert: true };
  const other = makeTestCa(dir, "rogue-ca");
  rogue = { ca_file: other.ca_file, ...other.issue("rogue") };
  // B is a plain HTTP workload; A's sidecar exchanges for it over mutual TLS to the exchanger.
  workloadB = createServer((req, res) => {
    seenByB.push(req.headers);
    res.writeHead(200).end("ok");
  });
  const portB = await new Promise<number>((resolve) => workloadB.listen(0, "127.0.0.1", () => resolve((workloadB.address() as AddressInfo).port)));
  outboundA = await freePort();
  const inboundA = await freePort();
  stack = await startStack(
    {
      grpc_tls: { cert_file: tls.cert_file, key_file: tls.key_file, ca_file: tls.ca_file },
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b"] }] },
      clients: [
        { client_id: "app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a"] },
        { client_id: "svc-a", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], audience: [] },
      ],
      sidecars: {
        "svc-a": {
          inbound: { port: inboundA },
          outbound: { port: outboundA },
          upstream: "http://127.0.0.1:9",
          routes: { "svc-b": { url: `http://127.0.0.1:${portB}`, audience: "svc-b", scopes: ["b"] } },
        },
      },
    },
    { services: ["issuer", "policy", "exchanger", "gateway", "audit"] },
  );
  sidecarA = await startSidecar(stack, "svc-a", SECRET, () => tcpOpen(outboundA));
}, 90_000);

afterAll(async () => {
  await sidecarA?.stop();
  workloadB?.close();
  for (const c of opened) c.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const exchanger = (channel: ChannelCredentials): ExchangeServiceClient => {
  const c = new (loadExchangeProto().sts.exchange.v1.ExchangeService)(stack.address.exchanger, channel);
  opened.push(c);
  return c;
};
const appToken = async (): Promise<string> => {
  const r = await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", scope: "a b" }, { authorization: basicAuth("app", SECRET) });
  expect(r.status).toBe(200);
  return r.body.access_token as string;
};
const exchangeWith = async (channel: ChannelCredentials, subject: string) =>
  call<ExchangeResponse__Output>(exchanger(channel), "Exchange", exchangeRequest("svc-a", subject, { audience: ["svc-b"] }));

describe("gRPC with mutual TLS", () => {
  it("runs the whole stack over it: the gateway reaches the issuer, the exchanger the policy service and the issuer", async () => {
    const subject = await appToken();
    const r = await exchangeWith(grpcCredentials(tls).channelTo("exchanger"), subject);
    expect(r.ok).toBe(true);
    if (r.ok) expect(claimsOf(r.value.access_token)).toMatchObject({ aud: "svc-b", scope: "b", act: { sub: "svc-a" } });
  });

  it("carries a sidecar's exchange: B receives a token for B, never the one A holds", async () => {
    const subject = await appToken();
    const r = await fetch(`http://127.0.0.1:${outboundA}/svc-b/work`, { headers: { authorization: `Bearer ${subject}` } });
    expect(r.status).toBe(200);
    const forwarded = /^Bearer (.+)$/.exec(seenByB.at(-1)?.authorization ?? "")?.[1];
    expect(forwarded).toBeDefined();
    expect(forwarded).not.toBe(subject);
    expect(claimsOf(forwarded!)).toMatchObject({ aud: "svc-b", scope: "b", act: { sub: "svc-a" } });
  });

  it("gives nothing to a plaintext caller, a caller without a certificate, one with a certificate from another CA, or one that does not trust the stack's CA", async () => {
    const subject = await appToken();
    const read = (f: string): Buffer => readFileSync(f);
    const attempts: Array<[string, ChannelCredentials]> = [
      ["plaintext", credentials.createInsecure()],
      ["no client certificate", credentials.createSsl(read(tls.ca_file))],
      ["client certificate from another CA", credentials.createSsl(read(tls.ca_file), read(rogue.key_file), read(rogue.cert_file))],
      ["does not trust the stack's CA", credentials.createSsl(read(rogue.ca_file), read(tls.key_file), read(tls.cert_file))],
    ];
    for (const [what, channel] of attempts) {
      const r = await exchangeWith(channel, subject);
      expect(r.ok, what).toBe(false);
      if (!r.ok) expect(r.failure.grpcCode, what).toBe(status.UNAVAILABLE);
    }
  });
});

describe("stsctl against a stack with grpc_tls", () => {
  const stsctl = (...args: string[]) =>
    promisify(execFile)(process.execPath, [join(ROOT, "services/audit/dist/stsctl.js"), "audit", "verify", "--addr", stack.address.audit, ...args], {
      cwd: ROOT,
    }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );

  it("reaches the audit service with the stack's certificate, and not without one", async () => {
    const ok = await stsctl("--tls-ca", tls.ca_file, "--tls-cert", tls.cert_file, "--tls-key", tls.key_file);
    expect(ok.code, ok.out).toBe(0);
    const plaintext = await stsctl();
    expect(plaintext.code).toBe(1);
    const partial = await stsctl("--tls-ca", tls.ca_file);
    expect([partial.code, partial.out]).toEqual([2, "stsctl: TLS needs all three of --tls-ca, --tls-cert and --tls-key\n"]);
  });
});

describe("services identified by SPIFFE ID (X.509-SVIDs without host names)", () => {
  const STS_ID = "spiffe://test.example/ns/mesh-sts/sa/sts";
  const EXCHANGER_ID = "spiffe://test.example/ns/mesh-sts/sa/exchanger";
  let svidStack: Stack;
  let svid: GrpcTlsFiles;
  let exchangerSvid: GrpcTlsFiles;

  beforeAll(async () => {
    const ca = makeTestCa(dir, "svid-ca");
    const spiffe_ids = { issuer: STS_ID, policy: STS_ID, exchanger: EXCHANGER_ID };
    svid = { ca_file: ca.ca_file, ...ca.issue("sts-svid", STS_ID), require_client_cert: true, spiffe_ids };
    exchangerSvid = { ...svid, ...ca.issue("exchanger-svid", EXCHANGER_ID) };
    svidStack = await startStack(
      {
        grpc_tls: { cert_file: svid.cert_file, key_file: svid.key_file, ca_file: svid.ca_file, spiffe_ids },
        policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b"] }] },
        clients: [
          { client_id: "app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a"] },
          { client_id: "svc-a", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], audience: [] },
        ],
      },
      { services: ["issuer", "policy", "gateway"] },
    );
    // The exchanger presents its own SVID.
    await svidStack.start("exchanger", { STS_GRPC_TLS_CERT_FILE: exchangerSvid.cert_file, STS_GRPC_TLS_KEY_FILE: exchangerSvid.key_file });
  }, 90_000);

  afterAll(async () => {
    await svidStack?.stop();
  });

  const mintAs = (as: GrpcTlsFiles) => mintOver(svidStack.address.issuer, grpcCredentials(as).channelTo("issuer"), svidStack.secrets.exchanger);

  it("lets the gateway reach the issuer by its SPIFFE ID, though the certificate names no host", async () => {
    const r = await postForm(
      `${svidStack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a" },
      { authorization: basicAuth("app", SECRET) },
    );
    expect(r.status).toBe(200);
  });

  // Both ways credentials are built: files read once, and files re-read as they rotate.
  it.each([
    ["read once", 0],
    ["reloading", 60],
  ])(
    "refuses a server whose SPIFFE ID is not the one expected or whose CA it does not trust, checking the ID instead of the host name (%s)",
    async (_, reload_interval) => {
      const address = svidStack.address.issuer;
      const dial = (files: GrpcTlsFiles, service?: string) => grpcHealthy(address, "", 2000, grpcCredentials({ ...files, reload_interval }).channelTo(service));
      expect(await dial(svid, "issuer")).toBe(true);
      expect(await dial({ ...svid, spiffe_ids: { issuer: "spiffe://test.example/ns/mesh-sts/sa/impostor" } }, "issuer")).toBe(false);
      expect(await dial({ ...svid, ca_file: rogue.ca_file }, "issuer")).toBe(false);
      // Without an expected ID the host name (127.0.0.1) is checked, which an SVID does not carry.
      expect(await dial(svid)).toBe(false);
    },
  );

  it("mints only for the exchanger's SVID: the internal secret with another certificate gets unauthorized_client", async () => {
    const r = await postForm(
      `${svidStack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a b" },
      { authorization: basicAuth("app", SECRET) },
    );
    const exchangeClient = new (loadExchangeProto().sts.exchange.v1.ExchangeService)(svidStack.address.exchanger, grpcCredentials(svid).channelTo("exchanger"));
    opened.push(exchangeClient);
    const exchanged = await call<ExchangeResponse__Output>(
      exchangeClient,
      "Exchange",
      exchangeRequest("svc-a", r.body.access_token as string, { audience: ["svc-b"] }),
    );
    expect(exchanged.ok).toBe(true);

    const stolen = await mintAs(svid);
    expect(stolen.ok).toBe(false);
    if (!stolen.ok) expect(stolen.failure.error).toBe("unauthorized_client");
    const genuine = await mintAs(exchangerSvid);
    expect(genuine.ok).toBe(true);
  });

  it("answers Decide only to the exchanger's SVID", async () => {
    const decideAs = (as: GrpcTlsFiles) => decideOver(svidStack.address.policy, grpcCredentials(as).channelTo("policy"));
    const other = await decideAs(svid);
    expect(other.ok).toBe(false);
    if (!other.ok) expect(other.failure.error).toBe("unauthorized_client");
    const exchanger = await decideAs(exchangerSvid);
    // Answered at all is the point here; what the policy decides is the exchange tests' business.
    expect(exchanger.ok).toBe(true);
  });
});

describe("certificate rotation", () => {
  let rotStack: Stack;
  let ca: string;
  let before: { cert_file: string; key_file: string };
  let after: { cert_file: string; key_file: string };
  const live = { cert_file: "", key_file: "" };

  beforeAll(async () => {
    const rotCa = makeTestCa(dir, "rot-ca");
    ca = rotCa.ca_file;
    before = rotCa.issue("rot-before");
    after = rotCa.issue("rot-after");
    live.cert_file = join(dir, "live.crt");
    live.key_file = join(dir, "live.key");
    copyFileSync(before.cert_file, live.cert_file);
    copyFileSync(before.key_file, live.key_file);
    rotStack = await startStack({ grpc_tls: { ...live, ca_file: ca, reload_interval: 1 } }, { services: ["issuer"] });
  }, 90_000);

  afterAll(async () => {
    await rotStack?.stop();
  });

  /** The SHA-256 fingerprint of the certificate the issuer presents to a new connection. */
  const presented = async (): Promise<string | undefined> => {
    let seen: string | undefined;
    const channel = credentials.createSsl(readFileSync(ca), readFileSync(before.key_file), readFileSync(before.cert_file), {
      checkServerIdentity: (_host, peer) => {
        seen = peer.fingerprint256;
        return undefined;
      },
    });
    return (await grpcHealthy(rotStack.address.issuer, "", 2000, channel)) ? seen : undefined;
  };
  const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

  it("takes rotated files without a restart, and skips a rotation caught half written", async () => {
    expect(await presented()).toBe(fingerprint(before.cert_file));
    // The new certificate lands before its key: that pair does not match, so the old one stays in use.
    copyFileSync(after.cert_file, live.cert_file);
    await waitFor(async () => /files refused on reload/.test(rotStack.processes.issuer!.output()), {
      timeoutMs: 15_000,
      message: "no reload refused the half-written rotation",
    });
    expect(await presented()).toBe(fingerprint(before.cert_file));
    copyFileSync(after.key_file, live.key_file);
    await waitFor(async () => (await presented()) === fingerprint(after.cert_file), {
      timeoutMs: 15_000,
      message: "the rotated certificate was never presented",
    });
  });
});

describe("grpc_tls files", () => {
  it("fail at start naming the field: a missing file, or a key that is not the certificate's", () => {
    expect(() => grpcCredentials({ ...tls, cert_file: join(dir, "absent.crt") })).toThrow(/^grpc_tls\.cert_file: cannot read .*absent\.crt \(ENOENT\)$/);
    expect(() => grpcCredentials({ ...tls, key_file: rogue.key_file })).toThrow(/^grpc_tls: the certificate, key or CA bundle is not usable/);
    const garbage = join(dir, "garbage.pem");
    writeFileSync(garbage, "not a certificate");
    expect(() => grpcCredentials({ ...tls, ca_file: garbage })).toThrow(/^grpc_tls: /);
  });

  it("are polled for rotation only while a server or channel uses them", async () => {
    const pollCa = makeTestCa(dir, "poll-ca");
    const own = { ca_file: pollCa.ca_file, ...pollCa.issue("poll") };
    const reloads: boolean[] = [];
    const creds = grpcCredentials({ ...own, require_client_cert: false, reload_interval: 0.02 }, ({ applied }) => reloads.push(applied));
    // Every poll from here on refuses the file, so each one shows as an event.
    writeFileSync(own.cert_file, "not a certificate");
    const idle = async (ms: number): Promise<number> => {
      const before = reloads.length;
      await new Promise((r) => setTimeout(r, ms));
      return reloads.length - before;
    };
    expect(await idle(150)).toBe(0);
    const server = new Server();
    await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", creds.server, (err, port) => (err ? reject(err) : resolve(port))));
    await waitFor(() => reloads.length > 0, { timeoutMs: 5000, message: "a serving server's files were never polled" });
    expect(reloads.every((applied) => !applied)).toBe(true);
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    expect(await idle(150)).toBe(0);
  });

  it("stop a service from starting, with the field in its message and no key material", async () => {
    // A replica on its own port: readiness cannot be answered by the policy service already running.
    const err = await stack.startReplica("policy", { STS_GRPC_TLS_CERT_FILE: join(dir, "absent.crt") }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/grpc_tls\.cert_file: cannot read/);
    expect(err?.message).not.toMatch(/PRIVATE KEY/);
  });
});
