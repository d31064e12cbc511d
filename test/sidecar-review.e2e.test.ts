/**
 * Where a bearer token may travel through real sidecar processes (RFC 6750 §2: one method per request, the
 * Authorization header here): the token a workload received never reaches the next hop, whatever header or query it
 * is put in, and a second token in the query never reaches the workload unverified. The test plays workload A
 * (calling A's outbound listener with the token it was called with) and the caller of B; workload B records what it
 * receives.
 */
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, tcpOpen } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { basicAuth, postForm, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET } from "./chain.js";

let stack: Stack;
const sidecars: ProcessHandle[] = [];
const workloads: HttpServer[] = [];
/** What workload B received: its target and headers. */
const seenByB: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
const ports: Record<"a" | "b", { inbound: number; outbound: number; workload: number }> = {
  a: { inbound: 0, outbound: 0, workload: 0 },
  b: { inbound: 0, outbound: 0, workload: 0 },
};

/** A workload that records each call and answers 200. */
function workload(record?: typeof seenByB): Promise<number> {
  const server = createServer((req, res) => {
    record?.push({ url: req.url ?? "", headers: req.headers });
    req.resume().on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  workloads.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** A token for svc-a from the gateway: what workload A was called with. */
const tokenForA = async (): Promise<string> =>
  (
    await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a b", audience: "svc-a" },
      { authorization: basicAuth("end-user-app", SECRET) },
    )
  ).body.access_token as string;

beforeAll(async () => {
  for (const n of ["a", "b"] as const) ports[n] = { inbound: await freePort(), outbound: await freePort(), workload: 0 };
  ports.a.workload = await workload();
  ports.b.workload = await workload(seenByB);
  const sidecar = (n: "a" | "b", routes: Record<string, { url: string; audience: string; scopes: string[] }>) => ({
    inbound: { port: ports[n].inbound },
    outbound: { port: ports[n].outbound },
    upstream: `http://127.0.0.1:${ports[n].workload}`,
    routes,
  });
  stack = await startStack(
    {
      policy: { hops: [{ from: "svc-a", to: "svc-b", scopes: ["b"] }] },
      clients: [
        { client_id: "end-user-app", client_secret: SECRET, scope: ["a", "b"], audience: ["svc-a", "svc-b"] },
        ...["svc-a", "svc-b"].map((client_id) => ({ client_id, client_secret: SECRET, grant_types: ["client_credentials", EXCHANGE_GRANT], audience: [] })),
      ],
      sidecars: {
        "svc-a": sidecar("a", { "svc-b": { url: `http://127.0.0.1:${ports.b.inbound}`, audience: "svc-b", scopes: ["b"] } }),
        "svc-b": sidecar("b", {}),
      },
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  for (const n of ["a", "b"] as const) {
    sidecars.push(await startSidecar(stack, `svc-${n}`, SECRET, async () => (await tcpOpen(ports[n].inbound)) && tcpOpen(ports[n].outbound)));
  }
}, 90_000);

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  for (const w of workloads) w.close();
  await stack?.stop();
});

describe("the token a workload received, through its outbound listener", () => {
  it("reaches B in no form when A sends it in Proxy-Authorization too (a proxy's credential, RFC 9110 §11.7.2): the call goes on without it", async () => {
    const token = await tokenForA();
    const before = seenByB.length;
    const r = await fetch(`http://127.0.0.1:${ports.a.outbound}/svc-b/work`, {
      headers: { authorization: `Bearer ${token}`, "proxy-authorization": `Bearer ${token}` },
    });
    expect(r.status).toBe(200);
    const received = seenByB.slice(before);
    expect(received).toHaveLength(1);
    expect(received[0]?.headers).not.toHaveProperty("proxy-authorization");
    expect(JSON.stringify(received)).not.toContain(token);
    expect(received[0]?.headers["x-mesh-scope"]).toBe("b");
  });

  it.each([
    ["a cookie", "/svc-b/work", (t: string) => ({ cookie: `session=${t}` })],
    ["a header the workload propagates", "/svc-b/work", (t: string) => ({ "x-original-authorization": `Bearer ${t}` })],
    ["the access_token query parameter", "/svc-b/work?access_token=TOKEN", () => ({})],
    ["the path", "/svc-b/callback/TOKEN", () => ({})],
    ["the query, percent-encoded, after a stray %", "/svc-b/work?discount=10%&t=ENCODED", () => ({})],
  ])("is refused in %s with 400 invalid_request, and B receives nothing", async (_name, path, extra) => {
    const token = await tokenForA();
    const before = seenByB.length;
    const encoded = [...token].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("");
    const r = await fetch(`http://127.0.0.1:${ports.a.outbound}${path.replace("TOKEN", token).replace("ENCODED", encoded)}`, {
      headers: { authorization: `Bearer ${token}`, ...extra(token) },
    });
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: string; error_description: string };
    expect(body.error).toBe("invalid_request");
    expect(JSON.stringify(body)).not.toContain(token);
    expect(seenByB.length).toBe(before);
  });
});

describe("a second token at the inbound listener", () => {
  it("in the access_token query parameter, beside a valid Authorization, is refused with 400 invalid_request and never reaches B (RFC 6750 §2, §3.1)", async () => {
    const token = await tokenForA();
    // A token B's sidecar would accept in the header, so that only the query can be at fault.
    const forB = (
      await postForm(
        `${stack.gatewayUrl}/oauth2/token`,
        { grant_type: "client_credentials", scope: "b", audience: "svc-b" },
        { authorization: basicAuth("end-user-app", SECRET) },
      )
    ).body.access_token as string;
    const before = seenByB.length;
    const r = await fetch(`http://127.0.0.1:${ports.b.inbound}/work?access_token=${token}`, { headers: { authorization: `Bearer ${forB}` } });
    expect(r.status).toBe(400);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_request"/);
    expect(seenByB.length).toBe(before);
    // The same call without the query parameter goes through: the header's token was never the problem.
    expect((await fetch(`http://127.0.0.1:${ports.b.inbound}/work`, { headers: { authorization: `Bearer ${forB}` } })).status).toBe(200);
    expect(seenByB.length).toBe(before + 1);
  });
});
