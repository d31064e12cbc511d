/**
 * Transport security of the stack's gRPC ports and of the calls between the
 * services: TLS from PEM files, mutual unless turned off, or plaintext when
 * no files are configured (inside a mesh that supplies mTLS itself).
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";

/** The `grpc_tls` section of the config file. */
export interface GrpcTlsFiles {
  cert_file: string;
  key_file: string;
  ca_file: string;
  require_client_cert: boolean;
  /** SPIFFE ID each service must present, by service name; a service named here is checked by it instead of by host name. */
  spiffe_ids?: Readonly<Partial<Record<string, string>>>;
}

/** What a service listens with and dials with. */
export interface GrpcCredentials {
  server: grpc.ServerCredentials;
  /** Credentials to dial `service`: its SPIFFE ID is required when one is configured, else the dialled host name. */
  channelTo(service?: string): grpc.ChannelCredentials;
}

/** The one URI SAN of an X.509-SVID, or undefined when there is not exactly one. */
export function spiffeIdOf(peer: PeerCertificate): string | undefined {
  const uris = (peer.subjectaltname ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice("URI:".length));
  return uris.length === 1 ? uris[0] : undefined;
}

/** Verifies that the server presents exactly this SPIFFE ID (the chain to ca_file is verified by TLS itself). */
function requireSpiffeId(expected: string): (host: string, peer: PeerCertificate) => Error | undefined {
  return (_host, peer) => {
    const presented = spiffeIdOf(peer);
    return presented === expected ? undefined : new Error(`server presented ${presented ?? "no single SPIFFE ID"}, expected ${expected}`);
  };
}

/** Reads the TLS files once, at start; a missing or unusable file fails naming its field, never printing the key. */
export function grpcCredentials(tls: GrpcTlsFiles | undefined): GrpcCredentials {
  if (!tls) return { server: grpc.ServerCredentials.createInsecure(), channelTo: () => grpc.credentials.createInsecure() };
  const read = (field: "cert_file" | "key_file" | "ca_file"): Buffer => {
    try {
      return readFileSync(tls[field]);
    } catch (err) {
      throw new Error(`grpc_tls.${field}: cannot read ${tls[field]} (${(err as NodeJS.ErrnoException).code ?? "error"})`, { cause: err });
    }
  };
  const cert = read("cert_file");
  const key = read("key_file");
  const ca = read("ca_file");
  let matches: boolean;
  try {
    // grpc-js would only find a bad PEM, or a key that is not the certificate's, at the first handshake.
    createSecureContext({ cert, key, ca });
    // A bundle with no certificate in it is accepted by OpenSSL and would trust nothing.
    new X509Certificate(ca);
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new Error(`grpc_tls: the certificate, key or CA bundle is not usable (${(err as Error).message})`, { cause: err });
  }
  if (!matches) throw new Error("grpc_tls: the certificate, key or CA bundle is not usable (key_file is not the key of cert_file)");
  return {
    server: grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], tls.require_client_cert),
    channelTo(service) {
      const expected = service === undefined ? undefined : tls.spiffe_ids?.[service];
      return grpc.credentials.createSsl(ca, key, cert, expected ? { checkServerIdentity: requireSpiffeId(expected) } : {});
    },
  };
}
