/**
 * How a call through meshClientInterceptor ends when something other than the exchange ends it: its deadline, a
 * cancellation by the application or by the server call it was made for, and how a refusal is delivered. A real
 * grpc-js server on loopback plays an exchanger that holds every request until the test answers it, and the callee.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata, Server, ServerCredentials, credentials, status } from "@grpc/grpc-js";
import type { ServerUnaryCall, ServiceError, sendUnaryData } from "@grpc/grpc-js";
import { loadAuditProto, loadExchangeProto, loadTokenProto } from "@sts/proto";
import type { ExchangeResponse } from "@sts/proto";
import { ExchangeCache } from "./exchange-cache.js";
import { meshClientInterceptor } from "./grpc-interceptors.js";
import { jwt } from "./stand-ins.fixture.js";

const exchangeService = loadExchangeProto().sts.exchange.v1.ExchangeService;
const tokenService = loadTokenProto().sts.token.v1.TokenService;
const auditService = loadAuditProto().sts.audit.v1.AuditService;

/** Exchange requests the stand-in exchanger holds, each answered when the test says. */
const held: ((answer: ExchangeResponse) => void)[] = [];
/** What the test does when the next exchange request arrives (each called once). */
const arrivals = new Set<() => void>();
let calleeCalls = 0;
let server: Server;
let address: string;

beforeAll(async () => {
  server = new Server();
  server.addService(exchangeService.service, {
    Exchange: (_call: unknown, cb: sendUnaryData<ExchangeResponse>) => {
      held.push((answer) => cb(null, answer));
      const now = [...arrivals];
      arrivals.clear();
      for (const arrival of now) arrival();
    },
  });
  server.addService(tokenService.service, {
    GetJwks: (_call: unknown, cb: sendUnaryData<{ jwks_json: string }>) => {
      calleeCalls++;
      cb(null, { jwks_json: "{}" });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => server?.forceShutdown());

/** Resolves when the stand-in exchanger has received one more request. */
const nextArrival = (): Promise<void> => new Promise((resolve) => arrivals.add(resolve));

/** Answers every held exchange request with a token. */
function answerAll(): void {
  for (const answer of held.splice(0)) answer({ access_token: "exchanged", expires_in: "300", scope: "b" });
}

/** A TokenService client whose calls go through the mesh interceptor, and its cache (an exchange may take a minute). */
function meshClient(): { client: InstanceType<typeof tokenService>; exchange: ExchangeCache } {
  const exchange = new ExchangeCache({
    exchanger: new exchangeService(address, credentials.createInsecure()),
    authorization: "Basic c3ZjLWE6cw==",
    deadlineMs: 60_000,
  });
  const client = new tokenService(address, credentials.createInsecure(), {
    interceptors: [meshClientInterceptor(exchange, { audience: "svc-b", scopes: ["b"] })],
  });
  return { client, exchange };
}

async function withToken(): Promise<Metadata> {
  const md = new Metadata();
  md.set("authorization", `Bearer ${await jwt({ sub: "alice" })}`);
  return md;
}

describe("meshClientInterceptor while the token is being exchanged", () => {
  it("ends a call whose deadline passes meanwhile with DEADLINE_EXCEEDED, rather than leaving it waiting for ever", async () => {
    const { client } = meshClient();
    try {
      const md = await withToken();
      const arrived = nextArrival();
      const ended = new Promise<ServiceError | null>((resolve) =>
        client.GetJwks({}, md, { deadline: Date.now() + 200 }, (err: ServiceError | null) => resolve(err)),
      );
      await arrived;
      // The exchanger still holds the request: the call ends on its deadline all the same.
      expect(await ended).toMatchObject({ code: status.DEADLINE_EXCEEDED });
      expect(held).toHaveLength(1);
      answerAll();
    } finally {
      client.close();
    }
  }, 10_000);

  it("ends a call whose deadline had passed before it was made with DEADLINE_EXCEEDED, without exchanging (once exchanged, it never ended)", async () => {
    const { client, exchange } = meshClient();
    // Answered at once: the exchange succeeds, after the call's deadline.
    const answer = (): void => answerAll();
    arrivals.add(answer);
    try {
      const md = await withToken();
      const ended = new Promise<ServiceError | null>((resolve) =>
        client.GetJwks({}, md, { deadline: Date.now() - 1 }, (err: ServiceError | null) => resolve(err)),
      );
      expect(await ended).toMatchObject({ code: status.DEADLINE_EXCEEDED });
      expect(exchange.exchanges).toBe(0);
    } finally {
      arrivals.delete(answer);
      client.close();
    }
  }, 10_000);

  it("ends a call the application cancels meanwhile with CANCELLED, and never sends it once the exchange answers", async () => {
    const { client, exchange } = meshClient();
    try {
      const md = await withToken();
      const arrived = nextArrival();
      let call: { cancel(): void } | undefined;
      const ended = new Promise<ServiceError | null>((resolve) => {
        call = client.GetJwks({}, md, (err: ServiceError | null) => resolve(err));
      });
      await arrived;
      call?.cancel();
      expect(await ended).toMatchObject({ code: status.CANCELLED });
      const before = calleeCalls;
      answerAll();
      // The same exchange, joined: it has settled, and the interceptor has seen its answer, once this resolves.
      await exchange.tokenFor(String(md.get("authorization")[0]).slice("Bearer ".length), "svc-b", ["b"]);
      expect(exchange.exchanges).toBe(1);
      expect(calleeCalls).toBe(before);
    } finally {
      client.close();
    }
  }, 10_000);

  it("ends a call made for a server call (parent) with CANCELLED when that server call is cancelled meanwhile", async () => {
    const { client } = meshClient();
    // Service A: a server whose handler calls on through the mesh client with `parent`, as in-process workloads do.
    const childEnded: Promise<ServiceError | null>[] = [];
    const serviceA = new Server();
    serviceA.addService(tokenService.service, {
      GetJwks: (parent: ServerUnaryCall<unknown, unknown>, _cb: sendUnaryData<{ jwks_json: string }>) => {
        childEnded.push(new Promise((resolve) => client.GetJwks({}, parent.metadata.clone(), { parent }, (err: ServiceError | null) => resolve(err))));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      serviceA.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const caller = new tokenService(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const arrived = nextArrival();
      const outer = caller.GetJwks({}, await withToken(), () => {});
      await arrived;
      outer.cancel();
      expect(await childEnded[0]).toMatchObject({ code: status.CANCELLED });
      answerAll();
    } finally {
      caller.close();
      client.close();
      serviceA.forceShutdown();
    }
  }, 10_000);
});

describe("meshClientInterceptor's refusals are reported as grpc-js reports a call's end: after the call method returns", () => {
  it("lets a server-streaming call without a token return its stream, whose 'error' then says UNAUTHENTICATED (invalid_token)", async () => {
    const exchange = new ExchangeCache({ exchanger: new exchangeService(address, credentials.createInsecure()), authorization: "Basic c3ZjLWE6cw==" });
    const audit = new auditService(address, credentials.createInsecure(), {
      interceptors: [meshClientInterceptor(exchange, { audience: "svc-b", scopes: ["b"] })],
    });
    try {
      // A listener attached right after the call is made, as every grpc-js example does.
      const stream = audit.Tail({}, new Metadata());
      const err = await new Promise<ServiceError>((resolve) => stream.on("error", resolve));
      expect(err.code).toBe(status.UNAUTHENTICATED);
      expect(err.metadata.get("oauth-error")).toEqual(["invalid_token"]);
      expect(exchange.exchanges).toBe(0);
    } finally {
      audit.close();
    }
  });

  it("calls a unary call's callback only after the call method has returned", async () => {
    const { client } = meshClient();
    try {
      let returned = false;
      const sawReturned = await new Promise<boolean>((resolve) => {
        client.GetJwks({}, new Metadata(), () => resolve(returned));
        returned = true;
      });
      expect(sawReturned).toBe(true);
    } finally {
      client.close();
    }
  });
});
