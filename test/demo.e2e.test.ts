/** The demo a new user sees: three demo services behind sidecars, and the demo client's hop-by-hop report with the audit lineage. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startProcess, tcpOpen } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { ROOT, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";

const run = promisify(execFile);
const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
let stack: Stack;
const processes: ProcessHandle[] = [];
const ports: Record<string, { inbound: number; outbound: number; workload: number }> = {};

beforeAll(async () => {
  const names = ["svc-a", "svc-b", "svc-c"];
  for (const n of names) ports[n] = { inbound: await freePort(), outbound: await freePort(), workload: await freePort() };
  const next: Record<string, string | undefined> = { "svc-a": "svc-b", "svc-b": "svc-c" };
  const scopes: Record<string, string[]> = { "svc-b": ["b", "c"], "svc-c": ["c"] };
  stack = await startStack({
    policy: {
      hops: [
        { from: "svc-a", to: "svc-b", scopes: ["b", "c"] },
        { from: "svc-b", to: "svc-c", scopes: ["c"] },
      ],
    },
    clients: [
      { client_id: "demo-client", client_secret: "demo-client-secret-0001", scope: ["a", "b", "c"], audience: ["svc-a"] },
      ...names.map((id) => ({ client_id: id, client_secret: `${id}-secret-000000001`, grant_types: ["client_credentials", EXCHANGE], audience: [] })),
    ],
    sidecars: Object.fromEntries(
      names.map((n) => {
        const to = next[n];
        return [
          n,
          {
            inbound: { port: ports[n]!.inbound },
            outbound: { port: ports[n]!.outbound },
            upstream: `http://127.0.0.1:${ports[n]!.workload}`,
            routes: to ? { [to]: { url: `http://127.0.0.1:${ports[to]!.inbound}`, audience: to, scopes: scopes[to] } } : {},
          },
        ];
      }),
    ),
  });
  for (const n of names) {
    const to = next[n];
    processes.push(
      await startProcess({
        name: `demo ${n}`,
        command: process.execPath,
        args: [join(ROOT, "services/demo/dist/service.js")],
        cwd: ROOT,
        env: { DEMO_NAME: n, DEMO_PORT: String(ports[n]!.workload), DEMO_OUTBOUND: `http://127.0.0.1:${ports[n]!.outbound}`, ...(to && { DEMO_NEXT: to }) },
        ready: () => tcpOpen(ports[n]!.workload),
      }),
      await startSidecar(stack, n, `${n}-secret-000000001`, async () => (await tcpOpen(ports[n]!.inbound)) && tcpOpen(ports[n]!.outbound)),
    );
  }
}, 90_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await stack?.stop();
});

describe("npm run demo", () => {
  it("prints each hop's audience, scope and actors, then the lineage back to the grant", async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, "services/demo/dist/client.js")], {
      cwd: ROOT,
      env: { ...process.env, DEMO_GATEWAY: stack.gatewayUrl, DEMO_ENTRY: `http://127.0.0.1:${ports["svc-a"]!.inbound}`, STS_AUDIT_ADDR: stack.address.audit },
      timeout: 20_000,
    }).catch((err: unknown) => {
      // What the workloads and sidecars said is what explains a failed run.
      throw new Error(`${String(err)}\n${processes.map((p, i) => `--- process ${i}\n${p.output()}`).join("\n")}`);
    });
    expect(stdout).toMatch(/hop 1 {2}svc-a received a token with\n\s+audience "svc-a" {3}scope "a b c"/);
    expect(stdout).toMatch(/hop 2 {2}svc-b received a token with\n\s+audience "svc-b" {3}scope "b c"[^\n]*\n\s+act: svc-a /);
    expect(stdout).toMatch(/hop 3 {2}svc-c received a token with\n\s+audience "svc-c" {3}scope "c"[^\n]*\n\s+act: svc-b ← svc-a /);
    const lineage = stdout.slice(stdout.indexOf("audit lineage"));
    expect(lineage.match(/token\.(issued|exchanged)/g)).toEqual(["token.issued", "token.exchanged", "token.exchanged"]);
  });
});
