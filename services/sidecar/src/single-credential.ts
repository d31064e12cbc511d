/**
 * One Authorization field per request, on every listener. Its grammar is a single `credentials` (RFC 9110 §11.6.2),
 * not a list, so a message with two field lines is malformed (§5.3), and RFC 6750 §3.1 answers a request that repeats
 * its credential, or sends it more than one way, with `invalid_request`. Node keeps the first of two Authorization
 * fields and drops the second, over HTTP/1.1 and HTTP/2 alike, while a proxy in front, or a framework that joins
 * repeated fields, may act on the other: the sidecar would verify (or exchange) one token while something else on
 * the path judged another. The gateway refuses such a request too.
 */
import { MisplacedToken } from "@sts/mesh";

/** A request that carries more than one Authorization field: RFC 6750 §3.1 `invalid_request`, 400 (gRPC INVALID_ARGUMENT). */
export class RepeatedAuthorization extends MisplacedToken {
  constructor() {
    super("send exactly one Authorization field (RFC 6750 section 3.1)");
  }
}

/** Throws {@link RepeatedAuthorization} when `rawHeaders` (name, value, name, value, … as received) holds two Authorization fields. */
export function refuseRepeatedAuthorization(rawHeaders: readonly string[]): void {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === "authorization" && ++seen > 1) throw new RepeatedAuthorization();
  }
}
