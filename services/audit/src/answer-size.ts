/**
 * How large an audit API answer may grow. gRPC clients refuse a message over 4 MiB unless told otherwise (grpc-js,
 * grpc-go and grpc-java alike: RESOURCE_EXHAUSTED, "Received message larger than max"), stsctl among them. A page of
 * 1,000 records, or a lineage of 10,000 ancestors, easily passes that (a refresh rotation's record is 1 to 2 KiB), and
 * an answer the client cannot take is no answer: the auditor could not read past it. So answers stop at a byte bound
 * below it and say there is more, as they do for their record-count bounds.
 */
import type { AuditRecord as WireRecord } from "@sts/proto";

/** Most bytes of records one answer holds: 3 MiB, under the 4 MiB a gRPC client takes by default, with room to spare. */
export const MAX_ANSWER_BYTES = 3 * 1024 * 1024;

/** Bytes of a varint holding `n`. */
const varintBytes = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

/** A length-delimited field holding `n` bytes: a tag (2 bytes covers field numbers up to 2047) and the length. */
const delimited = (n: number): number => 2 + varintBytes(n) + n;

/**
 * An upper bound on the protobuf size of a record inside an answer (its own tag and length included): each string's
 * UTF-8 bytes with its tag and length, each uint64 at its widest. Proto3 leaves empty strings out; it counts them as
 * nothing too.
 */
export function wireBytes(r: WireRecord): number {
  let body = 0;
  for (const [name, value] of Object.entries(r)) {
    if (name === "sequence" || name === "stream_sequence") body += 2 + 10;
    else if (typeof value === "string") body += value === "" ? 0 : delimited(Buffer.byteLength(value));
    else if (Array.isArray(value)) for (const item of value as unknown[]) body += delimited(typeof item === "string" ? Buffer.byteLength(item) : 0);
  }
  return delimited(body);
}
