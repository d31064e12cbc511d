/**
 * The URL of one of the stack's endpoints under its issuer identifier. The identifier may end in "/" (RFC 8414 allows
 * it, and tokens carry it exactly as configured as `iss`); the endpoint paths are appended after dropping that "/", so
 * no URL has a "//" that no route of the gateway matches.
 */
export function issuerEndpoint(issuer: string, path: `/${string}`): string {
  return `${issuer.replace(/\/$/, "")}${path}`;
}
