/**
 * Reading an OAuth request body: application/x-www-form-urlencoded only,
 * size-capped before it is read, and refused when a parameter appears twice
 * (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more
 * than once"), except the repeatable `audience` and `resource` (RFC 8693,
 * RFC 8707). Unknown parameters are ignored, as RFC 6749 §3.2 requires.
 */
import type { IncomingMessage } from "node:http";
import { OAuthError, invalidRequest } from "@sts/errors";

/** Parameters that may repeat. */
export const REPEATABLE: ReadonlySet<string> = new Set(["audience", "resource"]);

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
 * request refused before (wrong method, too large, no credential) never has its body sent at all.
 */
export async function readBody(req: IncomingMessage, maxBytes: number, accept?: () => void): Promise<string> {
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
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The client closed the connection before its body was read: nobody to answer and nothing wrong here, so no error
 * is logged for it (anyone could fill the logs with them).
 */
export class ClientGone extends Error {
  constructor(options: { cause: unknown }) {
    super("the client closed the connection before its request body was read", options);
  }
}

/** Checks the media type and parses the form. */
export function parseForm(contentType: string | undefined, body: string): OAuthForm {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") throw invalidRequest("body must be application/x-www-form-urlencoded");
  // URLSearchParams replaces bad percent-escapes silently; refuse them instead.
  for (const m of body.matchAll(/%(..)?/g)) {
    if (!m[1] || !/^[0-9A-Fa-f]{2}$/.test(m[1])) throw invalidRequest("malformed percent-encoding");
  }
  const params = new URLSearchParams(body);
  const single = new Map<string, string>();
  const lists = new Map<string, string[]>();
  for (const [name, value] of params) {
    if (REPEATABLE.has(name)) {
      if (value !== "") lists.set(name, [...(lists.get(name) ?? []), value]);
      continue;
    }
    // RFC 6749 §3.2: no parameter twice. Only a name of our own vocabulary is named back (descriptions never echo input).
    if (single.has(name)) throw invalidRequest(NAMED_PARAMETERS.has(name) ? `parameter ${name} is repeated` : "a parameter is repeated");
    single.set(name, value);
  }
  return {
    get: (name) => {
      const v = single.get(name);
      return v === "" ? undefined : v;
    },
    all: (name) => lists.get(name) ?? [],
  };
}
