/**
 * A sidecar when NATS goes away: it keeps answering from its cached
 * revocations for the bounded staleness, then fails closed (503, nothing
 * forwarded) and reports not ready; when NATS comes back it serves again and
 * sees revocations made after the restart. The fault is real: nats-server is
 * killed (SIGKILL) and restarted on the same port and store.
 */
import { createServer } from "node:http";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, tcpOpen, waitFor } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { basicAuth, postForm, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET } from "./chain.js";

let stack: Stack;
let sidecar: ProcessHandle;
let workload: HttpServer;
let reached = 0;
const port = { inbound: 0, outbound: 0, health: 0 };

beforeAll(async () => {
  workload = createServer((_req, res) => {
    reached++;
    res.writeHead(200).end("ok");
  });
  const workloadPort = await new Promise<number>((resolve) => workload.listen(0, "127.0.0.1", () => resolve((workload.address() as AddressInfo).port)));
  port.inbound = await freePort();
  port.outbound = await freePort();
  port.health = await freePort();
  stack = await startStack(
    {
      // The sidecar may answer from cached revocations for one second without NATS.
      tokens: { revocation_max_staleness: 1 },
      clients: [
        { client_id: "app", client_secret: SECRET, scope: ["b"], audience: ["svc-b"] },
        { client_id: "svc-b", client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], audience: [] },
      ],
      sidecars: {
        "svc-b": {
          inbound: { port: port.inbound },
          outbound: { port: port.outbound },
          upstream: `http://127.0.0.1:${workloadPort}`,
          routes: {},
          health: { port: port.health },
        },
      },
    },
    { services: ["issuer", "gateway"] },
  );
  sidecar = await startSidecar(stack, "svc-b", SECRET, async () => (await tcpOpen(port.inbound)) && (await tcpOpen(port.health)));
}, 90_000);

afterAll(async () => {
  await sidecar?.stop();
  workload?.close();
  await stack?.stop();
});

const token = async (): Promise<string> => {
  const r = await postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", scope: "b" }, { authorization: basicAuth("app", SECRET) });
  expect(r.status).toBe(200);
  return r.body.access_token as string;
};
const callB = (t: string) => fetch(`http://127.0.0.1:${port.inbound}/work`, { headers: { authorization: `Bearer ${t}` } });
const readyz = async () => (await fetch(`http://127.0.0.1:${port.health}/readyz`)).status;

describe("a sidecar without NATS", () => {
  it("fails closed past the bounded staleness, reports not ready, and recovers with live revocations", async () => {
    const held = await token();
    expect((await callB(held)).status).toBe(200);
    expect(await readyz()).toBe(200);

    await stack.nats.kill("SIGKILL");
    await waitFor(async () => (await readyz()) === 503, { timeoutMs: 15_000, message: "sidecar still ready with NATS down" });
    // Past the staleness bound the sidecar cannot vouch that the token is not revoked.
    await new Promise((r) => setTimeout(r, 1_100));
    const before = reached;
    const refused = await callB(held);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: string }).error).toBe("temporarily_unavailable");
    expect(reached).toBe(before);

    await stack.nats.restart();
    await waitFor(async () => (await readyz()) === 200, { timeoutMs: 20_000, message: "sidecar not ready after NATS came back" });
    expect((await callB(held)).status).toBe(200);
    // The issuer and the gateway reconnect on their own schedule: the sidecar being back says nothing of them.
    await stack.ready();

    // A revocation made after the restart reaches the sidecar: its watch resumed.
    const fresh = await token();
    expect((await callB(fresh)).status).toBe(200);
    const revoked = await postForm(`${stack.gatewayUrl}/oauth2/revoke`, { token: fresh }, { authorization: basicAuth("app", SECRET) });
    expect(revoked.status).toBe(200);
    const afterRevoke = await waitFor(
      async () => {
        const r = await callB(fresh);
        return r.status === 401 ? r : undefined;
      },
      { timeoutMs: 10_000, message: "revocation after the NATS restart not seen by the sidecar" },
    );
    expect(afterRevoke.headers.get("www-authenticate")).toMatch(/invalid_token/);
  }, 90_000);
});
