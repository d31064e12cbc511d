/** What every endpoint handler gets. */
import type { IncomingMessage } from "node:http";
import type { ExchangeServiceClient, TokenServiceClient, ClientAuthentication } from "@sts/proto";
import type { Logger } from "@sts/telemetry";
import type { OAuthForm } from "../form.js";
import type { TokenLanes } from "../token-lanes.js";

/** Shared by the endpoints. */
export interface GatewayContext {
  /** The issuer identifier, exactly as configured; endpoint URLs are built from it with issuerEndpoint. */
  issuer: string;
  token: TokenServiceClient;
  /** Token calls, coalesced into TokenBatch calls in two lanes. */
  tokenCalls: TokenLanes;
  exchange: ExchangeServiceClient | undefined;
  logger: Logger;
  /** Deadline of backend calls. */
  deadlineMs: number;
}

/** The client credentials of a request, passed through for the issuer to judge. */
export function clientAuthentication(req: IncomingMessage, form: OAuthForm, endpoint: string): ClientAuthentication {
  const header = req.headers.authorization;
  return {
    authorization: typeof header === "string" ? header : "",
    client_id: form.get("client_id") ?? "",
    client_secret: form.get("client_secret") ?? "",
    client_assertion_type: form.get("client_assertion_type") ?? "",
    client_assertion: form.get("client_assertion") ?? "",
    endpoint,
  };
}
