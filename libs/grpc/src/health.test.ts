/**
 * grpc.health.v1 on a real server: what callers nobody authenticates can hold of it (Watch names), and how its Watch
 * streams end when the server shuts down.
 */
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";
import { createLogger } from "@sts/telemetry";
import { startGrpcServer } from "./index.js";
import type { GrpcServerHandle } from "./index.js";

const logger = createLogger("test", { level: "silent" });

type HealthClient = grpc.Client & {
  Check(request: { service: string }, callback: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  Watch(request: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

const Health = (
  grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true })) as unknown as {
    grpc: { health: { v1: { Health: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => HealthClient } } };
  }
).grpc.health.v1.Health;

const open: Array<{ server: GrpcServerHandle; client: HealthClient }> = [];

async function serve(): Promise<{ server: GrpcServerHandle; client: HealthClient }> {
  const server = await startGrpcServer({ port: 0, services: [], logger });
  const client = new Health(server.address, grpc.credentials.createInsecure());
  const pair = { server, client };
  open.push(pair);
  return pair;
}

afterEach(async () => {
  for (const { server, client } of open.splice(0)) {
    client.close();
    await server.shutdown(0);
  }
});

/** The heap in use after a full collection. */
function heapAfterGc(): number {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
}

/** Opens a Watch of `service`, takes its first message, then cancels it; resolves once its status has come. */
function watchOnce(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve) => {
    let first = "";
    const call = client.Watch({ service });
    call.on("data", (m: { status: string }) => {
      first ||= m.status;
      call.cancel();
    });
    call.on("error", () => undefined);
    // With no message, what ended the call says why (and cannot pass for a status).
    call.on("status", (s: grpc.StatusObject) => resolve(first || `no message: ${grpc.status[s.code]} ${s.details}`));
  });
}

describe("grpc.health.v1 Watch", () => {
  it("keeps nothing of a service name a caller watched once the watch ends (no unbounded memory from input)", async () => {
    const { server, client } = await serve();
    expect(await watchOnce(client, "warm-up")).toBe("SERVICE_UNKNOWN");
    const before = heapAfterGc();
    // 1,000 names of 60,000 bytes: 60 MB if each name is kept after its watch.
    for (let i = 0; i < 1000; i++) await watchOnce(client, `${"x".repeat(60_000)}${i}`);
    const grown = heapAfterGc() - before;
    expect(grown).toBeLessThan(20_000_000);
    server.setServing(true);
    // On a new connection: a server may end one on which a client has just reset 1,000 streams (HTTP/2 rapid-reset
    // limits: `Session closed with error code 2`), which is not what this test is about (it failed so in CI); grpc-js
    // would otherwise share the first client's connection.
    const fresh = new Health(server.address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    try {
      expect(await watchOnce(fresh, "")).toBe("SERVING");
    } finally {
      fresh.close();
    }
  });

  it("tells an open watch NOT_SERVING at shutdown and ends it, so it does not hold the drain until the grace runs out", async () => {
    const { server, client } = await serve();
    server.setServing(true);
    const seen: string[] = [];
    const call = client.Watch({ service: "" });
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => undefined);
    await new Promise<void>((resolve) =>
      call.on("data", (m: { status: string }) => {
        seen.push(m.status);
        resolve();
      }),
    );
    // Past the grace the server cuts what is still open: the watch would end CANCELLED, not OK.
    await server.shutdown(10_000);
    const status = await ended;
    expect([seen, grpc.status[status.code]]).toEqual([["SERVING", "NOT_SERVING"], "OK"]);
  });

  it("stays NOT_SERVING once shut down, whatever the service says during the drain", async () => {
    const { server } = await serve();
    server.setServing(true);
    await server.shutdown(0);
    server.setServing(false);
    server.setServing(true);
    expect(server.isServing()).toBe(false);
  });
});

describe("grpc.health.v1 Check", () => {
  it("answers NOT_FOUND for a service the server does not serve, without echoing its name", async () => {
    const { client } = await serve();
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Check({ service: "no-such<script>" }, (e) => resolve(e)));
    expect([err?.code, err?.details]).toEqual([grpc.status.NOT_FOUND, "unknown service"]);
  });
});
