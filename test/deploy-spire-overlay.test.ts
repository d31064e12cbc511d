/**
 * The base's pod identities (one ServiceAccount per service, no API token) and deploy/k8s/overlays/spire, which turns
 * the stack's gRPC into mutual TLS with SVIDs from SPIRE: its config is the base's plus grpc_tls and passes the real
 * validator, the SPIFFE IDs it pins are the ones SPIRE's registration gives each service's pods, and its patch, applied
 * here as kustomize would, mounts the agent's socket where the config looks for it, in every workload and nowhere else.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { loadConfig } from "@sts/config";
import { ROOT } from "./harness.js";

const BASE = join(ROOT, "deploy/k8s/base");
const SPIRE = join(ROOT, "deploy/k8s/overlays/spire");

interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  containers: Array<{ name: string; volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }> }>;
  volumes: Array<{ name: string; csi?: { driver: string; readOnly?: boolean } }>;
}
interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  automountServiceAccountToken?: boolean;
  spec?: { template?: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}

const yamlDocs = (file: string): Manifest[] => parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS() as Manifest);
const baseKustomization = parse(readFileSync(join(BASE, "kustomization.yaml"), "utf8")) as { namespace: string; resources: string[] };
const base = baseKustomization.resources.flatMap((file) => yamlDocs(join(BASE, file)));
const workloads = base.filter((m) => m.kind === "Deployment" || m.kind === "StatefulSet");
const overlay = parse(readFileSync(join(SPIRE, "kustomization.yaml"), "utf8")) as {
  resources: string[];
  configMapGenerator: Array<{ name: string; namespace?: string; behavior: string; files: string[] }>;
  patches: Array<{ path: string; target: { labelSelector: string } }>;
};

describe("deploy/k8s/base pod identities", () => {
  it.each(workloads.map((w) => w.metadata.name))("runs %s under a ServiceAccount of its own, with no Kubernetes API token mounted", (name) => {
    const pod = workloads.find((w) => w.metadata.name === name)!.spec!.template!.spec;
    expect([pod.serviceAccountName, pod.automountServiceAccountToken]).toEqual([name, false]);
    const account = base.find((m) => m.kind === "ServiceAccount" && m.metadata.name === name);
    expect(account?.automountServiceAccountToken).toBe(false);
  });
});

describe("deploy/k8s/overlays/spire", () => {
  const generator = overlay.configMapGenerator[0]!;
  const baseConfigText = readFileSync(join(BASE, "sts.yaml"), "utf8");
  const overlayConfigPath = join(SPIRE, generator.files[0]!);

  /** The Workload API socket the overlay's config names, if it takes its SVIDs from one. */
  const workloadApiSocket = (): string | undefined => {
    const tls = loadConfig(overlayConfigPath).grpc_tls;
    return tls && "workload_api" in tls ? tls.workload_api?.socket : undefined;
  };

  it("replaces the base's config (same name and namespace) with one that differs from it only by grpc_tls", () => {
    expect(overlay.resources).toContain("../../base");
    expect([generator.name, generator.namespace, generator.behavior]).toEqual(["mesh-sts-config", baseKustomization.namespace, "replace"]);
    const { grpc_tls: added, ...rest } = parse(readFileSync(overlayConfigPath, "utf8")) as Record<string, unknown>;
    expect(rest).toEqual(parse(baseConfigText));
    expect(added).toBeDefined();
  });

  it("passes the services' validator: SVIDs from the Workload API, client certificates required, every gRPC service pinned", () => {
    const tls = loadConfig(overlayConfigPath).grpc_tls;
    expect(workloadApiSocket()).toMatch(/^unix:\/\/\//);
    expect(tls?.require_client_cert).toBe(true);
    expect(Object.keys(tls?.spiffe_ids ?? {}).sort()).toEqual(["audit", "exchanger", "issuer", "policy"]);
  });

  it("pins the IDs SPIRE registers each service's pods under: one trust domain, .../ns/<namespace>/sa/<ServiceAccount>", () => {
    const [registration] = yamlDocs(
      join(
        SPIRE,
        overlay.resources.find((r) => r !== "../../base")!,
      ),
    ) as unknown as Array<{
      kind: string;
      spec: { spiffeIDTemplate: string; namespaceSelector: { matchLabels: Record<string, string> }; podSelector: { matchLabels: Record<string, string> } };
    }>;
    expect(registration?.kind).toBe("ClusterSPIFFEID");
    const { spiffeIDTemplate, namespaceSelector, podSelector } = registration!.spec;
    expect(namespaceSelector.matchLabels).toEqual({ "kubernetes.io/metadata.name": baseKustomization.namespace });
    const ids = loadConfig(overlayConfigPath).grpc_tls?.spiffe_ids ?? {};
    const trustDomains = new Set<string>();
    for (const [service, id] of Object.entries(ids)) {
      const pod = workloads.find((w) => w.metadata.name === service)!.spec!.template!;
      // Every pinned service's pods are registered, and under the ID the config pins.
      expect(Object.entries(podSelector.matchLabels).every(([k, v]) => pod.metadata.labels[k] === v)).toBe(true);
      const trustDomain = /^spiffe:\/\/([^/]+)\//.exec(id)?.[1] ?? "";
      trustDomains.add(trustDomain);
      const rendered = spiffeIDTemplate
        .replace("{{ .TrustDomain }}", trustDomain)
        .replace("{{ .PodMeta.Namespace }}", baseKustomization.namespace)
        .replace("{{ .PodSpec.ServiceAccountName }}", pod.spec.serviceAccountName ?? "default");
      expect(rendered, service).toBe(id);
    }
    expect(trustDomains.size).toBe(1);
  });

  it("mounts the agent's socket, through the SPIFFE CSI driver, where the config looks for it, in every workload and nothing else", () => {
    const [patch] = overlay.patches;
    const [label, value] = patch!.target.labelSelector.split("=");
    const targeted = base.filter((m) => m.metadata.labels?.[label!] === value);
    expect(targeted.map((m) => m.metadata.name).sort()).toEqual(workloads.map((w) => w.metadata.name).sort());
    const ops = parse(readFileSync(join(SPIRE, patch!.path), "utf8")) as Array<{ op: string; path: string; value: unknown }>;
    const socketDir = dirname(new URL(workloadApiSocket() ?? "unix:///missing").pathname);
    for (const w of targeted) {
      const pod = applyAdds(structuredClone(w), ops).spec!.template!.spec;
      const volume = pod.volumes.find((v) => v.csi?.driver === "csi.spiffe.io");
      expect(volume?.csi?.readOnly, w.metadata.name).toBe(true);
      const mount = pod.containers[0]!.volumeMounts.find((m) => m.name === volume!.name);
      expect([mount?.mountPath, mount?.readOnly], w.metadata.name).toEqual([socketDir, true]);
    }
  });
});

/** Applies JSON Patch (RFC 6902) `add` operations that append to an array (`/-`), the only kind the overlay uses. */
function applyAdds(doc: Manifest, ops: Array<{ op: string; path: string; value: unknown }>): Manifest {
  for (const { op, path, value } of ops) {
    expect([op, path.endsWith("/-")]).toEqual(["add", true]);
    let at: unknown = doc;
    for (const step of path.split("/").slice(1, -1)) at = (at as Record<string, unknown>)[step];
    expect(Array.isArray(at), `${path} is not an array in the base`).toBe(true);
    (at as unknown[]).push(value);
  }
  return doc;
}
