/**
 * What a refusal by a service the exchanger calls (the issuer's Mint, the
 * policy service's Decide) means to the exchange's caller. The exchanger calls
 * them as itself (its internal client's secret, its certificate's SPIFFE ID),
 * so an `invalid_client` or `unauthorized_client` from them says the
 * exchanger's own identity was refused, never the caller's: passed on, it would
 * tell a client with good credentials that they are bad (an OAuth client stops
 * retrying on invalid_client, the gateway answers 401) and record a denial of
 * that client in the audit trail. It is our fault: `server_error`, never
 * recorded as a denial.
 */
import { OAuthError } from "@sts/errors";

/** The exchanger's own identity refused by `callee`, as server_error; undefined for any other failure. */
export function ownIdentityRefused(err: unknown, callee: string): OAuthError | undefined {
  if (!(err instanceof OAuthError) || (err.code !== "invalid_client" && err.code !== "unauthorized_client")) return undefined;
  return new OAuthError("server_error", `the ${callee} refused the exchanger's own credentials`, { cause: err });
}
