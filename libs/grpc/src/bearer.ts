/** The bearer credential of an HTTP `Authorization` header or its gRPC metadata twin. */

/**
 * The token of `Bearer <token>` (RFC 6750 §2.1: a b64token), the scheme matched without regard to case and followed
 * by one or more spaces (RFC 9110 §11.1, §11.4); undefined when absent or malformed.
 */
export function bearerToken(header: string | undefined): string | undefined {
  return /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header ?? "")?.[1];
}

/**
 * Whatever follows the `Bearer` scheme (case-insensitive), for a shared secret compared as a whole (an operator's
 * break-glass secret need not be a b64token); undefined without the scheme.
 */
export function bearerCredential(header: string | undefined): string | undefined {
  return /^bearer +(.+)$/is.exec(header ?? "")?.[1];
}
