/**
 * Who may call the policy API's operator methods. An operator is a client of
 * this stack and presents one of its access tokens naming
 * `policy.api_audience`: `policy.read_scope` lets it read (Get, List, the
 * what-if Validate), `policy.write_scope` lets it change policies (Put,
 * Delete, Reset) and read them too, since a writer sees what it changes. The shared
 * STS_POLICY_ADMIN_TOKEN stays as a break-glass credential for every call,
 * recorded as such. There is no anonymous access: Validate compiles any Cedar
 * it is given, and the policies say who may get which token.
 */
import type { Metadata } from "@grpc/grpc-js";
import { callerAuthenticator } from "@sts/mesh";
import type { CallerIdentity, InboundOptions } from "@sts/mesh";

/** The caller of an operator method, as its changes are recorded. */
export type Operator = CallerIdentity;

/** The checks of the two kinds of operator methods; each names the caller or refuses it. */
export interface OperatorAccess {
  /** Get, List, Validate: read_scope or write_scope. */
  read(metadata: Metadata): Promise<Operator>;
  /** Put, Delete, Reset: write_scope. */
  write(metadata: Metadata): Promise<Operator>;
}

/** Options of {@link operatorAccess}. */
export interface OperatorAccessOptions {
  /** STS_POLICY_ADMIN_TOKEN, if set. */
  breakGlassToken: string | undefined;
  /** How access tokens are verified; `audience` is `policy.api_audience`. */
  tokens: InboundOptions;
  readScope: string;
  writeScope: string;
}

/**
 * Makes the operator checks: invalid_token (UNAUTHENTICATED) for a missing or
 * bad credential, insufficient_scope (PERMISSION_DENIED) for a good token
 * without the scope the method needs.
 */
export function operatorAccess(o: OperatorAccessOptions): OperatorAccess {
  const authenticate = callerAuthenticator({
    breakGlassToken: o.breakGlassToken,
    anonymousWithoutBreakGlass: false,
    tokens: o.tokens,
    holder: "an operator's",
  });
  const readers = [o.readScope, o.writeScope];
  const writers = [o.writeScope];
  return { read: (metadata) => authenticate(metadata, readers), write: (metadata) => authenticate(metadata, writers) };
}
