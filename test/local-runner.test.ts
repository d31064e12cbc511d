/**
 * The local runner (deploy/local/run.mjs, what `npm start` runs) refuses to start anything when its config is wrong
 * or a port it names is taken, saying which field and what to do, and leaves nothing running behind it.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, tcpOpen } from "@sts/testkit";
import { ROOT } from "./harness.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sts-runner-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Runs the runner with `yaml` as its config and a NATS port of its own, until it exits (at most 30 s). */
async function run(yaml: string, natsPort: number): Promise<{ code: number | null; out: string }> {
  const config = join(dir, `sts-${++files}.yaml`);
  writeFileSync(config, yaml);
  const child = spawn(process.execPath, [join(ROOT, "deploy/local/run.mjs")], {
    cwd: ROOT,
    env: { ...process.env, STS_CONFIG: config, STS_DATA_DIR: join(dir, `data-${files}`), STS_NATS_PORT: String(natsPort), NATS_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => child.kill("SIGINT"), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  clearTimeout(killer);
  return { code, out };
}

/** Ports 0 (a free one each) for every service, but those given. */
const services = (ports: Record<string, number> = {}): string =>
  ["gateway", "issuer", "exchanger", "policy", "audit"].map((name) => `  ${name}: { host: 127.0.0.1, port: ${ports[name] ?? 0} }`).join("\n");

describe("the local runner starts nothing", () => {
  it("with a config mistake, naming the field, before any process (nats-server included) is started", async () => {
    const nats = await freePort();
    const r = await run(`services:\n${services()}\ntokens: { access_token_tll: 300 }\n`, nats);
    expect(r.code).toBe(1);
    expect(r.out).toContain("tokens.access_token_tll: unknown field");
    expect(r.out).not.toContain("[nats]");
    expect(await tcpOpen(nats)).toBe(false);
  });

  it("with a file that is not YAML, without quoting it (it holds client secrets)", async () => {
    const nats = await freePort();
    const r = await run(`clients:\n  - client_id: c\n    client_secret: "sup3r-s3cret-value-01"\n     grant_types: [client_credentials]\n`, nats);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/mesh-sts: .*line \d+/);
    expect(r.out).not.toContain("sup3r-s3cret");
    expect(r.out).not.toContain("[nats]");
    expect(await tcpOpen(nats)).toBe(false);
  });

  describe("with a port it names already taken", () => {
    let held: Server;
    let port: number;
    beforeAll(async () => {
      held = createServer();
      await new Promise<void>((resolve) => held.listen(0, "127.0.0.1", resolve));
      port = (held.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((resolve) => held.close(() => resolve())));

    it("saying which field names it and how to find what holds it", async () => {
      const nats = await freePort();
      const r = await run(`services:\n${services({ exchanger: port })}\n`, nats);
      expect(r.code).toBe(1);
      expect(r.out).toContain(`127.0.0.1:${port} (services.exchanger.port) is in use: see \`ss -ltnp 'sport = :${port}'\``);
      expect(r.out).not.toContain("[nats]");
      expect(await tcpOpen(nats)).toBe(false);
    });

    it("the local nats-server's included", async () => {
      const r = await run(`services:\n${services()}\n`, port);
      expect(r.code).toBe(1);
      expect(r.out).toContain(`127.0.0.1:${port} (the local nats-server (STS_NATS_PORT)) is in use`);
    });
  });

  it("with two fields naming the same port", async () => {
    const nats = await freePort();
    const same = await freePort();
    const r = await run(`services:\n${services({ issuer: same, audit: same })}\n`, nats);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`services.audit.port and services.issuer.port both name 127.0.0.1:${same}`);
    expect(await tcpOpen(nats)).toBe(false);
  });
});
