/**
 * The demo client (its build, as `npm run demo` runs it) when there is nothing to talk to: what a new user sees
 * before the stack is up, or with the stack up but not the demo services.
 */
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort } from "@sts/testkit";

const CLIENT = fileURLToPath(new URL("../dist/client.js", import.meta.url));

/** Runs the demo client with these variables; its exit code and what it wrote. */
function runClient(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLIENT], { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

describe("npm run demo with nothing to talk to", () => {
  it("says the gateway cannot be reached and asks whether the stack runs, exit 1, rather than a stack trace", async () => {
    const gateway = `http://127.0.0.1:${await freePort()}`;
    const r = await runClient({ DEMO_GATEWAY: gateway });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`could not reach the gateway at ${gateway}/oauth2/token: ECONNREFUSED\nIs the stack running (npm start)?\n`);
  });

  it("says A's sidecar cannot be reached once it has a token, exit 1, rather than a stack trace", async () => {
    // A gateway stand-in that hands out a token: the stack is up, the demo services are not.
    const gateway: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ access_token: "at1", token_type: "Bearer" }));
    });
    await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
    try {
      const entry = `http://127.0.0.1:${await freePort()}`;
      const r = await runClient({ DEMO_GATEWAY: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`, DEMO_ENTRY: entry });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^could not reach A's sidecar at ${entry}/work: ECONNREFUSED\\nnpm start runs the demo services`));
      expect(r.stderr).not.toContain("    at ");
    } finally {
      gateway.close();
    }
  });

  it("prints the hops that worked and why the next was refused when a downstream hop fails", async () => {
    const gateway: Server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ access_token: "at1", token_type: "Bearer" }));
    });
    // A's answer when B's sidecar could not be reached (see service.ts).
    const hop1 = {
      service: "svc-a",
      sub: "demo-client",
      scope: "a b c",
      aud: "svc-a",
      act: null,
      downstream: { service: "svc-b", refused: 502, error: "could not reach\n the outbound sidecar" },
    };
    const entry: Server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(hop1)));
    await Promise.all([gateway, entry].map((s) => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))));
    try {
      const url = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      const r = await runClient({ DEMO_GATEWAY: url(gateway), DEMO_ENTRY: url(entry) });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`hop 1  svc-a received a token with\n          audience "svc-a"   scope "a b c"   subject demo-client\n`);
      expect(r.stdout).toContain("hop 2  svc-b: refused (502): could not reach the outbound sidecar\n");
    } finally {
      gateway.close();
      entry.close();
    }
  });
});
