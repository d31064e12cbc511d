/**
 * deploy/k8s/base and deploy/Dockerfile against what the README tells an operator to do with them: replace the
 * master key in two rolls with STS_MASTER_KEY_PREVIOUS set during the first ("Managing signing keys"), which the
 * issuer's pods must be able to receive from the Secret; and run every container as a user and group of their own,
 * never in root's group (GID 0), owning its volumes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { ROOT } from "./harness.js";

const BASE = join(ROOT, "deploy/k8s/base");

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Workload {
  kind: string;
  metadata: { name: string };
  spec?: { template?: { spec: { securityContext?: Record<string, unknown>; containers: Array<{ env?: EnvVar[] }> } } };
}

const kustomization = parse(readFileSync(join(BASE, "kustomization.yaml"), "utf8")) as {
  resources: string[];
  secretGenerator: Array<{ name: string; envs: string[] }>;
};
const workloads = kustomization.resources
  .flatMap((file) => parseAllDocuments(readFileSync(join(BASE, file), "utf8")).map((d) => d.toJS() as Workload))
  .filter((m) => m.kind === "Deployment" || m.kind === "StatefulSet");
const secret = kustomization.secretGenerator[0]!;
/** The generated Secret's keys and values, as secrets.env ships them. */
const secretValues = new Map(
  readFileSync(join(BASE, secret.envs[0]!), "utf8")
    .split("\n")
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const),
);

describe("the issuer's master key replacement (README: Managing signing keys)", () => {
  const env = workloads.find((w) => w.metadata.name === "issuer")!.spec!.template!.spec.containers[0]!.env ?? [];
  const refOf = (name: string) => env.find((e) => e.name === name)?.valueFrom?.secretKeyRef;

  it("gives the issuer STS_MASTER_KEY_PREVIOUS from the same Secret as its master key, optional, and shipped empty (unset)", () => {
    expect(refOf("STS_MASTER_KEY")).toEqual({ name: secret.name, key: "STS_MASTER_KEY" });
    expect(refOf("STS_MASTER_KEY_PREVIOUS")).toEqual({ name: secret.name, key: "STS_MASTER_KEY_PREVIOUS", optional: true });
    expect(secretValues.get("STS_MASTER_KEY_PREVIOUS")).toBe("");
  });

  it("gives the previous master key to no other service", () => {
    const others = workloads.filter((w) => w.metadata.name !== "issuer");
    const holders = others.filter((w) => w.spec!.template!.spec.containers.some((c) => (c.env ?? []).some((e) => e.name.startsWith("STS_MASTER_KEY"))));
    expect(holders.map((w) => w.metadata.name)).toEqual([]);
  });
});

describe("the user and group every container runs as", () => {
  it.each(workloads.map((w) => [w.metadata.name, w] as const))("%s runs as a non-root user and group of its own, which owns its volumes", (_name, w) => {
    const sc = w.spec!.template!.spec.securityContext ?? {};
    expect({ runAsNonRoot: sc.runAsNonRoot, runAsUser: sc.runAsUser, runAsGroup: sc.runAsGroup, fsGroup: sc.fsGroup }).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
    });
  });

  it("the image runs as that user and group when no securityContext says otherwise", () => {
    const users = readFileSync(join(ROOT, "deploy/Dockerfile"), "utf8")
      .split("\n")
      .filter((l) => /^USER\s/.test(l));
    expect(users).toEqual(["USER 10001:10001"]);
  });
});
