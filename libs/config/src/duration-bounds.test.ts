import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";

/** Matches the ConfigError that lists exactly these problems (an asymmetric matcher, which toThrow takes where it types an Error). */
const refusedWith = (...problems: string[]): Error => expect.objectContaining({ name: "ConfigError", problems }) as Error;

const TIMER = "at most 2147483 seconds (about 24 days), the longest a timer waits";
const FILES = { cert_file: "/tls/tls.crt", key_file: "/tls/tls.key", ca_file: "/tls/ca.crt" };
const sidecar = (fields: Record<string, unknown>) => ({
  sidecars: { "svc-a": { inbound: { port: 7001 }, outbound: { port: 7002 }, upstream: "http://127.0.0.1:8001", routes: {}, ...fields } },
});

describe("durations a timer waits", () => {
  // Node fires a timer set past 2^31 - 1 ms after 1 ms: a 30-day reload_interval would read the files a thousand times a second.
  it.each([
    ["grpc_tls.reload_interval", { grpc_tls: { ...FILES, reload_interval: "30d" } }],
    ["grpc_tls.workload_api.startup_timeout", { grpc_tls: { workload_api: { socket: "unix:///run/agent.sock", startup_timeout: "25d" } } }],
    ["sidecars.svc-a.upstream_idle_timeout", sidecar({ upstream_idle_timeout: "30d" })],
    ["startup_deadline", { startup_deadline: "30d" }],
  ])("refuses %s past the longest timer", (field, config) => {
    expect(() => parseConfig(config)).toThrow(refusedWith(`${field}: ${TIMER}`));
  });

  it("takes the longest timer, and 0 where 0 means once or never", () => {
    expect(parseConfig({ grpc_tls: { ...FILES, reload_interval: 2_147_483 } }).grpc_tls).toMatchObject({ reload_interval: 2_147_483 });
    expect(parseConfig({ grpc_tls: { ...FILES, reload_interval: 0 } }).grpc_tls).toMatchObject({ reload_interval: 0 });
    expect(parseConfig({ startup_deadline: 0 }).startup_deadline).toBe(0);
  });

  it("refuses a startup_timeout of 0, which would fail every start at once", () => {
    expect(() => parseConfig({ grpc_tls: { workload_api: { socket: "unix:///run/agent.sock", startup_timeout: 0 } } })).toThrow(
      refusedWith("grpc_tls.workload_api.startup_timeout: at least 1s"),
    );
  });
});

describe("lifetimes", () => {
  it.each([
    ["tokens.access_token_ttl", { tokens: { access_token_ttl: 0 } }, "at least 1s"],
    ["clients[0].access_token_ttl", { clients: [{ client_id: "c", client_secret: "s".repeat(16), access_token_ttl: 0 }] }, "at least 1s"],
    ["clients[0].refresh_token_ttl", { clients: [{ client_id: "c", client_secret: "s".repeat(16), refresh_token_ttl: 0 }] }, "at least 1s"],
    ["keys.rotate_after", { keys: { rotate_after: "59s" } }, "at least 60s"],
  ])("refuses %s too short to mean anything (0 issues tokens already expired, or a key at every check)", (field, config, problem) => {
    expect(() => parseConfig(config)).toThrow(refusedWith(`${field}: ${problem}`));
  });

  // nats-server takes a bucket's or stream's max age in nanoseconds as a 64-bit integer (about 292 years), and the
  // issuer keeps revocations and refresh families twice the longest lifetime: past it, its start failed with "invalid JSON".
  const CENTURY = "at most 3153600000 seconds (36500d, 100 years)";
  it.each([
    ["tokens.access_token_ttl", { tokens: { access_token_ttl: "36501d" } }],
    ["clients[0].access_token_ttl", { clients: [{ client_id: "c", client_secret: "s".repeat(16), access_token_ttl: "200000d" }] }],
    ["clients[0].refresh_token_ttl", { clients: [{ client_id: "c", client_secret: "s".repeat(16), refresh_token_ttl: "999999999d" }] }],
    ["keys.rotate_after", { keys: { rotate_after: "36501d" } }],
    ["audit.stream_max_age", { audit: { stream_max_age: "110000d" } }],
  ])("refuses %s past a century", (field, config) => {
    expect(() => parseConfig(config)).toThrow(refusedWith(`${field}: ${CENTURY}`));
  });

  it("takes a century, and a stream kept for ever (0)", () => {
    const c = parseConfig({ tokens: { access_token_ttl: "36500d" }, audit: { stream_max_age: 0 } });
    expect([c.tokens.access_token_ttl, c.audit.stream_max_age]).toEqual([3_153_600_000, 0]);
  });

  it("takes the shortest sensible ones", () => {
    const c = parseConfig({
      tokens: { access_token_ttl: 1 },
      keys: { rotate_after: "1m" },
      clients: [{ client_id: "c", client_secret: "s".repeat(16), access_token_ttl: 1, refresh_token_ttl: 1 }],
    });
    expect([c.tokens.access_token_ttl, c.keys.rotate_after, c.clients[0]?.access_token_ttl, c.clients[0]?.refresh_token_ttl]).toEqual([1, 60, 1, 1]);
  });
});

describe("bounds on the safety windows", () => {
  // A typo such as 30d for 30s would accept tokens a month past exp, or leave revocations unenforced that long.
  it.each([
    ["tokens.clock_tolerance", "6m", "at most 5 minutes: every verifier would accept tokens that long past their exp"],
    ["tokens.revocation_max_staleness", "30d", "at most an hour: past it, a revoked token may stay accepted that long"],
    ["tokens.assertion_max_lifetime", "2h", "at most an hour: an assertion is made for the request that carries it, and its jti is kept this long"],
    // policy.updated is core NATS: an exchanger cut off while a policy changed reuses its cached decisions this long.
    ["exchange.decision_cache_ttl", "60d", "at most an hour: an exchanger that missed a policy change would allow what it forbids that long"],
  ])("refuses %s past its bound", (field, value, problem) => {
    const [section, name] = field.split(".") as [string, string];
    expect(() => parseConfig({ [section]: { [name]: value } })).toThrow(refusedWith(`${field}: ${problem}`));
  });

  it("takes each at its bound", () => {
    const c = parseConfig({
      tokens: { clock_tolerance: "5m", revocation_max_staleness: "1h", assertion_max_lifetime: "1h" },
      exchange: { decision_cache_ttl: "1h" },
    });
    const t = c.tokens;
    expect([t.clock_tolerance, t.revocation_max_staleness, t.assertion_max_lifetime, c.exchange.decision_cache_ttl]).toEqual([300, 3600, 3600, 3600]);
  });
});
