/**
 * The rule a TLS server of this stack holds its connections to when its CA bundle rotates (the stack's gRPC servers,
 * tls-listener.ts; a sidecar's inbound listeners): TLS checks a caller's chain once, at the handshake, and the
 * connection lasts as long as the caller keeps it. So a connection whose peer the new bundle no longer vouches for
 * is closed at the rotation, calls under way included; and a handshake begun under the old bundle, which completes
 * after the rotation, is checked against the new one before it serves.
 */
import type { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { bundleCertificates, connectionEnds, peerChainReaches } from "./peer-chain.js";

/** A server's open connections, held to its current CA bundle. The caller wires the server's events to it. */
export class BundleGate {
  #ca: Buffer;
  /** The CA bundle in use, parsed when first needed after it changed. */
  #bundle: X509Certificate[] | undefined;
  /** Counts the rotations that changed the bundle: a handshake begun under an earlier count was verified against an earlier bundle. */
  #generation = 0;
  /** The bundle count each connection still in its handshake was accepted under, by its ends. */
  readonly #handshaking = new Map<string, number>();
  /** The connections admitted and still open. */
  readonly connections = new Set<TLSSocket>();

  /** `requireClientCert` false: no client chain to hold to the bundle, so every handshake serves. */
  constructor(
    ca: Buffer,
    private readonly requireClientCert = true,
  ) {
    this.#ca = ca;
  }

  /** A TCP connection accepted (the server's `connection` event): notes the bundle its handshake is verified against. */
  opened(socket: Socket): void {
    const ends = connectionEnds(socket);
    this.#handshaking.set(ends, this.#generation);
    socket.once("close", () => this.#handshaking.delete(ends));
  }

  /**
   * A handshake completed (`secureConnection`): whether it may serve, verified against a bundle still in use or
   * reaching the one that replaced it. An admitted connection is held until it closes; a refused one is the caller's
   * to destroy.
   */
  admits(socket: TLSSocket): boolean {
    const ends = connectionEnds(socket);
    const acceptedUnder = this.#handshaking.get(ends);
    this.#handshaking.delete(ends);
    if (acceptedUnder !== this.#generation && !this.#trusted(socket)) return false;
    this.connections.add(socket);
    socket.once("close", () => this.connections.delete(socket));
    return true;
  }

  /** The server's material rotated to a set with bundle `ca`: when the bundle changed, the connections it no longer reaches are closed. */
  follow(ca: Buffer): void {
    if (ca.equals(this.#ca)) return;
    this.#ca = ca;
    this.#generation++;
    this.#bundle = undefined;
    for (const socket of this.connections) if (!this.#trusted(socket)) socket.destroy();
  }

  /** Whether `socket`'s peer chain reaches the bundle in use; a bundle or chain that cannot be read does not. */
  #trusted(socket: TLSSocket): boolean {
    if (!this.requireClientCert) return true;
    try {
      this.#bundle ??= bundleCertificates(this.#ca);
    } catch {
      return false;
    }
    return peerChainReaches(socket, this.#bundle);
  }
}
