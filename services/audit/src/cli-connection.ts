/** How stsctl reaches a service: the gRPC channel (mutual TLS or plaintext) and one unary call. */
import type { CallOptions, ChannelCredentials, Client, Metadata, ServiceError } from "@grpc/grpc-js";
import { grpcCredentials } from "@sts/grpc";
import { UsageError } from "./cli-credential.js";

/** --tls-ca, --tls-cert, --tls-key (or STS_GRPC_TLS_*_FILE). */
export interface TlsFileOptions {
  ca_file: string | undefined;
  cert_file: string | undefined;
  key_file: string | undefined;
}

/** The channel credentials: mutual TLS with all three files, plaintext (a stack without grpc_tls) with none. */
export function channelCredentials(tls: TlsFileOptions): ChannelCredentials {
  const given = [tls.ca_file, tls.cert_file, tls.key_file].filter(Boolean).length;
  if (given !== 0 && given !== 3) throw new UsageError("TLS needs all three of --tls-ca, --tls-cert and --tls-key");
  const files = tls.ca_file && tls.cert_file && tls.key_file ? { ca_file: tls.ca_file, cert_file: tls.cert_file, key_file: tls.key_file } : undefined;
  try {
    return grpcCredentials(files && { ...files, require_client_cert: true }).channelTo();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * How long stsctl waits for one answer. A service that took the connection but does not answer (stalled, or paused
 * mid-restart) would otherwise hold the command, and a script running it, for ever.
 */
export const CALL_DEADLINE_MS = 60_000;

/** Calls one unary method; rejects with the ServiceError the server answered, or DEADLINE_EXCEEDED after `deadlineMs`. */
export function unaryCall<T>(client: Client, method: string, request: object, metadata: Metadata, deadlineMs = CALL_DEADLINE_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    type Unary = (r: object, m: Metadata, o: CallOptions, cb: (e: ServiceError | null, v?: T) => void) => void;
    const fn = (client as unknown as Record<string, Unary>)[method];
    if (!fn) throw new TypeError(`no method ${method}`);
    fn.call(client, request, metadata, { deadline: Date.now() + deadlineMs }, (err, value) => (err ? reject(err) : resolve(value as T)));
  });
}
