/**
 * Where a Tail starts, told to its caller. A Tail asked for new records only (`after_sequence` 0) starts after the
 * records the projection holds when it opens, a number its caller does not otherwise learn until a record matches its
 * filter. A caller whose stream ends before that (the service restarting, a TLS connection's age) and opens it again
 * "from now" would skip every record made in between: the very events a filtered Tail waits for. So the service sends
 * the sequence the Tail starts after in the stream's header metadata, and the caller resumes from there.
 */

/** Header metadata of a Tail: the projection sequence it starts after, in decimal. */
export const TAIL_AFTER_HEADER = "sts-tail-after";

/** Largest sequence the API's uint64 takes. */
const MAX_SEQUENCE = 2n ** 64n - 1n;

/** `text` when it is a record sequence as the API's uint64 takes it (plain decimal digits, 0 to 2^64 - 1), else undefined. */
export function sequenceText(text: string): string | undefined {
  return /^[0-9]{1,20}$/.test(text) && BigInt(text) <= MAX_SEQUENCE ? BigInt(text).toString() : undefined;
}
