/**
 * Token requests go to the issuer coalesced into TokenBatch calls, and a batch is answered when its last item is. A
 * client secret the issuer has not verified before costs a gated scrypt there (tens of ms, queued behind others), and
 * anyone can cause one by presenting a wrong secret: in a shared batch, a flood of wrong secrets would hold up every
 * client behind them. So a request whose credential the issuer accepted lately travels in batches of its own, which
 * wait on no scrypt; the others share a lane whose queue is bounded.
 */
import { createHmac, randomBytes } from "node:crypto";
import { basicCredentials } from "@sts/client-auth";
import { OAuthError } from "@sts/errors";
import type { CallCoalescer } from "@sts/grpc";
import type { ClientAuthentication, TokenRequest, TokenResponse__Output } from "@sts/proto";

/** A lane of batches: `signal` aborted while the request still waits for its batch keeps it from being sent. */
type Lane = Pick<CallCoalescer<TokenRequest, TokenResponse__Output>, "call">;

/** Credentials remembered as accepted, at most (the oldest forgotten first). */
const MAX_PROVEN = 10_000;

/** Routes token requests between a lane for credentials the issuer accepted lately and one for the rest. */
export class TokenLanes {
  // Keyed by a MAC under a key of this process: what stays in memory is no digest of a secret that could be tested
  // offline against guesses.
  readonly #key = randomBytes(32);
  readonly #proven = new Set<string>();

  constructor(
    private readonly provenLane: Lane,
    private readonly otherLane: Lane,
  ) {}

  /**
   * Sends one token request in its lane; resolves with the issuer's answer, rejects with its OAuthError. `gone` aborts
   * once the client has left: a request still waiting for its batch is then never sent.
   */
  async call(request: TokenRequest, gone?: AbortSignal): Promise<TokenResponse__Output> {
    const mark = this.#mark(request.client);
    const proven = mark !== undefined && this.#proven.has(mark);
    try {
      const response = await (proven ? this.provenLane : this.otherLane).call(request, gone);
      if (mark !== undefined && !proven) this.#remember(mark);
      return response;
    } catch (err) {
      // A credential refused since (a rotated secret, a deleted client) goes back to the shared lane.
      if (proven && err instanceof OAuthError && err.code === "invalid_client") this.#proven.delete(mark);
      throw err;
    }
  }

  /**
   * The mark of a client secret (Basic, or client_secret in the body), whose check is the costly one. An assertion is
   * single-use, and a request with neither is a public client's: neither can be proven ahead, so neither has a mark.
   */
  #mark(client: ClientAuthentication | null | undefined): string | undefined {
    if (!client || client.client_assertion || client.client_assertion_type) return undefined;
    const secret = presentedSecret(client);
    return secret && createHmac("sha256", this.#key).update(JSON.stringify(secret)).digest("base64url");
  }

  #remember(mark: string): void {
    if (this.#proven.size >= MAX_PROVEN) this.#proven.delete(this.#proven.values().next().value as string);
    this.#proven.add(mark);
  }
}

/**
 * The client secret a request presents, as the issuer reads it: the id and secret of Basic credentials decoded
 * (RFC 6749 §2.3.1: form-encoded, then base64), else the body's client_id and client_secret. One credential has many
 * spellings (any character percent-escaped, in either case; the scheme's case; the spaces after it), and were each
 * remembered on its own, whoever holds one valid secret could push every other client out of the proven lane.
 * Undefined for what the issuer would refuse unread (a scheme other than Basic, two methods at once).
 */
function presentedSecret(client: ClientAuthentication): [method: string, id: string, secret: string] | undefined {
  const authorization = client.authorization ?? "";
  if (!authorization) return client.client_secret ? ["post", client.client_id ?? "", client.client_secret] : undefined;
  const basic = client.client_secret ? undefined : basicCredentials(authorization);
  return basic && ["basic", basic.id, basic.secret];
}
