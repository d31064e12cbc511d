/**
 * Refusals that HTTP itself gives a status the OAuth error table has none for, still with the RFC 6749 §5.2 body: a
 * request body in a content coding the gateway does not undo (RFC 9110 §15.5.16: 415 Unsupported Media Type).
 */
import type { IncomingMessage } from "node:http";
import { OAuthError } from "@sts/errors";

/** The content codings a request body may come in: none but the body as it is (RFC 9110 §8.4.1, §12.5.3). */
export const ACCEPTED_CODINGS = "identity";

/** An `invalid_request` answered with an HTTP status of its own and the header fields that go with it (respond.ts sendError sends both). */
export class HttpRefusal extends OAuthError {
  readonly #status: number;
  /** Header fields the answer carries besides the error's own. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, description: string, headers: Record<string, string> = {}) {
    super("invalid_request", description);
    this.#status = status;
    this.headers = headers;
  }

  override get status(): number {
    return this.#status;
  }
}

/**
 * Refuses a request whose body is in a content coding (`Content-Encoding: gzip`, …), before any of it is read: read as
 * it is, a compressed form would be refused as not UTF-8, or worse taken for parameters it never held. The answer is
 * 415 naming what is accepted (RFC 9110 §12.5.3: a server refusing a coding ought to say so in `Accept-Encoding`).
 * `identity`, which changes nothing, is taken.
 */
export function refuseContentCoding(req: IncomingMessage): void {
  const field = req.headers["content-encoding"];
  // Nearly every request has none: nothing is split for it on the token path.
  if (field === undefined) return;
  // A list field: Node joins the values of a repeated one with commas.
  const coded = field
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .some((coding) => coding !== "" && coding !== ACCEPTED_CODINGS);
  if (coded) throw new HttpRefusal(415, "content codings are not supported: send the body as it is", { "accept-encoding": ACCEPTED_CODINGS });
}
