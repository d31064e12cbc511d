/**
 * Header fields the gateway acts on that HTTP allows once only. Node keeps the first of a repeated `Authorization` or
 * `Content-Type` and drops the rest without a word, while a proxy or WAF in front may act on the last: two
 * credentials (RFC 6749 §2.3: one authentication method per request; RFC 6750 §3.1: one way of sending the token), or
 * a body read as one media type here and checked as another there. Such a request is malformed (RFC 9110 §5.3) and
 * refused.
 */
import type { IncomingMessage } from "node:http";
import { invalidRequest } from "@sts/errors";

/** The singleton fields the endpoints read. */
const SINGLETONS = ["authorization", "content-type"] as const;

/** Throws invalid_request when a singleton field the gateway reads came more than once. */
export function refuseRepeatedHeaders(req: IncomingMessage): void {
  for (const name of SINGLETONS) {
    if ((req.headersDistinct[name]?.length ?? 0) > 1) throw invalidRequest(`the ${name} header is repeated`);
  }
}
