/**
 * Where a proxied call goes. The destination's origin comes from
 * configuration only; the caller supplies just a path and query. Resolving a
 * caller's string against a base (`new URL(path, base)`) would let
 * `//evil.example/x` or an absolute-form target (`http://169.254.169.254/`,
 * which Node's HTTP server accepts) name another host, and the request would
 * leave with a bearer token and the `x-mesh-*` headers.
 */
import { OAuthError } from "@sts/errors";

/** True when `target` is an HTTP request-target in origin-form (RFC 9112 §3.2.1): it starts with `/`. */
export function isOriginForm(target: string): boolean {
  return target.startsWith("/");
}

/** The URL of `pathAndQuery` on the configured origin of `base`; never another host. */
export function urlOnOrigin(base: string | URL, pathAndQuery: string): URL {
  if (!isOriginForm(pathAndQuery)) throw new OAuthError("invalid_request", "the request target must be a path");
  const origin = new URL(base).origin;
  // Appended to the origin, "//host/x" and "/\\host" stay paths: the authority is already parsed.
  const url = new URL(origin + pathAndQuery);
  if (url.origin !== origin) throw new OAuthError("invalid_request", "the request target must stay on the destination's origin");
  return url;
}
