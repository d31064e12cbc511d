/** `stsctl audit tail`: follows the audit API's Tail until interrupted, opening it again where it left off when the service ends it. */
import { status } from "@grpc/grpc-js";
import type { Metadata, ServiceError, StatusObject } from "@grpc/grpc-js";
import type { AuditRecord__Output, AuditServiceClient } from "@sts/proto";
import { TAIL_AFTER_HEADER, sequenceText } from "./tail-position.js";

/** Pause before a Tail that ended (or could not be opened again) is opened again. */
export const TAIL_REOPEN_MS = 1_000;

/** What a Tail follows. */
export interface TailArgs {
  filter: { sub?: string; client_id?: string; audience?: string; type?: string; since?: string; until?: string };
  /** The sequence it starts after (a uint64 as text); absent: new records only. */
  fromSeq?: string;
}

/** Where a Tail's lines go: records on `print`, what happens to the stream (opened, ended, opened again) on `note` (stderr). */
export interface TailOutput {
  print: (r: AuditRecord__Output) => void;
  note: (line: string) => void;
}

/**
 * Follows a Tail until SIGINT (or `interrupt`, aborted), resolving 0 then; rejects with the ServiceError of a Tail the
 * service refused. Once the service has taken a Tail of this run, a stream ended UNAVAILABLE or CANCELLED by anyone
 * else (the service stopping or restarting, a TLS connection's age, a proxy) is opened again after the last record
 * printed, or after where the service said the first stream started when none was: records made in between are
 * printed, not skipped. A service that is down meanwhile is tried again each second. A CANCELLED is the end only when
 * this run cancelled the call: otherwise a restarting service would end the command as if it had been asked to stop.
 */
export function followTail(client: AuditServiceClient, a: TailArgs, metadata: () => Metadata, output: TailOutput, interrupt?: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let after = a.fromSeq ?? "0";
    /** A stream of this run was taken by the service: the auditor may read, and ends are the service's, not refusals. */
    let everTaken = false;
    let stopped = false;
    let stream: ReturnType<AuditServiceClient["Tail"]> | undefined;
    let reopen: NodeJS.Timeout | undefined;
    const stop = (): void => {
      stopped = true;
      clearTimeout(reopen);
      if (stream) stream.cancel();
      else settle(() => resolve(0));
    };
    const settle = (end: () => void): void => {
      process.off("SIGINT", stop);
      interrupt?.removeEventListener("abort", stop);
      end();
    };
    const open = (): void => {
      reopen = undefined;
      // Only a stream the service took is opened again: one refused at once (a wrong address, a service that is down,
      // a credential refused) fails as any call does. The service sends its headers once it took the Tail; one that
      // sends none (an older service) counts once it lasted, or once it sent a record.
      let taken = false;
      const take = (): void => {
        taken = true;
        everTaken = true;
      };
      const lasted = setTimeout(take, TAIL_REOPEN_MS * 5).unref();
      const current = client.Tail({ filter: a.filter, after_sequence: after }, metadata());
      stream = current;
      current.on("metadata", (headers: Metadata) => {
        take();
        const start = headers.get(TAIL_AFTER_HEADER)[0];
        const known = typeof start === "string" ? sequenceText(start) : undefined;
        // Asked for new records only: from here on it is "after the service's start", which a reopen must keep.
        if (after === "0" && known !== undefined) after = known;
        output.note(`stsctl: following records after #${after}`);
      });
      current.on("data", (r: AuditRecord__Output) => {
        take();
        after = r.sequence;
        output.print(r);
      });
      const ended = (code: number, details: string, err?: ServiceError): void => {
        clearTimeout(lasted);
        stream = undefined;
        if (stopped) return settle(() => resolve(0));
        const service = code === Number(status.UNAVAILABLE) || code === Number(status.CANCELLED) || code === Number(status.OK);
        if (!service || !everTaken) return settle(() => reject(err ?? Object.assign(new Error(details), { code, details })));
        if (taken) output.note(`stsctl: the Tail ended (${details || status[code]}); opening it again after #${after}`);
        reopen = setTimeout(open, TAIL_REOPEN_MS);
      };
      current.on("error", (err: ServiceError) => ended(Number(err.code), err.details, err));
      // An OK end says no error: the service closed a stream that has no end of its own.
      current.on("status", (s: StatusObject) => {
        if (Number(s.code) === Number(status.OK)) ended(Number(s.code), s.details);
      });
    };
    process.on("SIGINT", stop);
    interrupt?.addEventListener("abort", stop);
    open();
  });
}
