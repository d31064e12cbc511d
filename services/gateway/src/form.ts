/**
 * Reading an OAuth request body: application/x-www-form-urlencoded only,
 * size-capped before it is read, and refused when a parameter appears twice
 * (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more
 * than once"), except the repeatable `audience` and `resource` (RFC 8693,
 * RFC 8707), which take up to {@link MAX_REPEATED_VALUES} values each. A
 * parameter without a value counts as omitted (RFC 6749 §3.1), also in that
 * check. Unknown parameters are ignored, as RFC 6749 §3.2 requires.
 */
import type { IncomingMessage } from "node:http";
import { OAuthError, invalidRequest } from "@sts/errors";
import { refuseContentCoding } from "./http-errors.js";

/** Parameters that may repeat. */
export const REPEATABLE: ReadonlySet<string> = new Set(["audience", "resource"]);

/**
 * Most values one repeatable parameter takes. A form is read before any credential is checked, so what one request may
 * ask of it is bounded here; the issuer and the exchanger take 16 distinct audiences at most (MAX_AUDIENCES of
 * @sts/scopes), and this leaves room for a client that repeats one.
 */
export const MAX_REPEATED_VALUES = 64;

/** The parameters the endpoints read; a repeated one of these is named in the error. */
const NAMED_PARAMETERS = new Set([
  "grant_type",
  "scope",
  "client_id",
  "client_secret",
  "client_assertion",
  "client_assertion_type",
  "assertion",
  "refresh_token",
  "subject_token",
  "subject_token_type",
  "actor_token",
  "actor_token_type",
  "requested_token_type",
  "token",
  "token_type_hint",
]);

/** A parsed form: single values, plus the repeatable lists. */
export interface OAuthForm {
  get(name: string): string | undefined;
  all(name: "audience" | "resource"): string[];
}

/**
 * Reads the body up to maxBytes; refuses more without reading the rest. `accept` runs once the body is wanted and its
 * declared length fits: where the client waits for `100 Continue` (RFC 9110 §10.1.1), that is when it is sent, so a
 * request refused before (wrong method, too large, in a content coding, no credential) never has its body sent at all.
 */
export async function readBody(req: IncomingMessage, maxBytes: number, accept?: () => void): Promise<string> {
  refuseContentCoding(req);
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw new OAuthError("invalid_request", "request body too large");
  accept?.();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new OAuthError("invalid_request", "request body too large");
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    // Reading a request fails only when its connection went away (`aborted`, ECONNRESET).
    throw new ClientGone({ cause: err });
  }
  try {
    return STRICT_UTF8.decode(Buffer.concat(chunks));
  } catch {
    // Read leniently, the bytes that are not UTF-8 would become U+FFFD, and the request mean something it did not say.
    throw new OAuthError("invalid_request", "request body is not UTF-8");
  }
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The client closed the connection before its body was read: nobody to answer and nothing wrong here, so no error
 * is logged for it (anyone could fill the logs with them).
 */
export class ClientGone extends Error {
  constructor(options: { cause: unknown }) {
    super("the client closed the connection before its request body was read", options);
  }
}

/**
 * Refuses, before the body is read, a request whose media type is not a form or whose declared charset is not UTF-8
 * (RFC 6749 appendix B: the form is UTF-8; read in another charset, a secret or an id would come out as other bytes).
 */
export function checkFormType(contentType: string | undefined): void {
  const [type = "", ...parameters] = (contentType ?? "").split(";");
  if (type.trim().toLowerCase() !== "application/x-www-form-urlencoded") throw invalidRequest("body must be application/x-www-form-urlencoded");
  for (const parameter of parameters) {
    const [name = "", value = ""] = parameter.split("=", 2);
    if (name.trim().toLowerCase() !== "charset") continue;
    if (
      value
        .trim()
        .replace(/^"(.*)"$/, "$1")
        .toLowerCase() !== "utf-8"
    )
      throw invalidRequest("a form body must be UTF-8 (RFC 6749 appendix B)");
  }
}

/** Parses a form body (its media type checked by {@link checkFormType}). */
export function parseForm(body: string): OAuthForm {
  // URLSearchParams replaces bad percent-escapes, and escapes of bytes that are no UTF-8, silently; refuse them instead.
  try {
    decodeURIComponent(body);
  } catch {
    throw invalidRequest("malformed percent-encoding (or escaped bytes that are not UTF-8)");
  }
  const params = new URLSearchParams(body);
  const single = new Map<string, string>();
  const lists = new Map<string, string[]>();
  for (const [name, value] of params) {
    // RFC 6749 §3.1: a parameter sent without a value is treated as omitted, so it is no second value of its name either.
    if (value === "") continue;
    if (REPEATABLE.has(name)) {
      // Appended in place: a copy per value made a body of `audience=a&…` cost time quadratic in its size.
      const list = lists.get(name) ?? [];
      if (list.length === MAX_REPEATED_VALUES) throw invalidRequest(`parameter ${name} has too many values`);
      list.push(value);
      lists.set(name, list);
      continue;
    }
    // RFC 6749 §3.2: no parameter twice. Only a name of our own vocabulary is named back (descriptions never echo input).
    if (single.has(name)) throw invalidRequest(NAMED_PARAMETERS.has(name) ? `parameter ${name} is repeated` : "a parameter is repeated");
    single.set(name, value);
  }
  return {
    get: (name) => single.get(name),
    all: (name) => lists.get(name) ?? [],
  };
}
