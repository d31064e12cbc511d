/**
 * What counts as an event stored: only an acknowledgement from the events stream itself. On a real nats-server, with
 * the events stream absent (NATS lost its store, or an operator removed it) and something else answering on the
 * event's subject, a publish must fail closed instead of letting the caller hand out what the event records.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNats } from "@sts/testkit";
import type { NatsServerHandle } from "@sts/testkit";
import { EVENTS_STREAM, EventPublisher, connectNats, ensureEventsStream } from "./index.js";
import type { NatsHandle } from "./index.js";

let server: NatsServerHandle;
let nats: NatsHandle;
let other: NatsHandle;

beforeAll(async () => {
  server = await startNats();
  nats = await connectNats({ servers: server.url, name: "publisher" });
  other = await connectNats({ servers: server.url, name: "bystander" });
}, 30_000);

afterAll(async () => {
  await Promise.all([nats?.close(), other?.close()]);
  await server?.stop();
});

afterEach(async () => {
  for await (const name of nats.jsm.streams.names()) await nats.jsm.streams.delete(name);
});

const publisher = (): EventPublisher => new EventPublisher(nats, { source: "test", timeoutMs: 300, retryWindowMs: 600 });

describe("EventPublisher acknowledgements", () => {
  it("fails closed when a core NATS subscriber, not the events stream, answers the publish, and does not ask again", async () => {
    const reply = new TextEncoder().encode("{}");
    let asked = 0;
    const sub = other.nc.subscribe("sts.events.>", {
      callback: (_err, msg) => {
        asked++;
        msg.respond(reply);
      },
    });
    await other.nc.flush();
    try {
      await expect(publisher().publish("token.issued", { jti: "answered-by-a-subscriber" })).rejects.toMatchObject({
        code: "temporarily_unavailable",
      });
      // The same subscriber would answer every retry the same way: one attempt, not one per backoff step of the window.
      expect(asked).toBe(1);
    } finally {
      sub.unsubscribe();
    }
  });

  it("fails closed when the answer names another stream, or no sequence of the events stream", async () => {
    const noSequence = new TextEncoder().encode(JSON.stringify({ stream: EVENTS_STREAM.name, seq: 0 }));
    const anotherStream = new TextEncoder().encode(JSON.stringify({ stream: "ARCHIVE", seq: 7 }));
    for (const answer of [noSequence, anotherStream]) {
      const sub = other.nc.subscribe("sts.events.>", {
        callback: (_err, msg) => {
          msg.respond(answer);
        },
      });
      await other.nc.flush();
      try {
        await expect(publisher().publish("token.issued", { jti: "forged-ack" })).rejects.toMatchObject({ code: "temporarily_unavailable" });
      } finally {
        sub.unsubscribe();
      }
    }
  });

  it("stores nothing in another stream that captures the event subjects, and fails closed", async () => {
    // A catch-all stream an operator made while the events stream was gone: the audit service never reads it.
    await nats.jsm.streams.add({ name: "ARCHIVE", subjects: ["sts.>"] });
    // A bystander sees every attempt (it does not answer): the server would refuse each retry the same way.
    let attempts = 0;
    const watch = other.nc.subscribe("sts.events.>", { callback: () => void attempts++ });
    await other.nc.flush();
    try {
      await expect(publisher().publish("token.issued", { jti: "misfiled" })).rejects.toMatchObject({ code: "temporarily_unavailable" });
      expect((await nats.jsm.streams.info("ARCHIVE")).state.messages).toBe(0);
      await other.nc.flush();
      expect(attempts).toBe(1);
    } finally {
      watch.unsubscribe();
    }
  });

  it("still takes the events stream's own acknowledgement, and its duplicate of a retried id", async () => {
    await ensureEventsStream(nats);
    const first = await publisher().publish("token.issued", { jti: "stored" }, { id: "ack-test-1" });
    const again = await publisher().publish("token.issued", { jti: "stored" }, { id: "ack-test-1" });
    expect(first).toEqual({ id: "ack-test-1", seq: 1, duplicate: false });
    expect(again).toEqual({ id: "ack-test-1", seq: 1, duplicate: true });
  });
});
