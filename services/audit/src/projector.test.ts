import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENTS_STREAM, EVENT_TYPES, EventPublisher, connectNats, ensureEventsStream } from "@sts/nats";
import type { NatsHandle } from "@sts/nats";
import { createLogger } from "@sts/telemetry";
import { startNats, waitFor } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { AuditStore } from "./audit-store.js";
import type { IncomingEvent } from "./audit-store.js";
import { Projector } from "./projector.js";

/** A real projection whose first commit fails, as a full disk would make it. */
class FailingOnceStore extends AuditStore {
  failures = 0;
  override append(events: readonly IncomingEvent[]): ReturnType<AuditStore["append"]> {
    if (this.failures === 0 && events.length > 0) {
      this.failures++;
      throw new Error("SQLITE_FULL: database or disk is full");
    }
    return super.append(events);
  }
}

/** A real projection whose disk refuses every write while `full`. */
class FullDiskStore extends AuditStore {
  full = true;
  override append(events: readonly IncomingEvent[]): ReturnType<AuditStore["append"]> {
    if (this.full && events.length > 0) throw new Error("SQLITE_FULL: database or disk is full");
    return super.append(events);
  }
}

const logger = createLogger("audit-test", { level: "silent" });
let server: NatsServerHandle;
let nats: NatsHandle;
let dir: string;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "projector-test" });
  await ensureEventsStream(nats);
  dir = mkdtempSync(join(tmpdir(), "sts-projector-"));
}, 30_000);

afterAll(async () => {
  await nats?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The jtis of the records `mine` picks out, in record order: other tests' events share the stream, only a test's own count. */
const jtisIn = (store: AuditStore, mine: (jti: string) => boolean): string[] =>
  store
    .query({}, 0, 1000)
    .map((r) => r.jti)
    .filter(mine);

describe("Projector", () => {
  it("survives a failed commit: the batch is held, committed when the disk allows and recorded once", async () => {
    const events = new EventPublisher(nats, { source: "test", logger });
    for (let i = 0; i < 3; i++) await events.publish(EVENT_TYPES.TOKEN_ISSUED, { jti: `j${i}`, sub: "s", client_id: "c" });
    const store = new FailingOnceStore(join(dir, "audit.db"));
    const projector = new Projector(nats, store, "projector-test", logger);
    try {
      const mine = (): string[] => jtisIn(store, (jti) => /^j\d$/.test(jti));
      await waitFor(() => mine().length === 3, { timeoutMs: 15_000, message: "the failed batch was never recorded" });
      expect(store.failures).toBe(1);
      expect(mine()).toEqual(["j0", "j1", "j2"]);
    } finally {
      await projector.stop();
    }
  });

  it("records nothing published after a failed batch before that batch: the projection keeps the stream's order", async () => {
    const events = new EventPublisher(nats, { source: "test", logger });
    const later: Array<Promise<unknown>> = [];
    // The disk fails the first commit, and the stack goes on publishing while it is full.
    class FailingThenPublishing extends FailingOnceStore {
      override append(batch: readonly IncomingEvent[]): ReturnType<AuditStore["append"]> {
        if (this.failures === 0 && batch.length > 0) {
          later.push(
            (async () => {
              for (const jti of ["order1", "order2"]) await events.publish(EVENT_TYPES.TOKEN_ISSUED, { jti, sub: "s", client_id: "c" });
            })(),
          );
        }
        return super.append(batch);
      }
    }
    await events.publish(EVENT_TYPES.TOKEN_ISSUED, { jti: "order0", sub: "s", client_id: "c" });
    const store = new FailingThenPublishing(join(dir, "ordered.db"));
    const projector = new Projector(nats, store, "ordered-test", logger);
    try {
      const mine = (): string[] => jtisIn(store, (jti) => jti.startsWith("order"));
      await waitFor(() => mine().length === 3, { timeoutMs: 15_000, message: "events were not recorded" });
      await Promise.all(later);
      expect(store.failures).toBe(1);
      expect(mine()).toEqual(["order0", "order1", "order2"]);
      const sequences = store.query({}, 0, 1000).map((r) => r.stream_sequence);
      expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
    } finally {
      await projector.stop();
    }
  });

  it("starts from what the projection holds, in order, when an earlier session left events delivered and never committed", async () => {
    const events = new EventPublisher(nats, { source: "test", logger });
    const store = new AuditStore(join(dir, "undelivered.db"));
    const name = "undelivered-test";
    await events.publish(EVENT_TYPES.TOKEN_ISSUED, { jti: "taken0", sub: "s", client_id: "c" });
    // An earlier session took taken0 from the durable consumer and stopped before committing it.
    const start = (await nats.jsm.streams.info(EVENTS_STREAM.name)).state.last_seq;
    await nats.jsm.consumers.add(EVENTS_STREAM.name, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      ack_wait: 30_000_000_000,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
    });
    const taken = await (await nats.js.consumers.get(EVENTS_STREAM.name, name)).next({ expires: 5_000 });
    expect(taken?.seq).toBe(start);
    store.readStream((await nats.jsm.streams.info(EVENTS_STREAM.name)).created, false);
    store.append([
      { streamSequence: start - 1, id: "before-taken", type: EVENT_TYPES.TOKEN_ISSUED, time: new Date().toISOString(), source: "test", data: { jti: "held" } },
    ]);
    for (const jti of ["taken1", "taken2"]) await events.publish(EVENT_TYPES.TOKEN_ISSUED, { jti, sub: "s", client_id: "c" });
    const projector = new Projector(nats, store, name, logger);
    try {
      const mine = (): string[] => jtisIn(store, (jti) => jti.startsWith("taken"));
      await waitFor(() => mine().length === 3, { timeoutMs: 15_000, message: "the event delivered to the earlier session was not recorded" });
      expect(mine()).toEqual(["taken0", "taken1", "taken2"]);
    } finally {
      await projector.stop();
    }
  });

  it("reports itself stalled while events wait and nothing commits, and keeping up again once a commit succeeds", async () => {
    const events = new EventPublisher(nats, { source: "test", logger });
    await events.publish(EVENT_TYPES.TOKEN_ISSUED, { jti: "stall-1", sub: "s", client_id: "c" });
    const store = new FullDiskStore(join(dir, "stalled.db"));
    const changes: boolean[] = [];
    const projector = new Projector(nats, store, "stalled-test", logger, {
      maxLagMs: 500,
      probeIntervalMs: 100,
      onStalledChange: (stalled) => changes.push(stalled),
    });
    try {
      await waitFor(() => projector.stalled, { timeoutMs: 15_000, message: "a projection that commits nothing was never reported stalled" });
      expect(changes).toEqual([true]);
      store.full = false;
      await waitFor(() => store.query({}, 0, 1000).some((r) => r.jti === "stall-1"), { timeoutMs: 15_000, message: "the waiting event was never recorded" });
      await waitFor(() => !projector.stalled, { timeoutMs: 15_000, message: "still stalled after a commit" });
      expect(changes).toEqual([true, false]);
    } finally {
      await projector.stop();
    }
  });

  it("stores audit.accessed like any event: the auditor in sub, client_id and jti, found by type", async () => {
    const events = new EventPublisher(nats, { source: "sts/audit", logger });
    const data = { rpc: "Query", credential: "access_token", sub: "alice", client_id: "auditor-alice", jti: "j-alice", peer: "p", filter: { sub: "bob" } };
    await events.publish(EVENT_TYPES.AUDIT_ACCESSED, data);
    const store = new AuditStore(join(dir, "accessed.db"));
    const projector = new Projector(nats, store, "accessed-test", logger);
    try {
      const found = await waitFor(() => store.query({ type: "audit.accessed" }, 0, 10)[0], { timeoutMs: 15_000, message: "audit.accessed was not stored" });
      expect([found.sub, found.client_id, found.jti, found.aud]).toEqual(["alice", "auditor-alice", "j-alice", []]);
      expect(JSON.parse(found.data_json)).toEqual(data);
      // The subject it read about is in its filter, not in its columns: a Query for bob's records does not return it.
      expect(store.query({ sub: "bob" }, 0, 10)).toEqual([]);
      expect(store.query({ client_id: "auditor-alice", type: "audit.accessed" }, 0, 10)).toHaveLength(1);
    } finally {
      await projector.stop();
    }
  });

  /** Publishes a token.issued event for each jti, in order. */
  async function issue(jtis: readonly string[]): Promise<void> {
    const events = new EventPublisher(nats, { source: "test", logger });
    for (const jti of jtis) await events.publish(EVENT_TYPES.TOKEN_ISSUED, { jti, sub: "s", client_id: "c" });
  }

  /** Deletes the events stream, and with it every durable consumer, and makes it again: its sequence restarts at 1. */
  async function recreateStream(): Promise<void> {
    await nats.jsm.streams.delete(EVENTS_STREAM.name);
    await ensureEventsStream(nats);
  }

  /** Projects `jtis` into `store` through a first projector of `consumer`, stops it, and makes the stream again. */
  async function projectThenRecreate(store: AuditStore, consumer: string, jtis: readonly string[]): Promise<void> {
    const first = new Projector(nats, store, consumer, logger);
    try {
      await issue(jtis);
      await waitFor(() => store.query({}, 0, 1000).some((r) => r.jti === jtis.at(-1)), { timeoutMs: 15_000, message: "the first events were not recorded" });
    } finally {
      await first.stop();
    }
    await recreateStream();
  }

  it("reads a recreated events stream from its start, though its numbers restart below the projection's", async () => {
    const store = new AuditStore(join(dir, "recreated.db"));
    await projectThenRecreate(store, "recreated-test", ["old0", "old1", "old2", "old3", "old4"]);
    const held = store.size;
    await issue(["new0", "new1"]);
    const second = new Projector(nats, store, "recreated-test", logger);
    try {
      await waitFor(() => store.size === held + 2, { timeoutMs: 15_000, message: "events of the recreated stream were skipped" });
      expect(
        store
          .query({}, 0, 100)
          .slice(-2)
          .map((r) => r.jti),
      ).toEqual(["new0", "new1"]);
    } finally {
      await second.stop();
    }
  });

  it("reads a recreated events stream from its start though its numbers have caught up with the projection's (it knows the stream by its creation time)", async () => {
    const store = new AuditStore(join(dir, "recreated-caught-up.db"));
    await projectThenRecreate(store, "recreated-caught-up-test", ["before0", "before1", "before2"]);
    // NATS lost its store and the stack published on before the audit service came back: the new stream's numbers
    // reach past where the projection stood, so nothing in them gives the recreation away.
    const again = Array.from({ length: store.lastStreamSequence + 2 }, (_, i) => `again${i}`);
    await issue(again);
    const second = new Projector(nats, store, "recreated-caught-up-test", logger);
    try {
      const recorded = (): string[] => jtisIn(store, (jti) => jti.startsWith("again"));
      await waitFor(() => recorded().length === again.length, { timeoutMs: 15_000, message: "the first events of the recreated stream were skipped" });
      expect(recorded()).toEqual(again);
      expect(store.lastStreamSequence).toBe(again.length);
    } finally {
      await second.stop();
    }
  });

  it("reads a recreated events stream from its start for a projection that never recorded which stream it read, when the numbers restart below its own", async () => {
    // A projection from before the stream's identity was kept: records only, as far along as stream sequence 1000.
    const store = new AuditStore(join(dir, "unknown-stream.db"));
    store.append([
      { streamSequence: 1000, id: "held-1000", type: EVENT_TYPES.TOKEN_ISSUED, time: new Date().toISOString(), source: "test", data: { jti: "held" } },
    ]);
    expect(store.streamCreated).toBeUndefined();
    await recreateStream();
    await issue(["renumbered0", "renumbered1"]);
    const projector = new Projector(nats, store, "unknown-stream-test", logger);
    try {
      await waitFor(() => store.size === 3, { timeoutMs: 15_000, message: "events of the recreated stream were skipped" });
      expect(store.query({}, 0, 10).map((r) => r.jti)).toEqual(["held", "renumbered0", "renumbered1"]);
      expect(store.streamCreated).toBe((await nats.jsm.streams.info(EVENTS_STREAM.name)).created);
    } finally {
      await projector.stop();
    }
  });
});
