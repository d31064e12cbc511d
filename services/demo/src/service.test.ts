/**
 * A demo workload (its build, as `npm start` runs it) whose next hop cannot be reached: it still answers with what it
 * received, so `npm run demo` shows how far the chain got instead of losing the hops that worked.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { freePort } from "@sts/testkit";

const SERVICE = fileURLToPath(new URL("../dist/service.js", import.meta.url));

describe("a demo workload whose outbound sidecar is out of reach", () => {
  it("answers 200 with its own hop and the next one refused (502, the reason), not a bare 500", async () => {
    const outbound = `http://127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [SERVICE], {
      env: { ...process.env, DEMO_NAME: "svc-a", DEMO_PORT: "0", DEMO_OUTBOUND: outbound, DEMO_NEXT: "svc-b" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const [line] = (await once(child.stdout, "data")) as [Buffer];
      const port = /listening on (\d+)/.exec(line.toString())?.[1];
      expect(port).toMatch(/^[1-9]\d*$/);
      const claims = Buffer.from(JSON.stringify({ aud: "svc-a", jti: "at1-jti" })).toString("base64url");
      const r = await fetch(`http://127.0.0.1:${port}/work`, { headers: { authorization: `Bearer e30.${claims}.sig`, "x-mesh-scope": "a b c" } });
      const body = (await r.json()) as Record<string, unknown>;
      expect([r.status, body.service, body.aud, body.scope, body.jti]).toEqual([200, "svc-a", "svc-a", "a b c", "at1-jti"]);
      expect(body.downstream).toEqual({
        service: "svc-b",
        refused: 502,
        error: `could not reach the outbound sidecar at ${outbound}/svc-b/work: ECONNREFUSED`,
      });
    } finally {
      child.kill("SIGTERM");
    }
  });
});
