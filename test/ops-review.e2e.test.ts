/**
 * What an operator touches first: the Kubernetes base (read, as no cluster is at hand, with NetworkPolicy's and
 * kustomize's rules applied to it) and the local runner (`npm start`), run for real with nats-server and every
 * service.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "@sts/config";
import { freePort, isProcessRunning, waitFor } from "@sts/testkit";
import { ROOT } from "./harness.js";

const BASE = join(ROOT, "deploy/k8s/base");

type Labels = Record<string, string>;
interface Selector {
  matchLabels?: Labels;
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
}
interface NetworkPolicy {
  kind: string;
  spec: { podSelector: Selector; ingress?: Array<{ from?: Peer[]; ports?: Array<{ port: number }> }> };
}
/** A pod as NetworkPolicy sees it: its labels and its namespace's. */
interface Pod {
  labels: Labels;
  namespace: string;
}

const kustomization = parse(readFileSync(join(BASE, "kustomization.yaml"), "utf8")) as {
  namespace: string;
  resources: string[];
  secretGenerator: Array<{ name: string; options?: { disableNameSuffixHash?: boolean } }>;
  generatorOptions?: { disableNameSuffixHash?: boolean };
};
const documents = kustomization.resources.flatMap((file) => parseAllDocuments(readFileSync(join(BASE, file), "utf8")).map((d) => d.toJS() as unknown));
const policies = documents.filter((d): d is NetworkPolicy => (d as { kind?: string }).kind === "NetworkPolicy");
const config = loadConfig(join(BASE, "sts.yaml"));

/** Whether `selector` (matchLabels only, as the base uses) selects `labels`; an empty selector selects everything. */
const selects = (selector: Selector, labels: Labels): boolean => Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);

/** Whether a peer of an ingress rule matches `from`, under NetworkPolicy's rules for pod and namespace selectors. */
function peerMatches(peer: Peer, from: Pod): boolean {
  const namespaceLabels = { "kubernetes.io/metadata.name": from.namespace };
  // A podSelector alone means pods of the policy's own namespace.
  const inNamespace = peer.namespaceSelector ? selects(peer.namespaceSelector, namespaceLabels) : from.namespace === kustomization.namespace;
  return inNamespace && (peer.podSelector ? selects(peer.podSelector, from.labels) : true);
}

/** Whether the base's NetworkPolicies let `from` connect to `port` of the pods labelled `app`. */
function admits(app: string, port: number, from: Pod): boolean {
  const applying = policies.filter((p) => selects(p.spec.podSelector, { "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "mesh-sts" }));
  return applying.some((p) =>
    (p.spec.ingress ?? []).some(
      (rule) => (rule.ports ?? []).some((p) => p.port === port) && (rule.from === undefined || rule.from.some((peer) => peerMatches(peer, from))),
    ),
  );
}

const ownPod = (app: string): Pod => ({ labels: { "app.kubernetes.io/name": app }, namespace: kustomization.namespace });
const operatorPod: Pod = { labels: { "mesh-sts/operator": "true" }, namespace: "platform-ops" };
const strangerPod: Pod = { labels: { app: "shop" }, namespace: "shop" };

describe("deploy/k8s/base NetworkPolicy", () => {
  const issuerPort = config.services.issuer.port;

  it("lets operators' pods reach the issuer's operator APIs (stsctl keys withdraw, subject revoke), as they reach policy's", () => {
    expect(admits("policy", config.services.policy.port, operatorPod)).toBe(true);
    // Withdrawing a compromised signing key and revoking a subject are the issuer's KeyService and RevokeSubject.
    expect(admits("issuer", issuerPort, operatorPod)).toBe(true);
  });

  it("still fences the issuer from everyone else: only the gateway, the exchanger and operators' pods", () => {
    expect(admits("issuer", issuerPort, ownPod("gateway"))).toBe(true);
    expect(admits("issuer", issuerPort, ownPod("exchanger"))).toBe(true);
    expect(admits("issuer", issuerPort, strangerPod)).toBe(false);
    expect(admits("issuer", issuerPort, ownPod("audit"))).toBe(false);
    expect(admits("issuer", issuerPort, { labels: { "mesh-sts/operator": "false" }, namespace: "platform-ops" })).toBe(false);
  });
});

describe("deploy/k8s/base Secret", () => {
  it("is named by a hash of its content, so that a rotated secret rolls the pods that read it at start", () => {
    // STS_MASTER_KEY, STS_EXCHANGER_CLIENT_SECRET and the break-glass tokens are environment variables, read once:
    // under a fixed name a replaced value would change nothing in the running pods, and a leaked token would stay valid.
    const read = documents.flatMap(
      (d) =>
        (
          d as { spec?: { template?: { spec: { containers: Array<{ env?: Array<{ valueFrom?: { secretKeyRef?: { name: string } } }> }> } } } }
        ).spec?.template?.spec.containers.flatMap((c) => c.env ?? []) ?? [],
    );
    const names = new Set(read.flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])));
    expect([...names]).toEqual(kustomization.secretGenerator.map((g) => g.name));
    expect(kustomization.generatorOptions?.disableNameSuffixHash ?? false).toBe(false);
    for (const generator of kustomization.secretGenerator) expect(generator.options?.disableNameSuffixHash ?? false, generator.name).toBe(false);
  });
});

/** The processes `pid` started, from /proc. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}

describe("the local runner (npm start), stopped with Ctrl-C", () => {
  let dir: string;
  let runner: ChildProcess;
  let exited: Promise<number | null>;
  let started: number[] = [];
  let gatewayPort: number;
  let held: Socket | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sts-ops-runner-"));
    const ports = Object.fromEntries(await Promise.all(["gateway", "issuer", "exchanger", "policy", "audit"].map(async (n) => [n, await freePort()] as const)));
    gatewayPort = ports.gateway!;
    const gatewayAdmin = await freePort();
    const services = Object.entries(ports)
      .map(([name, port]) => `  ${name}: { host: 127.0.0.1, port: ${port}${name === "gateway" ? `, admin_port: ${gatewayAdmin}` : ""} }`)
      .join("\n");
    const file = join(dir, "sts.yaml");
    writeFileSync(file, `issuer: http://127.0.0.1:${gatewayPort}\nservices:\n${services}\n`);
    runner = spawn(process.execPath, [join(ROOT, "deploy/local/run.mjs")], {
      cwd: ROOT,
      env: { ...process.env, STS_CONFIG: file, STS_DATA_DIR: join(dir, "data"), STS_NATS_PORT: String(await freePort()), NATS_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    runner.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    runner.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    exited = new Promise((resolve) => runner.once("exit", (code) => resolve(code)));
    // The gateway is the last service to be ready: it waits for the issuer, which waits for NATS.
    await waitFor(
      async () => {
        if (runner.exitCode !== null) throw new Error(`the runner exited: ${out}`);
        return (await fetch(`http://127.0.0.1:${gatewayAdmin}/readyz`, { signal: AbortSignal.timeout(2_000) })).ok;
      },
      { timeoutMs: 50_000, message: "the local stack ready" },
    );
    started = childrenOf(runner.pid!);
  }, 60_000);

  afterAll(() => {
    held?.destroy();
    if (runner.exitCode === null && runner.signalCode === null) runner.kill("SIGKILL");
    // Whatever the runner left behind, so that no test after this one finds its ports taken.
    for (const pid of started.filter(isProcessRunning)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("leaves no process running, though a client holds a request to the gateway open", async () => {
    expect(started.length).toBeGreaterThanOrEqual(6);
    // A client that sent half a request: the gateway's close waits for it, up to its header timeout.
    const socket = connect(gatewayPort, "127.0.0.1");
    held = socket;
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    socket.write("POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    runner.kill("SIGINT");
    await exited;
    expect(started.filter(isProcessRunning)).toEqual([]);
  }, 30_000);
});
