/**
 * Audience arithmetic (RFC 8707 resource / RFC 8693 audience): what a client
 * asks for, narrowed to what it may have, in the client's order so the first
 * is the primary audience.
 */
import { isCleanText } from "@sts/errors";

/** Largest number of audience/resource values accepted in one request. */
export const MAX_AUDIENCES = 16;
/** Largest length of one audience or resource value. */
export const MAX_AUDIENCE_LENGTH = 512;

/**
 * requested ∩ allowed, in allowed's order. With nothing requested the client
 * gets its primary audience only (least privilege, RFC 8707 §2 lets the
 * server pick a default). Empty result means invalid_target for the caller.
 */
export function grantAudiences(requested: readonly string[], allowed: readonly string[]): string[] {
  if (requested.length === 0) return allowed.length > 0 ? [allowed[0] as string] : [];
  const wanted = new Set(requested);
  return allowed.filter((a) => wanted.has(a));
}

/** Merges RFC 8693 `audience` and RFC 8707 `resource` values, deduplicated, first-seen order. */
export function requestedAudiences(audience: readonly string[], resource: readonly string[]): string[] {
  return [...new Set([...audience, ...resource])];
}

/**
 * Whether one audience value is non-empty, within the length limit, free of control characters (C1 too) and
 * well-formed Unicode: the policy engine refuses the rest, so they are the caller's malformed request, not a target.
 */
export function audienceWellFormed(value: string): boolean {
  return value.length > 0 && value.length <= MAX_AUDIENCE_LENGTH && isCleanText(value);
}

/**
 * RFC 3986 §3.2.2 IP-literal, after a `//`: an IPv6 address or an IPvFuture in brackets (`https://[2001:db8::1]:8443/`),
 * the one place a URI may hold `[` and `]`. The address's own grammar is the resource server's to read; only its
 * characters are checked here.
 */
const IP_LITERAL = String.raw`\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]`;

/**
 * RFC 3986 §4.3 absolute-URI, checked character by character: a scheme, then, after a `//` authority whose host may
 * be an IP-literal, only characters a URI may hold, each `%` starting a well-formed escape, and no `#` (a fragment is
 * not part of an absolute-URI). Host-less URIs (`urn:...`) and queries are allowed, as RFC 8707 allows them.
 */
const ABSOLUTE_URI = new RegExp(
  String.raw`^[A-Za-z][A-Za-z0-9+.-]*:(?://(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*@)?${IP_LITERAL}(?::[0-9]*)?(?=[/?]|$))?(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$`,
);

/**
 * Whether one `resource` value is a resource indicator: a well-formed audience value that is an absolute URI without a
 * fragment (RFC 8707 §2, RFC 8693 §2.1). A relative reference or a fragment is `invalid_target` for the caller.
 */
export function resourceWellFormed(value: string): boolean {
  return audienceWellFormed(value) && ABSOLUTE_URI.test(value);
}

/** Whether a list of audience values respects the size limits and holds no malformed value. */
export function audiencesWellFormed(values: readonly string[]): boolean {
  return values.length <= MAX_AUDIENCES && values.every(audienceWellFormed);
}
