import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { IntrospectionUnavailable } from "./introspection-request.js";
import { ProviderIntrospection, verdictOf } from "./provider-introspection.js";
import type { IntrospectedToken, ProviderIntrospectionOptions } from "./provider-introspection.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** What the fake provider answers: a status and a JSON body, after an optional delay. */
interface Reply {
  status?: number;
  body: unknown;
  delayMs?: number;
}

/** A real loopback endpoint answering `reply(token)`; counts the calls per token. */
async function provider(reply: (token: string) => Reply): Promise<{ url: string; calls: string[]; close(): Promise<void> }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const token = new URLSearchParams(body).get("token") ?? "";
      calls.push(token);
      const r = reply(token);
      setTimeout(() => res.writeHead(r.status ?? 200, { "content-type": "application/json" }).end(JSON.stringify(r.body)), r.delayMs ?? 0);
    });
  });
  servers.push(server);
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
  return { url: `http://127.0.0.1:${port}/introspect`, calls, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const NOW = 1_700_000_000_000;
const claims: IntrospectedToken = { iss: "https://idp", sub: "alice", client_id: "web", jti: "j-1", exp: NOW / 1000 + 300, aud: ["edge", "api"] };

function introspection(url: string, clock: { now: number }, more: Partial<ProviderIntrospectionOptions> = {}): ProviderIntrospection {
  return new ProviderIntrospection({
    issuer: "https://idp",
    endpoint: { url, clientId: "sts", clientSecret: () => "secret", timeoutMs: 2_000 },
    cacheTtlSeconds: 30,
    nowMs: () => clock.now,
    ...more,
  });
}

describe("verdictOf: an active answer must be about the verified token", () => {
  it.each<[string, Record<string, unknown>, string]>([
    ["active, naming nothing", { active: true }, "active"],
    ["active, agreeing", { active: true, iss: "https://idp", sub: "alice", client_id: "web" }, "active"],
    ["inactive", { active: false, sub: "alice" }, "inactive"],
    ["another sub", { active: true, sub: "mallory" }, "mismatch"],
    ["another iss", { active: true, iss: "https://other-idp" }, "mismatch"],
    ["another client_id", { active: true, client_id: "other-app" }, "mismatch"],
    ["a sub that is not a string", { active: true, sub: ["alice"] }, "mismatch"],
    ["a null iss", { active: true, iss: null }, "mismatch"],
    // RFC 7662 §2.2: iss, sub and client_id fit every token of one user at one client; jti, exp and aud name this one.
    ["agreeing on jti, exp and aud (in any order)", { active: true, jti: "j-1", exp: NOW / 1000 + 300, aud: ["api", "edge"] }, "active"],
    ["another jti", { active: true, iss: "https://idp", sub: "alice", client_id: "web", jti: "j-2" }, "mismatch"],
    ["another exp", { active: true, iss: "https://idp", sub: "alice", client_id: "web", exp: NOW / 1000 + 3_600 }, "mismatch"],
    ["an exp already past", { active: true, sub: "alice", exp: NOW / 1000 - 60 }, "mismatch"],
    ["an exp that is not a number", { active: true, exp: String(NOW / 1000 + 300) }, "mismatch"],
    ["another audience", { active: true, sub: "alice", aud: "billing" }, "mismatch"],
    ["only one of the audiences", { active: true, aud: "edge" }, "mismatch"],
    ["an audience more", { active: true, aud: ["edge", "api", "billing"] }, "mismatch"],
    ["an aud that is not a string or a list of strings", { active: true, aud: [1] }, "mismatch"],
  ])("%s", (_, answer, verdict) => {
    expect(verdictOf(answer as { active: boolean }, claims)).toBe(verdict);
  });

  it("has no client_id to compare when the token names no client", () => {
    expect(verdictOf({ active: true, client_id: "web" }, { ...claims, client_id: "" })).toBe("active");
  });

  it("takes a single audience as a string or a one-element list", () => {
    expect(verdictOf({ active: true, aud: "edge" }, { ...claims, aud: ["edge"] })).toBe("active");
    expect(verdictOf({ active: true, aud: ["edge"] }, { ...claims, aud: "edge" })).toBe("active");
  });
});

describe("ProviderIntrospection", () => {
  it("reuses an active answer for cache_ttl, then asks again and sees the revocation", async () => {
    let revoked = false;
    const idp = await provider(() => ({ body: revoked ? { active: false } : { active: true, sub: "alice" } }));
    const clock = { now: NOW };
    const cache = introspection(idp.url, clock);
    expect(await cache.check("tok", claims)).toBe("active");
    revoked = true;
    clock.now += 29_999;
    expect(await cache.check("tok", claims)).toBe("active");
    expect(idp.calls).toHaveLength(1);
    clock.now += 1;
    expect(await cache.check("tok", claims)).toBe("inactive");
    expect(idp.calls).toHaveLength(2);
  });

  it("never reuses an active answer with cache_ttl 0", async () => {
    const idp = await provider(() => ({ body: { active: true } }));
    const cache = introspection(idp.url, { now: NOW }, { cacheTtlSeconds: 0 });
    await cache.check("tok", claims);
    await cache.check("tok", claims);
    expect(idp.calls).toHaveLength(2);
    expect(cache.size).toBe(0);
  });

  it("keeps an active answer no longer than the token lives", async () => {
    const idp = await provider(() => ({ body: { active: true } }));
    const clock = { now: NOW };
    const cache = introspection(idp.url, clock);
    await cache.check("tok", { ...claims, exp: NOW / 1000 + 5 });
    clock.now += 5_000;
    await cache.check("tok", { ...claims, exp: NOW / 1000 + 5 });
    expect(idp.calls).toHaveLength(2);
  });

  it("remembers an inactive answer for a minute, past a shorter cache_ttl, then asks again", async () => {
    let active = false;
    const idp = await provider(() => ({ body: { active } }));
    const clock = { now: NOW };
    const cache = introspection(idp.url, clock);
    expect(await cache.check("tok", claims)).toBe("inactive");
    clock.now += 59_000;
    expect(await cache.check("tok", claims)).toBe("inactive");
    expect(idp.calls).toHaveLength(1);
    // A provider that did not know the token yet (replication lag) gets to say so after the minute.
    active = true;
    clock.now += 1_000;
    expect(await cache.check("tok", claims)).toBe("active");
    expect(idp.calls).toHaveLength(2);
  });

  it("never remembers an inactive answer past the token's expiry", async () => {
    const idp = await provider(() => ({ body: { active: false } }));
    const clock = { now: NOW };
    const cache = introspection(idp.url, clock, { cacheTtlSeconds: 300 });
    const shortLived = { ...claims, exp: NOW / 1000 + 20 };
    expect(await cache.check("tok", shortLived)).toBe("inactive");
    clock.now += 19_000;
    await cache.check("tok", shortLived);
    expect(idp.calls).toHaveLength(1);
    clock.now += 1_000;
    await cache.check("tok", shortLived);
    expect(idp.calls).toHaveLength(2);
  });

  it("treats an answer about another subject as inactive, and remembers it so", async () => {
    const idp = await provider(() => ({ body: { active: true, sub: "mallory" } }));
    const cache = introspection(idp.url, { now: NOW });
    expect(await cache.check("tok", claims)).toBe("mismatch");
    expect(await cache.check("tok", claims)).toBe("mismatch");
    expect(idp.calls).toHaveLength(1);
  });

  it("shares one call among concurrent checks of one token, and asks separately for another token", async () => {
    const idp = await provider(() => ({ body: { active: true }, delayMs: 100 }));
    // No caching at all: only the call in flight can be shared.
    const cache = introspection(idp.url, { now: NOW }, { cacheTtlSeconds: 0 });
    const verdicts = await Promise.all([...Array.from({ length: 10 }, () => cache.check("tok", claims)), cache.check("other", claims)]);
    expect(verdicts.every((v) => v === "active")).toBe(true);
    expect(idp.calls.sort()).toEqual(["other", "tok"]);
  });

  it("shares a failure among concurrent checks, never remembers it, and asks again next time", async () => {
    let status = 503;
    const idp = await provider(() => ({ status, body: { active: true }, delayMs: 50 }));
    const cache = introspection(idp.url, { now: NOW });
    const results = await Promise.allSettled([cache.check("tok", claims), cache.check("tok", claims)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    const reason = (results[0] as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(IntrospectionUnavailable);
    expect(reason.message).toBe("https://idp: introspection endpoint answered HTTP 503");
    expect(idp.calls).toHaveLength(1);
    status = 200;
    expect(await cache.check("tok", claims)).toBe("active");
    expect(idp.calls).toHaveLength(2);
  });

  it("fails when the provider is gone, even for a token it said was active before the cache ran out", async () => {
    const idp = await provider(() => ({ body: { active: true } }));
    const clock = { now: NOW };
    const cache = introspection(idp.url, clock);
    await cache.check("tok", claims);
    await idp.close();
    servers.length = 0;
    clock.now += 30_000;
    await expect(cache.check("tok", claims)).rejects.toBeInstanceOf(IntrospectionUnavailable);
  });

  it("holds a bounded number of answers, dropping the least recently used (which is only asked again)", async () => {
    const idp = await provider(() => ({ body: { active: true } }));
    const cache = introspection(idp.url, { now: NOW }, { maxEntries: 2 });
    await cache.check("a", claims);
    await cache.check("b", claims);
    await cache.check("a", claims); // a is now the most recent
    await cache.check("c", claims); // drops b
    expect(cache.size).toBe(2);
    await cache.check("a", claims);
    await cache.check("b", claims);
    expect(idp.calls).toEqual(["a", "b", "c", "b"]);
  });
});

describe("ProviderIntrospection: circuit breaker", () => {
  const failing = async (cache: ProviderIntrospection, tokens: string[]) => Promise.allSettled(tokens.map((t) => cache.check(t, claims)));

  it("stops calling an endpoint that keeps failing, fails those checks at once, then probes once and resumes", async () => {
    let status = 500;
    const idp = await provider(() => ({ status, body: { active: true } }));
    const states: string[] = [];
    const cache = introspection(idp.url, { now: NOW }, { breakerPauseMs: 300, onBreaker: (s) => states.push(s) });
    const first = await failing(cache, ["t1", "t2", "t3", "t4", "t5"]);
    expect(first.every((r) => r.status === "rejected")).toBe(true);
    expect(idp.calls).toHaveLength(5);
    expect(cache.breakerState).toBe("open");

    // Open: no call, and still an outage to the caller (it fails closed), never an answer.
    const shed = await failing(cache, ["t6", "t7"]);
    expect(idp.calls).toHaveLength(5);
    for (const r of shed) {
      expect(r.status).toBe("rejected");
      const reason = (r as PromiseRejectedResult).reason as Error;
      expect(reason).toBeInstanceOf(IntrospectionUnavailable);
      expect(reason.message).toMatch(/^https:\/\/idp: its introspection endpoint kept failing/);
    }

    status = 200;
    await new Promise((r) => setTimeout(r, 350));
    expect(cache.breakerState).toBe("half_open");
    // One probe goes out; a check arriving while it is in flight is not sent.
    const [probe, during] = await Promise.allSettled([cache.check("t8", claims), cache.check("t9", claims)]);
    expect(probe).toEqual({ status: "fulfilled", value: "active" });
    expect(during.status).toBe("rejected");
    expect(idp.calls.slice(5)).toEqual(["t8"]);
    expect(cache.breakerState).toBe("closed");
    expect(await cache.check("t10", claims)).toBe("active");
    expect(states).toEqual(["open", "half_open", "closed"]);
  });

  it("once closed again, judges the endpoint by the calls since: one failure after the probe does not reopen it", async () => {
    let status = 500;
    const idp = await provider(() => ({ status, body: { active: true } }));
    const cache = introspection(idp.url, { now: NOW }, { breakerPauseMs: 200 });
    await failing(cache, ["t1", "t2", "t3", "t4", "t5"]);
    expect(cache.breakerState).toBe("open");
    status = 200;
    await new Promise((r) => setTimeout(r, 250));
    expect(await cache.check("t6", claims)).toBe("active");
    expect(cache.breakerState).toBe("closed");
    status = 500;
    await failing(cache, ["t7"]);
    expect(cache.breakerState).toBe("closed");
    // Still a breaker: most of the next calls failing opens it.
    await failing(cache, ["t8", "t9", "t10", "t11"]);
    expect(cache.breakerState).toBe("open");
  });

  it("opens again when the probe fails", async () => {
    const idp = await provider(() => ({ status: 502, body: {} }));
    const cache = introspection(idp.url, { now: NOW }, { breakerPauseMs: 200 });
    await failing(cache, ["t1", "t2", "t3", "t4", "t5"]);
    await new Promise((r) => setTimeout(r, 250));
    await failing(cache, ["t6"]);
    expect(idp.calls).toHaveLength(6);
    expect(cache.breakerState).toBe("open");
    await failing(cache, ["t7"]);
    expect(idp.calls).toHaveLength(6);
  });

  it("stays closed under occasional failures, and answers from its cache while open", async () => {
    let status = 200;
    const idp = await provider(() => ({ status, body: { active: true } }));
    const cache = introspection(idp.url, { now: NOW }, { breakerPauseMs: 60_000 });
    expect(await cache.check("known", claims)).toBe("active");
    status = 500;
    // Four failures out of five calls would open it; three out of four is below the minimum number of calls.
    await failing(cache, ["t1", "t2", "t3"]);
    expect(cache.breakerState).toBe("closed");
    await failing(cache, ["t4"]);
    expect(cache.breakerState).toBe("open");
    // A remembered answer is still an answer: the open breaker only stops new calls.
    expect(await cache.check("known", claims)).toBe("active");
  });
});
