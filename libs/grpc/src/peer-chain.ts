/**
 * Whether the certificate chain a TLS peer was verified with still holds
 * against a CA bundle that has changed since its handshake: TLS checks a
 * chain once, a connection lasts as long as its peer keeps it alive.
 */
import { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import { svidChainProblem } from "./svid-material.js";

/** More certificates than any chain a handshake accepts (OpenSSL's default depth is 100): a cycle, or garbage. */
const MAX_CHAIN = 16;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The certificates of a PEM CA bundle (ca_file, or the Workload API's bundle as PEM). */
export function bundleCertificates(pem: Buffer): X509Certificate[] {
  return (pem.toString("latin1").match(PEM_CERTIFICATE) ?? []).map((block) => new X509Certificate(block));
}

/** The chain `socket`'s peer was verified with at its handshake, leaf first, as Node reports it (up to its root). */
function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<DetailedPeerCertificate>();
  // A self-signed certificate is its own issuerCertificate. Null once the socket is gone, whatever its type says.
  let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate | null | undefined;
  while (cert?.raw && !seen.has(cert) && chain.length < MAX_CHAIN) {
    seen.add(cert);
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * Whether `socket`'s peer chain is still one `bundle` vouches for at `now`, by the rule a Workload API SVID is held to
 * ({@link svidChainProblem}). No certificate, or a chain that cannot be read, does not.
 */
export function peerChainReaches(socket: TLSSocket, bundle: readonly X509Certificate[], now: number = Date.now()): boolean {
  try {
    const chain = peerChain(socket);
    return chain.length > 0 && svidChainProblem(chain, bundle, now) === undefined;
  } catch {
    return false;
  }
}

/** A connection's two ends, the same on the TCP socket a listener accepts and on the TLS socket made of it. */
export const connectionEnds = (socket: Socket): string => `${socket.localAddress}:${socket.localPort} ${socket.remoteAddress}:${socket.remotePort}`;
