/**
 * Limits of the stack's listeners that follow from its configuration, so that
 * a setting raised in one place is not refused by a fixed limit in another.
 */

/** Node's own default, kept as the floor and as the default of a listener started without the config: ordinary requests never need less. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

/** Room beside the token for every other header of an ordinary request. */
const OTHER_HEADER_BYTES = 8 * 1024;

/**
 * Bytes of request headers an HTTP/1.1 listener accepts: one bearer token of up to `tokens.max_token_bytes` (which
 * the issuer mints and every verifier accepts) plus ordinary headers. With a fixed 16 KiB, a token the stack made
 * under a raised `max_token_bytes` was answered 431 at UserInfo and at every sidecar.
 */
export function maxHeaderBytesFor(maxTokenBytes: number): number {
  return Math.max(DEFAULT_MAX_HEADER_BYTES, maxTokenBytes + OTHER_HEADER_BYTES);
}

/**
 * The largest request body a request may need with tokens of up to `maxTokenBytes`: a token exchange carries a
 * subject token, an actor token and a client assertion, each up to that size (JWTs need no percent-encoding), plus a
 * few KiB of other parameters. A fixed limit refused valid exchanges at the default size. The gateway takes bodies up
 * to this, and the services it forwards them to must take what it sends (`receiveBytesFor` of @sts/grpc).
 */
export function maxBodyBytesFor(maxTokenBytes: number): number {
  return 3 * maxTokenBytes + 4096;
}
