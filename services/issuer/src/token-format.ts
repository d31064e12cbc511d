/**
 * Which format an access token takes. Each audience a client may address is
 * configured for `jwt` (default) or `opaque` (RFC 9068 or a reference
 * resolved by introspection). One token serves all its audiences, so they
 * must agree: taking the first audience's format would hand a readable JWT
 * to a resource server that asked never to have its tokens' claims exposed,
 * or an opaque reference to one that only verifies signatures. A mix is
 * refused as invalid_target (RFC 8707 §2), and the client asks for each
 * audience on its own.
 */
import { invalidTarget } from "@sts/errors";

/** An access token's format. */
export type TokenFormat = "jwt" | "opaque";

/** The one format every audience takes, or invalid_target when they differ. */
export function tokenFormatFor(formats: Readonly<Record<string, TokenFormat>>, audience: readonly string[]): TokenFormat {
  // Own properties only: an audience named "constructor" must not read Object.prototype.
  const of = (aud: string): TokenFormat => (Object.hasOwn(formats, aud) ? (formats[aud] as TokenFormat) : "jwt");
  const first = of(audience[0] as string);
  if (audience.some((aud) => of(aud) !== first))
    throw invalidTarget("these audiences take different token formats (jwt and opaque); request a token for each separately");
  return first;
}
