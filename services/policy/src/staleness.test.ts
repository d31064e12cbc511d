/**
 * A policy replica decides only from a copy of the policies bucket it knows to be current: cut off from NATS (or its
 * copy behind the bucket) for longer than policy.max_staleness, Decide, Validate, Get and List answer temporarily_unavailable
 * (UNAVAILABLE) and the replica is not ready, since an operator's forbid made through another replica would never
 * reach it. Served over gRPC as main.ts serves them, with the revocation readers' StalenessGuard, a copy and a NATS
 * connection the test drives, and a clock it moves.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { startGrpcServer } from "@sts/grpc";
import type { GrpcServerHandle } from "@sts/grpc";
import type { KvCache } from "@sts/nats";
import { encodeKey } from "@sts/nats";
import { loadPolicyProto } from "@sts/proto";
import type { Decision__Output, PolicyServiceClient } from "@sts/proto";
import { StalenessGuard } from "@sts/revocation";
import { createLogger } from "@sts/telemetry";
import { LivePolicySet } from "./live-policies.js";
import { breakGlassOnly } from "./operators.fixture.js";
import type { PolicyStore, StoredPolicy } from "./policy-store.js";
import { policyService } from "./service.js";

const SECRET = "break-glass-secret-for-the-staleness-test";
const MAX_STALENESS_MS = 30_000;
const PROBE_MS = 5_000;
const logger = createLogger("policy-staleness-test", { level: "silent" });
const permit: StoredPolicy = {
  id: "a-to-b",
  text: 'permit (principal == Client::"A", action == Action::"exchange", resource == Audience::"B");',
  description: "",
  source: "api",
  updated_at: 0,
};
const question = { client_id: "A", audience: "B", requested_scopes: [], depth: 1, actors: [], caller_in_audience: true };

let now = 1_000_000;
let connected = true;
const listeners: Array<(c: boolean) => void> = [];
/** When the copy was last seen to hold every write (a KvCache's confirmedAt). */
let confirmedAt: number | undefined = now;
let live: LivePolicySet;
let server: GrpcServerHandle;
let client: PolicyServiceClient;

/** Sets the replica's NATS connection as nats.js reports it. */
function setConnected(c: boolean): void {
  connected = c;
  for (const l of listeners) l(c);
}

/** A watched copy holding one permit, with the freshness the test sets. */
function copy(): KvCache<StoredPolicy> {
  const entry = { value: permit, revision: 1, created: new Date(0) };
  return {
    values: () => [permit][Symbol.iterator](),
    entries: () => [[encodeKey(permit.id), entry]],
    entry: (key: string) => (key === encodeKey(permit.id) ? entry : undefined),
    revision: 1,
    onChange: () => undefined,
    onLoaded: () => undefined,
    reloading: false,
    get confirmedAt() {
      return confirmedAt;
    },
  } as unknown as KvCache<StoredPolicy>;
}

/** How a call ends: the decision's allow (the policy's or the list's ids for Get and List), or the gRPC status and OAuth error it was refused with. */
function outcome(method: "Decide" | "Validate" | "Get" | "List"): Promise<string> {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${SECRET}`);
  return new Promise((resolve) => {
    const refused = (err: ServiceError): string => `${status[err.code]} ${String(err.metadata.get("oauth-error")[0])}`;
    const answered = (err: ServiceError | null, d?: Decision__Output): void => resolve(err ? refused(err) : `allow=${d?.allow}`);
    if (method === "Decide") client.Decide(question, metadata, answered);
    else if (method === "Validate") client.Validate({ request: question }, metadata, answered);
    else if (method === "Get") client.Get({ id: permit.id }, metadata, (err, p) => resolve(err ? refused(err) : `policy=${p?.id}`));
    else client.List({}, metadata, (err, l) => resolve(err ? refused(err) : `policies=${l?.policies.map((p) => p.id).join(",")}`));
  });
}

/** Every call that answers from the copy, as {@link outcome} reports each. */
const fromCopy = (): Promise<string[]> => Promise.all((["Decide", "Validate", "Get", "List"] as const).map(outcome));
const ANSWERED = ["allow=true", "allow=true", `policy=${permit.id}`, `policies=${permit.id}`];
const REFUSED = Array<string>(4).fill("UNAVAILABLE temporarily_unavailable");

beforeAll(async () => {
  const connection = { isConnected: () => connected, onStatusChange: (cb: (c: boolean) => void) => listeners.push(cb) };
  live = new LivePolicySet(copy(), undefined, logger, {
    generation: "1",
    staleness: new StalenessGuard(connection, MAX_STALENESS_MS, () => now),
    probeIntervalMs: PROBE_MS,
  });
  const operators = breakGlassOnly(SECRET);
  // Decide and Validate never write.
  const store = {} as PolicyStore;
  const proto = loadPolicyProto();
  server = await startGrpcServer({
    port: 0,
    services: [
      {
        definition: proto.sts.policy.v1.PolicyService.service,
        implementation: policyService({ live, store, operators, logger, configPolicies: new Map(), maxPolicies: 1000 }),
      },
    ],
    logger,
  });
  client = new proto.sts.policy.v1.PolicyService(server.address, credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await server?.shutdown(0);
});

describe("a policy replica's copy of the policies", () => {
  it("is decided from for the bound after NATS is lost, then refused (temporarily_unavailable, not ready) until NATS is back", async () => {
    setConnected(false);
    now += MAX_STALENESS_MS;
    expect(await fromCopy()).toEqual(ANSWERED);
    now += 1;
    // Another replica may have stored a forbid of this very exchange meanwhile: no allow from this copy, and no
    // operator told the permit is still in force.
    expect(await fromCopy()).toEqual(REFUSED);
    expect(live.fresh()).toBe(false);
    setConnected(true);
    confirmedAt = now;
    expect(await fromCopy()).toEqual(ANSWERED);
    expect(live.fresh()).toBe(true);
  });

  it("is refused, though connected, once it was last confirmed current longer ago than the bound and two probe periods", async () => {
    confirmedAt = now;
    now += MAX_STALENESS_MS + 2 * PROBE_MS;
    expect(await outcome("Decide")).toBe("allow=true");
    now += 1;
    expect(await fromCopy()).toEqual(REFUSED);
    expect(live.fresh()).toBe(false);
    // Its watch caught up (the probe saw it hold every write): decided from again.
    confirmedAt = now;
    expect(await outcome("Decide")).toBe("allow=true");
  });
});
