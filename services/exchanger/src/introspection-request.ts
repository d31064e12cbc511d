/**
 * One RFC 7662 introspection call to a trusted issuer: the token POSTed as a
 * form with client_secret_basic, and the answer read and checked at the
 * edge. Anything but a 200 with a JSON object holding a boolean `active` is
 * no answer at all, and the caller fails closed. Errors name what went wrong,
 * never the token, the secret or the body of the answer.
 */
import { basicAuthorization } from "@sts/client-auth";
import { announcedLargerThan, hasDuplicateMembers, readBounded } from "@sts/jwt";

/** Largest answer read: a provider's introspection answer is a few hundred bytes, and a bigger one is not read into memory. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** Where and as whom to introspect. */
export interface IntrospectionEndpoint {
  url: string;
  clientId: string;
  /** The client secret, read at each call (a rotated file takes effect). */
  clientSecret: () => string;
  timeoutMs: number;
}

/** What the provider said: `active`, and the members that say which token it was about (RFC 7662 §2.2), as it sent them. */
export interface IntrospectionAnswer {
  active: boolean;
  iss?: unknown;
  sub?: unknown;
  client_id?: unknown;
  jti?: unknown;
  exp?: unknown;
  aud?: unknown;
}

/** The provider gave no usable answer (unreachable, timeout, non-200, malformed): our outage, not the token's fault. */
export class IntrospectionUnavailable extends Error {
  override readonly name = "IntrospectionUnavailable";
}

/** Parses the answer body: a JSON object, without duplicate members (another parser could read another `active`), with a boolean `active`. */
export function parseAnswer(text: string): IntrospectionAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new IntrospectionUnavailable("introspection answer is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new IntrospectionUnavailable("introspection answer is not a JSON object");
  if (hasDuplicateMembers(text)) throw new IntrospectionUnavailable("introspection answer has duplicate members");
  const answer = parsed as Record<string, unknown>;
  // RFC 7662 §2.2: `active` is REQUIRED and boolean; "true" or 1 is not an answer to trust.
  if (typeof answer.active !== "boolean") throw new IntrospectionUnavailable("introspection answer has no boolean active");
  return { active: answer.active, iss: answer.iss, sub: answer.sub, client_id: answer.client_id, jti: answer.jti, exp: answer.exp, aud: answer.aud };
}

/** Asks the endpoint about `token` (RFC 7662 §2.1); throws IntrospectionUnavailable when there is no usable answer. */
export async function introspectToken(token: string, endpoint: IntrospectionEndpoint): Promise<IntrospectionAnswer> {
  const secret = endpoint.clientSecret();
  const signal = AbortSignal.timeout(endpoint.timeoutMs);
  let response: Response;
  try {
    response = await fetch(endpoint.url, {
      method: "POST",
      headers: {
        authorization: basicAuthorization(endpoint.clientId, secret),
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: new URLSearchParams({ token, token_type_hint: "access_token" }).toString(),
      // A redirect is no answer: following it would carry the token (and maybe the credentials) somewhere not configured.
      redirect: "manual",
      signal,
    });
  } catch (err) {
    throw new IntrospectionUnavailable(signal.aborted ? `no introspection answer within ${endpoint.timeoutMs} ms` : "introspection endpoint unreachable", {
      cause: err,
    });
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new IntrospectionUnavailable(`introspection endpoint answered HTTP ${response.status}`);
  }
  const tooLarge = (): IntrospectionUnavailable => new IntrospectionUnavailable(`introspection answer larger than ${MAX_ANSWER_BYTES} bytes`);
  if (announcedLargerThan(response, MAX_ANSWER_BYTES)) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  let body: Buffer;
  try {
    body = await readBounded(response.body, MAX_ANSWER_BYTES, tooLarge);
  } catch (err) {
    if (err instanceof IntrospectionUnavailable) throw err;
    throw new IntrospectionUnavailable(signal.aborted ? `no introspection answer within ${endpoint.timeoutMs} ms` : "introspection answer cut off", {
      cause: err,
    });
  }
  return parseAnswer(body.toString("utf8"));
}
