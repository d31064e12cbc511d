/** stsctl's one unary call against a real gRPC server on loopback that takes the call and never answers. */
import { describe, expect, it } from "vitest";
import { Metadata, Server, ServerCredentials, credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { loadKeysProto } from "@sts/proto";
import { unaryCall } from "./cli-connection.js";

describe("unaryCall", () => {
  it("ends DEADLINE_EXCEEDED when the service takes the call and never answers, rather than waiting for ever", async () => {
    const KeyService = loadKeysProto().sts.token.v1.KeyService;
    const server = new Server();
    let asked = 0;
    server.addService(KeyService.service, { List: () => void asked++ });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const client = new KeyService(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const err = await unaryCall(client, "List", {}, new Metadata(), 300).then(
        () => undefined,
        (e: unknown) => e as ServiceError,
      );
      expect([asked, err?.code]).toEqual([1, status.DEADLINE_EXCEEDED]);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
