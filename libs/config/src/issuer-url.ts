/**
 * The stack's issuer identifier: the `iss` of every token it makes, the
 * `issuer` of its metadata, and the base its endpoints are built on (the
 * token endpoint, the JWK Set the sidecars fetch). RFC 8414 §2 makes it an
 * https URL with no query and no fragment; a query or a fragment would also
 * end up in the middle of every endpoint URL built on it, and userinfo would
 * publish a password in every token. Plain http is left to a loopback
 * address, where a local stack runs without certificates.
 */
import { isIP } from "node:net";

/** Whether `hostname` (as URL gives it, IPv6 in brackets) names this machine only. */
function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/** Why `value` cannot be the stack's issuer identifier, undefined when it can; the message never repeats the value. */
export function issuerProblem(value: string): string | undefined {
  // Not a URL at all: z.url() has said so.
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:") return "expected an https URL (RFC 8414 §2), such as https://sts.example.org";
  if (url.username !== "" || url.password !== "") {
    return "no user or password in the URL: the issuer is published in the metadata and in every token's iss";
  }
  // WHATWG drops an empty "?" or "#", which RFC 8414 still counts as a query or a fragment component.
  if (/[?#]/.test(value)) return "no query or fragment (RFC 8414 §2): the endpoints are built by appending paths to the issuer";
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    return "must be https (RFC 8414 §2): client secrets, assertions and tokens would cross the network in clear; http only on a loopback address";
  }
  return undefined;
}
