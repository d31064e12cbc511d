/**
 * `stsctl audit tail` across streams the service ends: a CANCELLED it did not ask for is not its end, and a Tail
 * that printed nothing yet resumes after where the service said it started, not "from now" again. Against a real
 * gRPC server on loopback playing the audit API's Tail.
 */
import { describe, expect, it } from "vitest";
import { Metadata, Server, ServerCredentials, credentials, status } from "@grpc/grpc-js";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { loadAuditProto } from "@sts/proto";
import type { AuditRecord__Output, TailRequest__Output } from "@sts/proto";
import { runAudit } from "./cli-audit.js";
import { freePort, waitFor } from "@sts/testkit";
import { TAIL_AFTER_HEADER } from "./tail-position.js";

type TailCall = ServerWritableStream<TailRequest__Output, AuditRecord__Output>;

/** A record as the service sends it. */
const rec = (n: number): AuditRecord__Output =>
  ({
    sequence: String(n),
    time: "2026-11-24T10:00:00.000Z",
    type: "token.issued",
    sub: "alice",
    client_id: "vo-1",
    aud: [],
    scope: "",
    actors: [],
    jti: `j${n}`,
    parent_jti: "",
    data_json: "{}",
  }) as unknown as AuditRecord__Output;

/** What a test's body gets: the port of the stand-in Tail, each stream's `after_sequence` as asked, and stsctl's stop. */
interface TailStage {
  port: number;
  asked: string[];
  stop: AbortController;
}

/**
 * Serves the audit API's Tail on a free loopback port, playing `scripts[i]` on the i-th stream opened (the last script
 * for any after), for the test's body.
 */
async function withTailServer(scripts: Array<(call: TailCall) => void>, body: (stage: TailStage) => Promise<void>): Promise<void> {
  const asked: string[] = [];
  const server = new Server();
  server.addService(loadAuditProto().sts.audit.v1.AuditService.service, {
    Tail: (call: TailCall) => {
      asked.push(call.request.after_sequence);
      (scripts[Math.min(asked.length, scripts.length) - 1] as (c: TailCall) => void)(call);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  try {
    await body({ port, asked, stop: new AbortController() });
  } finally {
    server.forceShutdown();
  }
}

/** Headers of a Tail that starts after record `n`, as the audit service sends them once it took the Tail. */
const startsAfter = (n: number): Metadata => {
  const m = new Metadata();
  m.set(TAIL_AFTER_HEADER, String(n));
  return m;
};

/** Runs `stsctl audit tail` against `port` until `stop` aborts, collecting what it printed and noted. */
async function tail(port: number, stop: AbortController, lines: string[], notes: string[] = []): Promise<number> {
  const out = (l: string): void => void lines.push(l);
  return runAudit(
    "tail",
    undefined,
    { json: false, filter: {} },
    `127.0.0.1:${port}`,
    credentials.createInsecure(),
    () => new Metadata(),
    out,
    (l) => void notes.push(l),
    stop.signal,
  );
}

/** Ends `call` with `code` shortly after what it was sent, as the service (or a connection's age) does. */
const endLater = (call: TailCall, code: status, details: string): void => void setTimeout(() => call.emit("error", { code, details }), 50);

/** The sequences of the records printed. */
const printed = (lines: string[]): string[] => lines.map((l) => l.split(" ")[0] as string);

describe("stsctl audit tail, when the service ends its stream", () => {
  it("opens it again after a CANCELLED it did not ask for (a service cut at its stop), instead of exiting 0 as if interrupted", async () => {
    await withTailServer(
      [
        (call) => {
          call.sendMetadata(startsAfter(4));
          call.write(rec(5));
          endLater(call, status.CANCELLED, "Call cancelled");
        },
        (call) => {
          call.sendMetadata(startsAfter(4));
          call.write(rec(6));
        },
      ],
      async ({ port, asked, stop }) => {
        const lines: string[] = [];
        let exited: number | undefined;
        const running = tail(port, stop, lines).then((code) => (exited = code));
        await waitFor(() => lines.length >= 2 || exited !== undefined, { message: "the Tail was never opened again" });
        // Ends only when interrupted: the second record came through a second stream.
        expect(exited).toBeUndefined();
        stop.abort();
        expect(await running).toBe(0);
        expect(asked).toEqual(["0", "5"]);
        expect(printed(lines)).toEqual(["#5", "#6"]);
      },
    );
  });

  it("resumes after the sequence the service said the Tail started after, when it printed nothing yet (records made in between are not skipped)", async () => {
    await withTailServer(
      [
        (call) => {
          // Taken at record 41, nothing matched, then the service restarts.
          call.sendMetadata(startsAfter(41));
          endLater(call, status.UNAVAILABLE, "the audit service is stopping");
        },
        (call) => {
          call.sendMetadata(startsAfter(Number(call.request.after_sequence)));
          call.write(rec(42));
        },
      ],
      async ({ port, asked, stop }) => {
        const lines: string[] = [];
        const notes: string[] = [];
        const running = tail(port, stop, lines, notes);
        await waitFor(() => lines.length >= 1, { message: "the record made while the Tail was closed was never printed" });
        expect(asked).toEqual(["0", "41"]);
        stop.abort();
        expect(await running).toBe(0);
        expect(printed(lines)).toEqual(["#42"]);
        expect(notes).toEqual([
          "stsctl: following records after #41",
          "stsctl: the Tail ended (the audit service is stopping); opening it again after #41",
          "stsctl: following records after #41",
        ]);
      },
    );
  });

  it("still fails, as any call does, when a stream it opens again is refused (UNAUTHENTICATED: the token expired meanwhile)", async () => {
    await withTailServer(
      [
        (call) => {
          call.sendMetadata(startsAfter(3));
          endLater(call, status.UNAVAILABLE, "aged out");
        },
        (call) => call.emit("error", { code: status.UNAUTHENTICATED, details: "the token expired" }),
      ],
      async ({ port, asked, stop }) => {
        await expect(tail(port, stop, [])).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
        expect(asked).toEqual(["0", "3"]);
      },
    );
  });

  it("goes on after the last record it printed when its stream ends UNAVAILABLE (a TLS connection's age), and stops when interrupted", async () => {
    await withTailServer(
      [
        (call) => {
          call.write(rec(1));
          call.write(rec(2));
          endLater(call, status.UNAVAILABLE, "connection aged out");
        },
        (call) => call.write(rec(3)),
      ],
      async ({ port, asked, stop }) => {
        const lines: string[] = [];
        const running = tail(port, stop, lines);
        await waitFor(() => lines.length >= 3, { message: "the third record never came" });
        stop.abort();
        expect(await running).toBe(0);
        expect(asked).toEqual(["0", "2"]);
        expect(printed(lines)).toEqual(["#1", "#2", "#3"]);
      },
    );
  });

  it("fails, as any call does, when the service refuses it at once", async () => {
    const port = await freePort();
    await expect(tail(port, new AbortController(), [])).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });
});
