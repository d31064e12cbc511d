/**
 * A stand-in for a SPIRE agent: a real gRPC server serving the SPIFFE Workload
 * API's FetchX509SVID on a unix socket. Like SPIRE it refuses a call without
 * the `workload.spiffe.io: true` header (INVALID_ARGUMENT); it sends the
 * current response to each new stream, and every response pushed to all open
 * streams. Without a response it keeps streams open and silent: an agent that
 * never answers. It can also end the streams with an error, as an agent does
 * that withdraws the caller's identity or blames its request.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { Metadata, Server, ServerCredentials, status } from "@grpc/grpc-js";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { loadWorkloadApiProto } from "@sts/proto";
import type { X509SVIDResponse } from "@sts/proto";
import type { CertFiles } from "./pki.js";

/** A running stand-in agent. */
export interface WorkloadApiServer {
  /** Its endpoint as SPIFFE_ENDPOINT_SOCKET would name it: `unix:///path`. */
  readonly socket: string;
  /** Calls refused for want of the security header. */
  refused(): number;
  /** Calls that carried it. */
  accepted(): number;
  /** Sends `response` on every open stream, and to every stream opened later. */
  push(response: X509SVIDResponse): void;
  /**
   * Ends every open stream with `code` and answers each stream opened later the same way, until the next push:
   * PERMISSION_DENIED is an agent that no longer has an identity for the caller, INVALID_ARGUMENT one that blames it.
   */
  fail(code: status, details: string): void;
  /** Shuts the server down, cutting its streams; the socket file goes with it. */
  stop(): Promise<void>;
}

/** One SVID as PEM files (from {@link makeTestCa}) and the SPIFFE ID it names. */
export interface SvidFiles extends CertFiles {
  spiffeId: string;
  ca_file: string;
}

/** The Workload API's message for one SVID: the PEM files turned into DER as the agent sends them (leaf, PKCS#8 key, CA bundle). */
export function svidResponse(svid: SvidFiles): X509SVIDResponse {
  return {
    svids: [
      {
        spiffe_id: svid.spiffeId,
        x509_svid: new X509Certificate(readFileSync(svid.cert_file)).raw,
        x509_svid_key: createPrivateKey(readFileSync(svid.key_file)).export({ format: "der", type: "pkcs8" }),
        bundle: new X509Certificate(readFileSync(svid.ca_file)).raw,
      },
    ],
  };
}

/** Starts the stand-in on the unix socket at `path` (in a temp dir), answering with `initial` when given. */
export async function startWorkloadApiServer(path: string, initial?: X509SVIDResponse): Promise<WorkloadApiServer> {
  const streams = new Set<ServerWritableStream<unknown, X509SVIDResponse>>();
  let current = initial;
  let failure: { code: status; details: string } | undefined;
  let refused = 0;
  let accepted = 0;
  const server = new Server();
  server.addService(loadWorkloadApiProto().SpiffeWorkloadAPI.service, {
    FetchX509SVID: (call: ServerWritableStream<unknown, X509SVIDResponse>) => {
      if (call.metadata.get("workload.spiffe.io")[0] !== "true") {
        refused++;
        call.emit("error", { code: status.INVALID_ARGUMENT, details: "security header missing from request", metadata: new Metadata() });
        return;
      }
      accepted++;
      if (failure) {
        call.emit("error", { ...failure, metadata: new Metadata() });
        return;
      }
      streams.add(call);
      call.on("cancelled", () => streams.delete(call));
      if (current) call.write(current);
    },
  });
  const socket = `unix://${path}`;
  await new Promise<void>((resolve, reject) => server.bindAsync(socket, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return {
    socket,
    refused: () => refused,
    accepted: () => accepted,
    push(response) {
      current = response;
      failure = undefined;
      for (const call of streams) call.write(response);
    },
    fail(code, details) {
      failure = { code, details };
      for (const call of streams) call.emit("error", { ...failure, metadata: new Metadata() });
      streams.clear();
    },
    stop() {
      server.forceShutdown();
      streams.clear();
      return Promise.resolve();
    },
  };
}
