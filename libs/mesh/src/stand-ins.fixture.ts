/**
 * Test stand-ins on loopback for the mesh library's tests (left out of the build): a real grpc-js server playing the
 * exchanger (a fresh HS256 token per exchange, an opaque one for an `opaque:` audience, or the refusal the test picks) and a callee, and the revocation state
 * both read.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { Metadata, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import { SignJWT } from "jose";
import { loadExchangeProto, loadTokenProto } from "@sts/proto";
import type { ExchangeRequest__Output, ExchangeResponse } from "@sts/proto";

const key = randomBytes(32);

/** An HS256 JWT with a fresh jti, valid five minutes: the stand-in exchanger's tokens and the tests' inbound ones. */
export const jwt = (claims: Record<string, unknown>): Promise<string> =>
  new SignJWT({ jti: randomUUID(), ...claims }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(key);

/** Token ids the test revoked, and the lookups an ExchangeCache reads them through. */
export function revocationState(): {
  revoked: Set<string>;
  revocations: { isRevoked(jti: string): boolean; subjectRevokedAt(): undefined; isKeyWithdrawn(): boolean };
} {
  const revoked = new Set<string>();
  return { revoked, revocations: { isRevoked: (jti) => revoked.has(jti), subjectRevokedAt: () => undefined, isKeyWithdrawn: () => false } };
}

/** What the stand-ins do besides answering. */
export interface StandInOptions {
  /** The exchanger's refusal of a request, if it refuses it. */
  refusal: (request: ExchangeRequest__Output) => Partial<ServiceError> | undefined;
  /** Called with each call's metadata that reaches the callee (any TokenService call; GetJwks answers `{}`). */
  onCallee: (metadata: Metadata) => void;
}

/** Starts the stand-in exchanger and callee on one loopback port; its address and how to stop it. */
export async function startStandIns(options: StandInOptions): Promise<{ address: string; stop(): void }> {
  const server = new Server();
  server.addService(loadExchangeProto().sts.exchange.v1.ExchangeService.service, {
    Exchange: ({ request }: { request: ExchangeRequest__Output }, cb: sendUnaryData<ExchangeResponse>) => {
      const refusal = options.refusal(request);
      if (refusal) {
        cb(refusal);
        return;
      }
      const jti = randomUUID();
      // An audience named `opaque:…` gets an opaque token, as one configured for them in the issuer would.
      if (request.audience[0]?.startsWith("opaque:")) {
        cb(null, { access_token: `ot_${randomBytes(16).toString("base64url")}`, expires_in: "300", scope: request.scope, jti });
        return;
      }
      void jwt({ aud: request.audience[0], jti }).then((access_token) => cb(null, { access_token, expires_in: "300", scope: request.scope, jti }));
    },
  });
  server.addService(loadTokenProto().sts.token.v1.TokenService.service, {
    GetJwks: (call: { metadata: Metadata }, cb: sendUnaryData<{ jwks_json: string }>) => {
      options.onCallee(call.metadata);
      cb(null, { jwks_json: "{}" });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}
