/**
 * Where a proxied call goes. The destination's origin comes from
 * configuration only; the caller supplies just a path and query. Resolving a
 * caller's string against a base (`new URL(path, base)`) would let
 * `//evil.example/x` or an absolute-form target (`http://169.254.169.254/`,
 * which Node's HTTP server accepts) name another host, and the request would
 * leave with a bearer token and the `x-mesh-*` headers.
 *
 * The configured destination is a bare origin (scheme, host, port): the config
 * refuses a path, query, fragment or userinfo in it. A path there would only
 * look like a boundary: calls keep their own path, so `http://ingress/svc-d`
 * would reach `http://ingress/anything-else` with svc-d's token.
 */
import { OAuthError } from "@sts/errors";

/** True when `target` is an HTTP request-target in origin-form (RFC 9112 §3.2.1): it starts with `/`. */
export function isOriginForm(target: string): boolean {
  return target.startsWith("/");
}

/** True when `url` is an http:// or https:// origin with nothing after it but an optional `/`. */
export function isBareOrigin(url: string | URL): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  // href keeps what origin drops (userinfo, path, an empty `?` or `#`): equal only for the origin itself.
  return (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.href === `${parsed.origin}/`;
}

/**
 * The URL of `pathAndQuery` on `origin`; never another host. `origin` must be a bare http(s) origin (a TypeError
 * otherwise: dropping a configured path silently would send calls past the prefix it seemed to confine them to).
 */
export function urlOnOrigin(origin: string | URL, pathAndQuery: string): URL {
  if (!isBareOrigin(origin)) throw new TypeError("urlOnOrigin: the destination must be an http(s) origin, with no path, query, fragment or userinfo");
  if (!isOriginForm(pathAndQuery)) throw new OAuthError("invalid_request", "the request target must be a path");
  const base = new URL(origin).origin;
  // Appended to the origin, "//host/x" and "/\\host" stay paths: the authority is already parsed.
  const url = new URL(base + pathAndQuery);
  if (url.origin !== base) throw new OAuthError("invalid_request", "the request target must stay on the destination's origin");
  return url;
}
