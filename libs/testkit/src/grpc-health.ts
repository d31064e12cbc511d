/** One grpc.health.v1 Check call. */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";

type HealthClient = grpc.Client & {
  Check(req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
};
let ctor: (new (address: string, creds: grpc.ChannelCredentials) => HealthClient) | undefined;

/** True iff the server at address reports SERVING for service ("" = whole server). */
export async function grpcHealthy(address: string, service = ""): Promise<boolean> {
  if (!ctor) {
    const def = protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: typeof ctor } } } };
    ctor = pkg.grpc.health.v1.Health;
  }
  const client = new (ctor as NonNullable<typeof ctor>)(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<boolean>((resolve) => {
      client.Check({ service }, { deadline: Date.now() + 1000 }, (err, res) => resolve(!err && res?.status === "SERVING"));
    });
  } finally {
    client.close();
  }
}
