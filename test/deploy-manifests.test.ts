/**
 * The Kubernetes base in deploy/k8s/base agrees with the code and with
 * itself: its config passes the real validator, every service has a
 * workload listening where the config says and a Service other pods can
 * dial at the config's `host`, secrets come only from the generated Secret,
 * and every path a service writes is a volume (the root is read-only). Each
 * service that uses NATS logs in over TLS as its own user, holding only its
 * own password, and the NATS servers' authorization examples (deploy/k8s/nats,
 * deploy/local) give those users their permissions and pass `nats-server -t`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments, parse } from "yaml";
import { loadConfig } from "@sts/config";
import { EVENT_TYPES, eventSubject } from "@sts/nats";
import { natsServerBinary } from "@sts/testkit";
import { ROOT } from "./harness.js";

const BASE = join(ROOT, "deploy/k8s/base");

interface Container {
  command: string[];
  ports: Array<{ containerPort: number }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  readinessProbe: { grpc?: { port: number }; httpGet?: { path: string; port: number } };
  livenessProbe: { grpc?: { port: number }; httpGet?: { path: string; port: number } };
  securityContext: { readOnlyRootFilesystem?: boolean };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface KeyToPath {
  key: string;
  path: string;
}
interface Volume {
  name: string;
  configMap?: { name: string };
  projected?: { sources: Array<{ secret?: { name: string; items: KeyToPath[] }; configMap?: { name: string; items: KeyToPath[] } }> };
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: {
    template?: { spec: { containers: Container[]; volumes?: Volume[] } };
    volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
    ports?: Array<{ port: number; targetPort: number }>;
  };
}

const kustomization = parse(readFileSync(join(BASE, "kustomization.yaml"), "utf8")) as {
  namespace: string;
  resources: string[];
  configMapGenerator: Array<{ name: string; files: string[] }>;
  secretGenerator: Array<{ name: string; envs: string[] }>;
};
const manifests = kustomization.resources.flatMap((file) => parseAllDocuments(readFileSync(join(BASE, file), "utf8")).map((d) => d.toJS() as Manifest));
const config = loadConfig(join(BASE, "sts.yaml"));
const configMap = kustomization.configMapGenerator[0]!;
const secret = kustomization.secretGenerator[0]!;
const secretKeys = readFileSync(join(BASE, secret.envs[0]!), "utf8")
  .split("\n")
  .filter((l) => /^[A-Z_]+=/.test(l))
  .map((l) => l.slice(0, l.indexOf("=")));
const names = Object.keys(config.services) as Array<keyof typeof config.services>;
const workload = (name: string) => manifests.find((m) => (m.kind === "Deployment" || m.kind === "StatefulSet") && m.metadata.name === name);

describe("deploy/k8s/base", () => {
  it("lists only files that exist, and its config passes the service's own validator", () => {
    const generated = kustomization.configMapGenerator.flatMap((g) => g.files.map((f) => f.slice(f.indexOf("=") + 1)));
    for (const file of [...kustomization.resources, ...generated, ...secret.envs]) expect(existsSync(join(BASE, file)), file).toBe(true);
    expect(config.nats.replicas).toBe(3);
  });

  it.each(names)("runs %s from its built entry point, listening and probed where the config says", (name) => {
    const w = workload(name);
    expect(w, `no Deployment or StatefulSet for ${name}`).toBeDefined();
    const c = w!.spec!.template!.spec.containers[0]!;
    expect(c.command.at(-1)).toBe(`services/${name}/dist/main.js`);
    expect(existsSync(join(ROOT, `services/${name}/src/main.ts`))).toBe(true);
    const { port, bind, admin_port: adminPort } = config.services[name];
    expect(bind).toBe("0.0.0.0");
    expect(adminPort).toBeDefined();
    expect(c.ports.map((p) => p.containerPort)).toEqual([port, adminPort]);
    // Probes go to the admin port: plain HTTP, so they keep working when grpc_tls makes the gRPC port mutual TLS.
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: adminPort });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: adminPort });
    const service = manifests.find((m) => m.kind === "Service" && m.metadata.name === name);
    expect(service?.spec?.ports?.map((p) => p.targetPort)).toEqual([port]);
  });

  it.each(names.filter((n) => n !== "gateway"))("lets other pods dial %s at its Service's name", (name) => {
    // The gateway is dialled from outside, at the issuer URL; the gRPC services are dialled at `host`.
    expect(config.services[name].host).toBe(`${name}.${kustomization.namespace}.svc`);
  });

  it("denies ingress by default and lets each service be reached on its own port only, its admin port from the monitoring namespace only", () => {
    const policies = manifests.filter((m) => m.kind === "NetworkPolicy") as unknown as Array<{
      spec: {
        podSelector: { matchLabels?: Record<string, string> };
        ingress?: Array<{ from?: Array<{ namespaceSelector?: { matchLabels?: Record<string, string> } }>; ports?: Array<{ port: number }> }>;
      };
    }>;
    const admin = policies.filter((p) => p.spec.podSelector.matchLabels?.["app.kubernetes.io/part-of"] === "mesh-sts");
    expect(admin.flatMap((p) => p.spec.ingress ?? [])).toEqual([
      {
        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
        ports: [...new Set(names.map((n) => config.services[n].admin_port))].map((port) => ({ port })),
      },
    ]);
    expect(policies.some((p) => Object.keys(p.spec.podSelector.matchLabels ?? {}).length === 0 && p.spec.ingress === undefined)).toBe(true);
    for (const name of names) {
      const allowing = policies.filter((p) => p.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === name);
      const ports = allowing.flatMap((p) => p.spec.ingress ?? []).flatMap((rule) => rule.ports ?? []);
      expect(
        ports.map((p) => p.port),
        name,
      ).toEqual([config.services[name].port]);
    }
  });

  it("takes secrets only from the generated Secret, and every key it names exists", () => {
    const refs = manifests.flatMap((m) => m.spec?.template?.spec.containers.flatMap((c) => c.env ?? []) ?? []);
    for (const e of refs.filter((e) => /SECRET|TOKEN|KEY/.test(e.name))) {
      expect(e.value, `${e.name} must not be a literal`).toBeUndefined();
      expect(e.valueFrom?.secretKeyRef?.name).toBe(secret.name);
      expect(secretKeys).toContain(e.valueFrom?.secretKeyRef?.key);
    }
    expect(refs.some((e) => e.name === "STS_MASTER_KEY")).toBe(true);
  });

  it("ships no secret a service would accept: empty, the issuer and the exchanger refuse to start", () => {
    const values = Object.fromEntries(
      readFileSync(join(BASE, secret.envs[0]!), "utf8")
        .split("\n")
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(Object.values(values).every((v) => v === "")).toBe(true);
    const start = (service: string) =>
      spawnSync(process.execPath, [join(ROOT, `services/${service}/dist/main.js`)], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, ...values, STS_CONFIG: join(BASE, "sts.yaml") },
        encoding: "utf8",
        timeout: 20_000,
      });
    const issuer = start("issuer");
    expect([issuer.status === 0, issuer.stderr]).toEqual([false, expect.stringContaining("no master key")]);
    const exchanger = start("exchanger");
    expect([exchanger.status === 0, exchanger.stderr]).toEqual([false, expect.stringContaining("STS_EXCHANGER_CLIENT_SECRET is required")]);
  });

  it("mounts the config where STS_CONFIG points, and puts every written path on a writable volume", () => {
    for (const m of manifests.filter((x) => x.spec?.template)) {
      const spec = m.spec!.template!.spec;
      for (const c of spec.containers) {
        expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
        const configPath = c.env?.find((e) => e.name === "STS_CONFIG")?.value ?? "";
        const mount = c.volumeMounts.find((v) => configPath.startsWith(`${v.mountPath}/`));
        expect(mount, `${m.metadata.name}: STS_CONFIG ${configPath} is on no volume`).toBeDefined();
        expect(configMap.files).toContain(configPath.slice(mount!.mountPath.length + 1));
        expect(spec.volumes?.find((v) => v.name === mount!.name)?.configMap?.name).toBe(configMap.name);
      }
    }
    const audit = workload("audit")!;
    const dbMount = audit.spec!.template!.spec.containers[0]!.volumeMounts.find((v) => config.audit.db_path.startsWith(`${v.mountPath}/`));
    expect(dbMount?.readOnly).toBeFalsy();
    // The projection must outlive the pod: its volume is claimed per replica, not an emptyDir.
    expect(audit.kind).toBe("StatefulSet");
    expect(audit.spec!.volumeClaimTemplates?.map((v) => v.metadata.name)).toContain(dbMount?.name);
  });

  /** The file a container's env variable names, with the volume it is on and its path inside that volume. */
  function mounted(m: Manifest, file: string): { volume: Volume | undefined; path: string } {
    const spec = m.spec!.template!.spec;
    const mount = spec.containers[0]!.volumeMounts.find((v) => file.startsWith(`${v.mountPath}/`));
    return { volume: spec.volumes?.find((v) => v.name === mount?.name), path: mount ? file.slice(mount.mountPath.length + 1) : "" };
  }

  // The gateway does not use NATS; every other service does (sidecars live in the workloads' namespaces).
  it.each(names.filter((n) => n !== "gateway"))("logs %s in to NATS over TLS as its own user, with only its own password from the Secret", (name) => {
    const c = workload(name)!.spec!.template!.spec.containers[0]!;
    const env = (key: string) => c.env?.find((e) => e.name === key)?.value;
    expect(env("STS_NATS_USER")).toBe(`sts-${name}`);
    const password = mounted(workload(name)!, env("STS_NATS_PASSWORD_FILE") ?? "");
    const secrets = password.volume?.projected?.sources.flatMap((src) => (src.secret ? [src.secret] : [])) ?? [];
    // A projected item, not the whole Secret: the pod holds no other service's password, nor the master key.
    expect(secrets).toEqual([{ name: secret.name, items: [{ key: `STS_NATS_${name.toUpperCase()}_PASSWORD`, path: password.path }] }]);
    expect(secretKeys).toContain(`STS_NATS_${name.toUpperCase()}_PASSWORD`);
    expect(config.nats.url).toMatch(/^tls:\/\//);
    const ca = mounted(workload(name)!, config.nats.tls?.ca_file ?? "");
    const caMap = kustomization.configMapGenerator.find((g) => g.name === "mesh-sts-nats-ca")!;
    expect(ca.volume?.projected?.sources.find((src) => src.configMap)?.configMap).toEqual({ name: caMap.name, items: [{ key: "ca.crt", path: ca.path }] });
    // The pod's config, with its environment, passes the validator (one way of authenticating, TLS with a CA).
    const podConfig = loadConfig(join(BASE, "sts.yaml"), { STS_NATS_USER: env("STS_NATS_USER"), STS_NATS_PASSWORD_FILE: env("STS_NATS_PASSWORD_FILE") });
    expect(podConfig.nats.password_file).toBe(env("STS_NATS_PASSWORD_FILE"));
  });

  it("gives the gateway, which does not use NATS, no NATS credentials", () => {
    const spec = workload("gateway")!.spec!.template!.spec;
    expect(spec.containers[0]!.env?.filter((e) => e.name.startsWith("STS_NATS_")) ?? []).toEqual([]);
    expect(spec.volumes?.some((v) => v.projected) ?? false).toBe(false);
  });
});

describe("the NATS servers' authorization (deploy/k8s/nats, deploy/local)", () => {
  const users = ["issuer", "exchanger", "policy", "audit", "sidecar"];

  /** Runs `nats-server -t` on a config that includes `file`; answers its output, empty when valid. */
  function natsServerRejects(file: string, env: Record<string, string> = {}): string {
    const dir = mkdtempSync(join(tmpdir(), "sts-nats-check-"));
    try {
      const conf = join(dir, "main.conf");
      // nats-server resolves includes against the including file's folder.
      writeFileSync(conf, `include ${JSON.stringify(relative(dir, file))}\n`);
      const r = spawnSync(natsServerBinary(), ["-t", "-c", conf], { encoding: "utf8", env: { ...process.env, ...env } });
      return r.status === 0 ? "" : `${r.stdout}${r.stderr}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it.each([
    ["deploy/k8s/nats/auth.conf", {}],
    ["deploy/local/nats-server.conf", Object.fromEntries(users.map((u) => [`STS_NATS_${u.toUpperCase()}_PASSWORD`, "p0"]))],
  ])("%s gives each service's user its own permissions, and nats-server accepts it", (file, env) => {
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const u of users) expect(text).toMatch(new RegExp(`\\{ user: sts-${u}, password: [^,]+, permissions: \\$STS_${u.toUpperCase()} \\}`));
    expect(natsServerRejects(join(ROOT, file), env)).toBe("");
  });

  it("lets some service publish every event type there is (a type missing would be refused by NATS in production only)", () => {
    const text = readFileSync(join(ROOT, "deploy/k8s/nats/permissions.conf"), "utf8");
    const missing = Object.values(EVENT_TYPES).filter((type) => !text.includes(`"${eventSubject(type)}"`));
    expect(missing).toEqual([]);
  });
});
