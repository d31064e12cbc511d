/**
 * The admin port: Prometheus metrics and the probes, against real processes.
 * Counts must follow what the stack did (tokens issued by grant, calls by
 * outcome with the OAuth error code, decision cache lookups), a scrape must
 * never carry a token, a secret or a caller's made-up path, and /readyz must
 * follow NATS going away and coming back. A sidecar serves the same on its
 * health listener.
 */
import { createServer } from "node:http";
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GC_TYPES } from "@sts/telemetry";
import { freePort, tcpOpen, waitFor } from "@sts/testkit";
import type { ProcessHandle } from "@sts/testkit";
import { basicAuth, postForm, startSidecar, startStack, SERVICES } from "./harness.js";
import type { ServiceName, Stack } from "./harness.js";
import { EXCHANGE_GRANT, SECRET, TOKEN_TYPE_AT, chainConfig } from "./chain.js";
import { parseSamples, total } from "./prometheus.js";
import type { Sample } from "./prometheus.js";

let stack: Stack;
let sidecar: ProcessHandle;
let destination: HttpServer;
const admin = {} as Record<ServiceName, string>;
const sidecarPort = { inbound: 0, outbound: 0, health: 0 };

beforeAll(async () => {
  const env: Record<string, string> = {};
  for (const name of SERVICES) {
    const port = await freePort();
    env[`STS_${name.toUpperCase()}_ADMIN_PORT`] = String(port);
    admin[name] = `http://127.0.0.1:${port}`;
  }
  // One HTTP server plays both A's workload (behind the sidecar) and B (the route's destination).
  destination = createServer((_req, res) => res.writeHead(200).end("ok"));
  const upstream = await new Promise<number>((resolve) => destination.listen(0, "127.0.0.1", () => resolve((destination.address() as AddressInfo).port)));
  for (const k of ["inbound", "outbound", "health"] as const) sidecarPort[k] = await freePort();
  const sidecars = {
    "svc-a": {
      inbound: { port: sidecarPort.inbound },
      outbound: { port: sidecarPort.outbound },
      health: { port: sidecarPort.health },
      upstream: `http://127.0.0.1:${upstream}`,
      routes: { "svc-b": { url: `http://127.0.0.1:${upstream}`, audience: "svc-b", scopes: ["b", "c"] } },
    },
  };
  stack = await startStack({ ...chainConfig, sidecars }, { env });
  sidecar = await startSidecar(stack, "svc-a", SECRET, async () => (await tcpOpen(sidecarPort.outbound)) && (await tcpOpen(sidecarPort.health)));
}, 90_000);

// A test that restarts NATS leaves services reconnecting: the next one starts once every service is ready again.
beforeEach(() => stack.ready(), 30_000);

afterAll(async () => {
  await sidecar?.stop();
  destination?.close();
  await stack?.stop();
});

async function scrape(service: ServiceName | "sidecar"): Promise<{ text: string; samples: Sample[] }> {
  const res = await fetch(service === "sidecar" ? `http://127.0.0.1:${sidecarPort.health}/metrics` : `${admin[service]}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, samples: parseSamples(text) };
}

const token = (secret = SECRET) =>
  postForm(`${stack.gatewayUrl}/oauth2/token`, { grant_type: "client_credentials", scope: "a b c" }, { authorization: basicAuth("end-user-app", secret) });

const exchange = (subject: string, scope = "b") =>
  postForm(
    `${stack.gatewayUrl}/oauth2/token`,
    // Scope "b" alone: no other test here asks the policy this question, so the first ask is a miss whatever ran before.
    { grant_type: EXCHANGE_GRANT, subject_token: subject, subject_token_type: TOKEN_TYPE_AT, audience: "svc-b", scope },
    { authorization: basicAuth("svc-a", SECRET) },
  );

describe("admin port", () => {
  it("counts tokens by grant, calls by outcome with the OAuth error, and decision cache lookups; no token, secret or made-up path in any scrape", async () => {
    const before = { issuer: (await scrape("issuer")).samples, exchanger: (await scrape("exchanger")).samples, gateway: (await scrape("gateway")).samples };
    const at1 = (await token()).body.access_token as string;
    expect(typeof at1).toBe("string");
    expect((await token("wrong-secret-0000000001")).status).toBe(401);
    const at2 = await exchange(at1);
    expect(at2.status).toBe(200);
    expect((await exchange(at1)).status).toBe(200);
    const forged = `${at1.slice(0, -4)}AAAA`;
    expect((await exchange(forged)).status).toBe(400);
    const probePath = "/no-such-route-7f3a9c";
    expect((await fetch(`${stack.gatewayUrl}${probePath}`)).status).toBe(404);

    const issuer = await scrape("issuer");
    const grew = (now: Sample[], was: Sample[], name: string, labels: Record<string, string>) => total(now, name, labels) - total(was, name, labels);
    expect(grew(issuer.samples, before.issuer, "sts_tokens_issued_total", { sts_grant_type: "client_credentials", sts_token_format: "jwt" })).toBe(1);
    expect(grew(issuer.samples, before.issuer, "sts_tokens_issued_total", { sts_grant_type: EXCHANGE_GRANT, sts_token_format: "jwt" })).toBe(2);
    expect(total(issuer.samples, "sts_nats_connected")).toBe(1);
    // The wrong secret is one scrypt mismatch; the other checks are the app's token request and the exchanger's two Mints.
    const secretChecks = (result: string) => grew(issuer.samples, before.issuer, "sts_client_auth_secret_checks_total", { sts_result: result });
    expect(secretChecks("mismatch")).toBe(1);
    expect(secretChecks("match") + secretChecks("cached")).toBe(3);
    expect(secretChecks("refused")).toBe(0);

    const exchanger = await scrape("exchanger");
    const exchangeCalls = (labels: Record<string, string>) =>
      grew(exchanger.samples, before.exchanger, "rpc_server_call_duration_count", { rpc_method: "Exchange", ...labels });
    expect(exchangeCalls({ rpc_response_status_code: "OK" })).toBe(2);
    expect(exchangeCalls({ error_type: "invalid_request" })).toBe(1);
    // The first exchange asked the policy service; the second, the same question, was answered from the cache.
    expect(grew(exchanger.samples, before.exchanger, "sts_policy_decision_cache_lookups_total", { sts_result: "miss" })).toBe(1);
    expect(grew(exchanger.samples, before.exchanger, "sts_policy_decision_cache_lookups_total", { sts_result: "hit" })).toBe(1);
    // Histogram buckets resolve sub-millisecond calls (the SDK's default boundaries start at 5 s for seconds).
    expect(exchanger.samples.some((s) => s.name === "rpc_server_call_duration_bucket" && s.labels.le === "0.001")).toBe(true);

    const gateway = await scrape("gateway");
    const requests = (labels: Record<string, string>) => grew(gateway.samples, before.gateway, "http_server_request_duration_count", labels);
    expect(requests({ http_route: "/oauth2/token", http_request_method: "POST", http_response_status_code: "401", error_type: "invalid_client" })).toBe(1);
    expect(requests({ http_route: "/oauth2/token", http_response_status_code: "200" })).toBe(3);
    expect(requests({ http_response_status_code: "404" })).toBe(1);

    for (const { text } of [issuer, exchanger, gateway, await scrape("policy"), await scrape("audit")]) {
      for (const secret of [at1, at2.body.access_token as string, forged, SECRET, stack.secrets.exchanger, stack.secrets.master])
        expect(text).not.toContain(secret);
      expect(text).not.toContain(probePath);
    }
  });

  it("every service and the sidecar report their runtime: garbage-collection pauses by kind, event-loop delay, heap in use", async () => {
    const subject = (await token()).body.access_token as string;
    const pauses = async (service: ServiceName) => total((await scrape(service)).samples, "v8js_gc_duration_count");
    // Pauses are counted from the time metrics start, after start-up: token requests and exchanges until the
    // gateway, issuer and exchanger have each collected at least once since (however large a young generation is set).
    // Scope "c", not "b": the first test counts the first policy question about "b" as a miss.
    await waitFor(
      async () => {
        for (let i = 0; i < 20; i++) expect([(await token()).status, (await exchange(subject, "c")).status]).toEqual([200, 200]);
        return (await pauses("gateway")) > 0 && (await pauses("issuer")) > 0 && (await pauses("exchanger")) > 0;
      },
      { timeoutMs: 20_000, intervalMs: 0, message: "no GC pause reported" },
    );
    for (const service of [...SERVICES, "sidecar"] as const) {
      const { samples } = await scrape(service);
      const at = `${service}: ${[...new Set(samples.map((s) => s.name))].filter((n) => /^(v8js|nodejs)_/.test(n)).join(", ")}`;
      if (service === "gateway" || service === "issuer" || service === "exchanger") {
        const sum = (type: string) => total(samples, "v8js_gc_duration_sum", { v8js_gc_type: type });
        expect(
          GC_TYPES.reduce((s, type) => s + sum(type), 0),
          at,
        ).toBeGreaterThan(0);
        // Pauses are resolved below a millisecond, as call durations are (the first bucket bound is 0.5 ms).
        expect(
          samples.some((s) => s.name === "v8js_gc_duration_bucket" && s.labels.le === "0.0005"),
          at,
        ).toBe(true);
      }
      // Delay since the previous scrape: intervals of a 10 ms timer, so at least 10 ms, and a plausible number of seconds.
      const p99 = samples.find((s) => s.name === "nodejs_eventloop_delay_p99");
      expect(p99?.value, at).toBeGreaterThanOrEqual(0.009);
      expect(p99?.value, at).toBeLessThan(60);
      expect(total(samples, "v8js_memory_heap_used", { v8js_heap_space_name: "old_space" }), at).toBeGreaterThan(1_000_000);
    }
  });

  it("the audit service counts the records it projects by type, their delay from the source, and its backlog", async () => {
    const appended = async () => total((await scrape("audit")).samples, "sts_audit_records_appended_total", { sts_event_type: "token.issued" });
    // Read from the server at scrape time: it drains to 0 once the last acks arrive.
    const drained = () =>
      waitFor(
        async () => {
          const backlog = (await scrape("audit")).samples.filter((s) => s.name === "sts_audit_consumer_backlog");
          return backlog.length === 1 && backlog[0]?.value === 0;
        },
        { timeoutMs: 10_000, message: "no backlog of 0 reported" },
      );
    // Events of an earlier test still being projected would count as this one's.
    await drained();
    const before = await appended();
    expect((await token()).status).toBe(200);
    await waitFor(async () => (await appended()) === before + 1, { timeoutMs: 10_000, message: "the audit service did not count the new record" });
    expect(total((await scrape("audit")).samples, "sts_audit_projection_delay_count")).toBeGreaterThanOrEqual(1);
    await drained();
  });

  it("a sidecar counts outbound exchanges (one, then the cache) and its calls per listener and route", async () => {
    const before = (await scrape("sidecar")).samples;
    const at1 = (await token()).body.access_token as string;
    const out = (path: string, bearer?: string) =>
      fetch(`http://127.0.0.1:${sidecarPort.outbound}${path}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
    expect((await out("/svc-b/work", at1)).status).toBe(200);
    expect((await out("/svc-b/work", at1)).status).toBe(200);
    expect((await out("/svc-b/work")).status).toBe(401);
    expect((await out("/made-up-route-51c2/work", at1)).status).toBe(403);

    const { text, samples } = await scrape("sidecar");
    const grew = (name: string, labels: Record<string, string>) => total(samples, name, labels) - total(before, name, labels);
    expect(grew("sts_mesh_exchange_cache_lookups_total", { sts_result: "miss" })).toBe(1);
    expect(grew("sts_mesh_exchange_cache_lookups_total", { sts_result: "hit" })).toBe(1);
    const calls = (labels: Record<string, string>) => grew("http_server_request_duration_count", { sts_listener: "outbound", ...labels });
    expect(calls({ sts_route: "svc-b", http_response_status_code: "200" })).toBe(2);
    expect(calls({ sts_route: "svc-b", http_response_status_code: "401", error_type: "invalid_token" })).toBe(1);
    expect(calls({ http_response_status_code: "403", error_type: "invalid_target" })).toBe(1);
    expect(text).not.toContain("made-up-route-51c2");
    expect(text).not.toContain(at1);
  });

  it("answers the probes, and /readyz follows NATS going away and coming back", async () => {
    for (const name of SERVICES) {
      expect((await fetch(`${admin[name]}/healthz`)).status).toBe(200);
      expect((await fetch(`${admin[name]}/readyz`)).status).toBe(200);
    }
    expect((await fetch(`${admin.issuer}/metrics`, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${admin.issuer}/elsewhere`)).status).toBe(404);

    await stack.nats.kill("SIGKILL");
    await waitFor(async () => (await fetch(`${admin.issuer}/readyz`)).status === 503, {
      timeoutMs: 15_000,
      message: "issuer /readyz still 200 with NATS down",
    });
    // Alive all the same: a liveness probe must not restart a process that is waiting for NATS.
    expect((await fetch(`${admin.issuer}/healthz`)).status).toBe(200);
    expect(total((await scrape("issuer")).samples, "sts_nats_connected")).toBe(0);

    await stack.nats.restart();
    await waitFor(async () => (await fetch(`${admin.issuer}/readyz`)).status === 200, {
      timeoutMs: 30_000,
      message: "issuer /readyz not back after NATS restart",
    });
    expect(total((await scrape("issuer")).samples, "sts_nats_connected")).toBe(1);
  }, 60_000);
});
