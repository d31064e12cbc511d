/**
 * Redirects through a sidecar's outbound listener, with real sidecar processes: workload A (this test, calling with
 * fetch as an application would) → [sidecar A out] → [sidecar B] → B, where A's sidecar also has a route to C. Every
 * route answers on the one outbound origin, so a `Location: /svc-c/...` from B, passed on as it was, would be followed
 * same-origin with A's Authorization and exchanged for route svc-c: B spending A's caller's authority on C. The sidecar
 * re-expresses it under B's own prefix instead (as nginx's proxy_redirect does).
 */
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, tcpOpen } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { basicAuth, postForm, startSidecar, startStack } from "./harness.js";
import type { Stack } from "./harness.js";
import { SECRET, workloadClients } from "./chain.js";

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
}

let stack: Stack;
const sidecars: ProcessHandle[] = [];
const workloads: HttpServer[] = [];
const seen: Record<"b" | "c", Seen[]> = { b: [], c: [] };
const ports: Record<"a" | "b" | "c", { inbound: number; outbound: number }> = {
  a: { inbound: 0, outbound: 0 },
  b: { inbound: 0, outbound: 0 },
  c: { inbound: 0, outbound: 0 },
};

/** B answers `/redirect-c` with a 307 to another route's path of A's outbound listener, `/redirect-login` with one to `/login`. */
const REDIRECTS: Record<string, string> = { "/redirect-c": "/svc-c/admin/delete-all", "/redirect-login": "/login" };

/** A workload behind its sidecar: records each call, redirects as REDIRECTS says (B only), else names itself and the path. */
function workload(name: "b" | "c"): Promise<number> {
  const server = createServer((req, res) => {
    seen[name].push({ url: req.url ?? "", headers: req.headers });
    const location = name === "b" ? REDIRECTS[req.url ?? ""] : undefined;
    if (location) res.writeHead(307, { location }).end();
    else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ at: name, url: req.url, subject: req.headers["x-mesh-subject"] }));
  });
  workloads.push(server);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** The token workload A received from its caller (for audience svc-a), which it passes on through its sidecar. */
const callerToken = async (): Promise<string> =>
  (
    await postForm(
      `${stack.gatewayUrl}/oauth2/token`,
      { grant_type: "client_credentials", scope: "a b c" },
      { authorization: basicAuth("end-user-app", SECRET) },
    )
  ).body.access_token as string;

/** A's outbound listener, as A's workload calls it. */
const outboundA = (): string => `http://127.0.0.1:${ports.a.outbound}`;

beforeAll(async () => {
  for (const n of ["a", "b", "c"] as const) ports[n] = { inbound: await freePort(), outbound: await freePort() };
  const upstream = { a: `http://127.0.0.1:${await freePort()}`, b: `http://127.0.0.1:${await workload("b")}`, c: `http://127.0.0.1:${await workload("c")}` };
  const sidecar = (n: "a" | "b" | "c", routes: Record<string, { url: string; audience: string; scopes: string[] }> = {}) => ({
    inbound: { port: ports[n].inbound },
    outbound: { port: ports[n].outbound },
    upstream: upstream[n],
    routes,
  });
  const inbound = (n: "b" | "c"): string => `http://127.0.0.1:${ports[n].inbound}`;
  stack = await startStack(
    {
      tokens: { clock_tolerance: 0 },
      // A may call both B and C: the redirect must not let B choose which.
      policy: {
        hops: [
          { from: "svc-a", to: "svc-b", scopes: ["b"] },
          { from: "svc-a", to: "svc-c", scopes: ["c"] },
        ],
      },
      clients: [
        { client_id: "end-user-app", client_secret: SECRET, scope: ["a", "b", "c"], audience: ["svc-a"] },
        ...workloadClients("svc-a", "svc-b", "svc-c"),
      ],
      sidecars: {
        "svc-a": sidecar("a", {
          "svc-b": { url: inbound("b"), audience: "svc-b", scopes: ["b"] },
          "svc-c": { url: inbound("c"), audience: "svc-c", scopes: ["c"] },
        }),
        "svc-b": sidecar("b"),
        "svc-c": sidecar("c"),
      },
    },
    { services: ["issuer", "policy", "exchanger", "gateway"] },
  );
  for (const n of ["a", "b", "c"] as const) {
    sidecars.push(await startSidecar(stack, `svc-${n}`, SECRET, async () => (await tcpOpen(ports[n].inbound)) && (await tcpOpen(ports[n].outbound))));
  }
}, 90_000);

afterAll(async () => {
  await Promise.all(sidecars.map((s) => s.stop()));
  for (const w of workloads) {
    w.closeAllConnections();
    w.close();
  }
  await stack?.stop();
});

describe("a destination's redirect through the outbound listener", () => {
  it("cannot send the workload to another of its routes: B's 307 to /svc-c/admin/delete-all stays on B, and C is never called", async () => {
    const token = await callerToken();
    // A's route to C works: had the redirect been passed on as it was, the call below would have reached C.
    const direct = await fetch(`${outboundA()}/svc-c/direct`, { headers: { authorization: `Bearer ${token}` } });
    expect(direct.status).toBe(200);
    expect(seen.c.some((s) => s.url === "/direct")).toBe(true);
    const cBefore = seen.c.length;

    // What a workload's fetch does by default: follow it, on the same origin, with its Authorization.
    const followed = await fetch(`${outboundA()}/svc-b/redirect-c`, { headers: { authorization: `Bearer ${token}` } });
    expect(seen.c.length).toBe(cBefore);
    expect(followed.url).toBe(`${outboundA()}/svc-b/svc-c/admin/delete-all`);
    expect(await followed.json()).toEqual({ at: "b", url: "/svc-c/admin/delete-all", subject: "end-user-app" });

    const manual = await fetch(`${outboundA()}/svc-b/redirect-c`, { headers: { authorization: `Bearer ${token}` }, redirect: "manual" });
    expect(manual.status).toBe(307);
    expect(manual.headers.get("location")).toBe("/svc-b/svc-c/admin/delete-all");
  });

  it("follows a relative redirect to /login onto B's /login", async () => {
    const token = await callerToken();
    const r = await fetch(`${outboundA()}/svc-b/redirect-login`, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    expect(r.url).toBe(`${outboundA()}/svc-b/login`);
    expect(await r.json()).toEqual({ at: "b", url: "/login", subject: "end-user-app" });
    // B got it through its sidecar with a token exchanged for it, never the caller's own.
    const login = seen.b.at(-1);
    expect(login?.url).toBe("/login");
    expect(login?.headers.authorization).not.toBe(`Bearer ${token}`);
  });
});
