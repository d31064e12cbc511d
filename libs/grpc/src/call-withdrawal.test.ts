/** callUnary with a signal its caller aborted before the call: nothing reaches the server (a real one). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OAuthError } from "@sts/errors";
import { loadTokenProto } from "@sts/proto";
import type { TokenServiceClient } from "@sts/proto";
import { createLogger } from "@sts/telemetry";
import { CallCoalescer, callUnary, createClient, startGrpcServer, unary } from "./index.js";
import type { GrpcServerHandle } from "./index.js";

const logger = createLogger("test", { level: "silent" });
const proto = loadTokenProto();
let server: GrpcServerHandle;
let client: TokenServiceClient;
let served = 0;

beforeAll(async () => {
  server = await startGrpcServer({
    port: 0,
    logger,
    services: [
      {
        definition: proto.sts.token.v1.TokenService.service,
        implementation: {
          GetJwks: unary(
            async () => {
              served++;
              return { jwks_json: "{}" };
            },
            { name: "GetJwks", logger },
          ),
        },
      },
    ],
  });
  client = createClient(proto.sts.token.v1.TokenService, server.address);
});

afterAll(async () => {
  client.close();
  await server.shutdown(0);
});

describe("callUnary with an aborted signal", () => {
  it("sends nothing when the signal was aborted before the call, and rejects with its reason", async () => {
    const gone = new AbortController();
    gone.abort();
    const failure = await callUnary(client, "GetJwks", {}, { signal: gone.signal }).then(
      () => "answered",
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(OAuthError);
    expect((failure as OAuthError).toJSON()).toEqual({ error: "temporarily_unavailable", error_description: "the request was withdrawn before it was sent" });
    // The server is reachable: a call without the signal is answered, and it is the only one the handler saw.
    await callUnary(client, "GetJwks", {});
    expect(served).toBe(1);
  });

  it("rejects with the signal's own reason when it is an OAuthError", async () => {
    const reason = new OAuthError("temporarily_unavailable", "client left");
    await expect(callUnary(client, "GetJwks", {}, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});

describe("a coalesced call withdrawn by a bare abort()", () => {
  it("rejects with temporarily_unavailable, never the DOMException abort() gives (callers are promised an OAuthError)", async () => {
    const sent: number[] = [];
    const coalescer = new CallCoalescer<number, number>(async (items) => {
      sent.push(...items.map((i) => i.request));
      return items.map((i) => ({ response: i.request }));
    });
    const gone = new AbortController();
    const withdrawn = coalescer.call(1, gone.signal);
    gone.abort();
    const failure = await withdrawn.then(
      () => "answered",
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(OAuthError);
    expect((failure as OAuthError).code).toBe("temporarily_unavailable");
    expect(await coalescer.call(2)).toBe(2);
    expect(sent).toEqual([2]);
  });
});
