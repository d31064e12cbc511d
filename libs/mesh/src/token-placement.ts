/**
 * Where a bearer token may travel. RFC 6750 §2 gives three ways to send one
 * and a client "MUST NOT use more than one method" per request; this mesh
 * reads only the Authorization header (§2.1). So:
 * - inbound, an `access_token` query parameter (§2.3) next to the header is a
 *   second credential the sidecar never verified: passed on, a workload (or a
 *   framework that reads tokens from the query, as Envoy's jwt_authn does by
 *   default) could take it for the verified one. Refused, §3.1
 *   `invalid_request`.
 * - outbound, the token a workload received may leave only as the subject of
 *   an exchange: found anywhere else in the call (a cookie, the query, a
 *   custom header a framework propagates), it would reach the destination,
 *   which could then act as the workload's caller. Refused before any
 *   exchange, rather than cut out of a header whose meaning would change.
 */
import { OAuthError } from "@sts/errors";

/** RFC 6750 §2.3's query parameter. */
const QUERY_PARAMETER = "access_token";

/** A request that carries a bearer token where none may travel: RFC 6750 §3.1 `invalid_request`, 400 (gRPC INVALID_ARGUMENT). */
export class MisplacedToken extends OAuthError {
  constructor(description: string) {
    super("invalid_request", description);
  }
}

/**
 * Whether a query parameter's raw name reads as `access_token` to some framework behind the sidecar, not only to
 * WHATWG's parser: ASP.NET Core looks names up without regard to case (the SignalR pattern reads
 * `Query["access_token"]`), PHP turns `.`, spaces and an unclosed `[` into `_` and drops leading spaces, and PHP and
 * Rack read `access_token[]` or `access_token[x]` as an array or hash of that name.
 */
function readsAsQueryToken(rawName: string): boolean {
  const name = percentDecoded(rawName.replaceAll("+", " ")).trimStart().toLowerCase();
  const base = /^[^[]*(?=\[[^\]]*\])/.exec(name)?.[0] ?? name;
  return base.replace(/[. []/g, "_") === QUERY_PARAMETER;
}

/**
 * Refuses a request target with an RFC 6750 §2.3 `access_token` query parameter, as any common framework would read
 * it: parameters split at `;` as well as `&` (Rack before 3, Python before 3.9.2 and Go before 1.17 did, and Rails
 * still can), names percent-decoded and compared as {@link readsAsQueryToken} says. A name WHATWG's parser alone
 * would read otherwise is a second credential to the framework that reads it so.
 */
export function refuseQueryToken(target: string): void {
  const query = target.indexOf("?");
  if (query === -1) return;
  const names = target
    .slice(query + 1)
    .split(/[&;]/)
    .map((pair) => pair.split("=", 1)[0] ?? "");
  if (names.some(readsAsQueryToken)) {
    throw new MisplacedToken("send the access token in the Authorization header only (RFC 6750 section 2.1), not as a query parameter");
  }
}

/**
 * The target with every well-formed `%XX` undone (`%41` is `A` to the destination too). Leniently, escape by escape:
 * a destination decodes each parameter and segment on its own, so one stray `%` elsewhere (`?discount=10%`) must not
 * leave an encoded token unread here.
 */
function percentDecoded(target: string): string {
  if (!target.includes("%")) return target;
  const bytes: number[] = [];
  for (let i = 0; i < target.length;) {
    const escaped = target[i] === "%" ? /^[0-9a-fA-F]{2}$/.exec(target.slice(i + 1, i + 3)) : null;
    if (escaped) {
      bytes.push(Number.parseInt(escaped[0], 16));
      i += 3;
      continue;
    }
    const cp = target.codePointAt(i) as number;
    const ch = String.fromCodePoint(cp);
    bytes.push(...Buffer.from(ch, "utf8"));
    i += ch.length;
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * The values a gRPC `-bin` header carries: base64 (padded or not), several joined by commas (gRPC over HTTP/2,
 * "Custom-Metadata"); the destination reads the bytes, so the bytes are what is searched.
 */
function binaryValues(value: string): Buffer[] {
  return value.split(",").map((part) => Buffer.from(part.trim(), "base64"));
}

/**
 * Refuses an outbound call whose target or whose headers (all but the Authorization header that the exchanged token
 * replaces) still carry `token`, the one the workload received: as text, percent-encoded in the target, or as the
 * bytes of binary metadata (a grpc-js `Buffer`, or the base64 of a `-bin` header on the wire).
 */
export function refuseTokenOutsideAuthorization(token: string, target: string, headers: Readonly<Record<string, unknown>>): void {
  const leaks = (value: unknown, binary: boolean): boolean => {
    if (Array.isArray(value)) return value.some((v) => leaks(v, binary));
    if (Buffer.isBuffer(value)) return value.includes(token);
    if (typeof value !== "string") return false;
    return value.includes(token) || (binary && binaryValues(value).some((bytes) => bytes.includes(token)));
  };
  const found =
    leaks(target, false) ||
    leaks(percentDecoded(target), false) ||
    Object.entries(headers).some(([name, value]) => {
      const lower = name.toLowerCase();
      return lower !== "authorization" && leaks(value, lower.endsWith("-bin"));
    });
  if (found) throw new MisplacedToken("the inbound access token may leave only in the Authorization header, where it is exchanged");
}
