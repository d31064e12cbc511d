/**
 * Audit: ingest rate into the projection (events published straight to the
 * stream, as fast as JetStream takes them) and the lag from issuance to
 * queryable under a steady issuance rate (tokens from the issuer over gRPC,
 * records seen through Tail; the clock starts when the request is sent).
 */
import { randomUUID } from "node:crypto";
import { Metadata, credentials } from "@grpc/grpc-js";
import { connectNats, EVENTS_STREAM } from "@sts/nats";
import { loadAuditProto, loadTokenProto } from "@sts/proto";
import type { AuditRecord__Output, QueryResponse__Output, TokenResponse, VerifyResponse__Output } from "@sts/proto";
import { basicAuth, claimsOf, startStack } from "../harness.js";
import { peakRssMiB, percentile } from "./load.js";

const SECRET = "bench-secret-000000000001";
/** How long the ingest run may take to make every event queryable before the benchmark gives up. */
const INGEST_DEADLINE_MS = 120_000;

/** Runs the audit benchmark and prints its figures. */
export async function benchAudit(duration: number): Promise<void> {
  const stack = await startStack(
    { clients: [{ client_id: "bench", client_secret: SECRET, scope: ["read"], audience: ["api-1"] }] },
    { services: ["issuer", "audit"] },
  );
  const audit = new (loadAuditProto().sts.audit.v1.AuditService)(stack.address.audit, credentials.createInsecure());
  const unary = <T>(method: string, req: object): Promise<T> =>
    new Promise((resolve, reject) =>
      (audit as unknown as Record<string, (r: object, m: Metadata, cb: (e: Error | null, v?: T) => void) => void>)[method]?.call(
        audit,
        req,
        new Metadata(),
        (e, v) => (e ? reject(e) : resolve(v as T)),
      ),
    );
  try {
    // 1. Ingest: N events into the stream, then time until the N-th is queryable.
    const nats = await connectNats({ servers: stack.nats.url, name: "bench" });
    const base = Number((await unary<VerifyResponse__Output>("Verify", {})).checked);
    const n = 20_000;
    const t0 = performance.now();
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      const event = {
        specversion: "1.0",
        id,
        source: "bench",
        type: "token.issued",
        time: new Date().toISOString(),
        datacontenttype: "application/json",
        data: { jti: id, sub: "bench", client_id: "bench", aud: ["api-1"], scope: "read" },
      };
      pending.push(nats.js.publish("sts.events.token.issued", JSON.stringify(event), { msgID: id }));
      if (pending.length >= 1000) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    const published = performance.now();
    const cursor = Buffer.from(String(base + n - 1)).toString("base64url");
    // A projection that stopped ingesting would otherwise hold the run forever.
    const ingestDeadline = performance.now() + INGEST_DEADLINE_MS;
    for (;;) {
      const r = await unary<QueryResponse__Output>("Query", { filter: {}, page_size: 1, page_token: cursor });
      if (r.records.length > 0) break;
      if (performance.now() > ingestDeadline) throw new Error(`audit ingest: the ${n}th event was not queryable within ${INGEST_DEADLINE_MS / 1000} s`);
      await new Promise((r2) => setTimeout(r2, 20));
    }
    const done = performance.now();
    await nats.close();
    console.log(
      `\naudit ingest: ${n} events published in ${((published - t0) / 1000).toFixed(2)} s; all queryable after ${((done - t0) / 1000).toFixed(2)} s → ${(n / ((done - t0) / 1000)).toFixed(0)} events/s into the projection (stream ${EVENTS_STREAM.name})`,
    );

    // 2. Lag at steady issuance rates.
    const token = new (loadTokenProto().sts.token.v1.TokenService)(stack.address.issuer, credentials.createInsecure());
    const request = { grant_type: "client_credentials", scope: "read", client: { authorization: basicAuth("bench", SECRET) } };
    for (const rate of [500, 1000, 2000]) {
      /** When the Token request of each issued token was sent, by jti: the lag is request sent → visible in Tail. */
      const sentAt = new Map<string, number>();
      const seenAt = new Map<string, number>();
      const tail = audit.Tail({ filter: { type: "token.issued", client_id: "bench" }, after_sequence: "0" });
      tail.on("data", (r: AuditRecord__Output) => seenAt.set(r.jti, performance.now()));
      tail.on("error", () => undefined);
      await new Promise((r) => setTimeout(r, 200));
      let sent = 0;
      let failed = 0;
      const start = performance.now();
      const inflight = new Set<Promise<void>>();
      while (performance.now() - start < duration * 1000) {
        const due = Math.floor(((performance.now() - start) / 1000) * rate);
        while (sent < due && inflight.size < 256) {
          sent++;
          const p = new Promise<void>((resolve) => {
            // Before the call: the record may be visible in Tail before the client has its answer.
            const sent = performance.now();
            token.Token(request, new Metadata(), (err: Error | null, res?: TokenResponse) => {
              if (err || !res?.access_token) failed++;
              else sentAt.set(claimsOf(res.access_token).jti as string, sent);
              resolve();
            });
          });
          inflight.add(p);
          void p.then(() => inflight.delete(p));
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(inflight);
      const elapsed = (performance.now() - start) / 1000;
      const deadline = performance.now() + 5000;
      const seenAll = (): boolean => [...sentAt.keys()].every((j) => seenAt.has(j));
      while (!seenAll() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      tail.cancel();
      // Not clamped: the clock starts before the request is sent, so a negative lag would be a bug to see, not hide.
      const lags = [...sentAt].filter(([j]) => seenAt.has(j)).map(([j, at]) => (seenAt.get(j) as number) - at);
      lags.sort((a, b) => a - b);
      console.log(
        `audit lag at ${rate}/s target: achieved ${(sentAt.size / elapsed).toFixed(0)} issuances/s (${failed} failed), request sent → visible in Tail p50 ${percentile(lags, 50).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms, seen ${lags.length}/${sentAt.size}`,
      );
    }
    token.close();
    console.log(`  peak RSS: audit ${(await peakRssMiB(stack.processes.audit?.pid ?? 0)).toFixed(0)} MiB`);
  } finally {
    audit.close();
    await stack.stop();
  }
}
