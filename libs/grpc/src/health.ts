/**
 * grpc.health.v1 as a server of this stack serves it: a fixed set of names (the whole server, "", and each of its
 * services) whose status the server alone sets. It replaces grpc-health-check's HealthImplementation, which keeps an
 * entry for every service name any caller has ever watched (a watch that ends leaves an empty set under its name), so
 * unauthenticated Watch calls naming ever new services grew the server's memory without bound; and whose Watch
 * streams stay open through a shutdown, holding the drain until its grace period runs out and the streams are cut.
 */
import * as grpc from "@grpc/grpc-js";
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData } from "@grpc/grpc-js";
import { service as healthDefinition } from "grpc-health-check";

/** The statuses a server reports (grpc.health.v1 ServingStatus, by name as the loader gives enums). */
export type ServingStatus = "SERVING" | "NOT_SERVING";

interface HealthCheckRequest {
  service: string;
}

interface HealthCheckResponse {
  status: ServingStatus | "SERVICE_UNKNOWN";
}

type Watch = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

/** The grpc.health.v1.Health service of one server, for the names it was made with. */
export class HealthService {
  readonly #statuses = new Map<string, ServingStatus>();
  /** The Watch streams open, by the name they watch: only names served here, each stream dropped as it ends. */
  readonly #watches = new Map<string, Set<Watch>>();
  /** The Watch streams open on names not served here: told nothing more, but ended at shutdown too. */
  readonly #unknown = new Set<Watch>();
  #closed = false;

  /** Every name in `names` starts NOT_SERVING. */
  constructor(names: readonly string[]) {
    for (const name of names) {
      this.#statuses.set(name, "NOT_SERVING");
      this.#watches.set(name, new Set());
    }
  }

  /** Sets every name's status, telling each Watch stream of a change; nothing changes once {@link close}d. */
  setAll(status: ServingStatus): void {
    if (this.#closed) return;
    for (const name of this.#statuses.keys()) this.#set(name, status);
  }

  /** Reports NOT_SERVING for good (the server shuts down) and ends every Watch stream after saying so, so that none holds the drain. */
  close(): void {
    if (this.#closed) return;
    for (const name of this.#statuses.keys()) this.#set(name, "NOT_SERVING");
    this.#closed = true;
    for (const watches of [...this.#watches.values(), this.#unknown]) {
      for (const call of watches) call.end();
      watches.clear();
    }
  }

  /** Serves the service on `server`. */
  addToServer(server: grpc.Server): void {
    server.addService(healthDefinition, {
      Check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) => {
        const status = this.#statuses.get(call.request.service);
        // The name is the caller's: not echoed.
        if (status) callback(null, { status });
        else callback({ code: grpc.status.NOT_FOUND, details: "unknown service" });
      },
      Watch: (call: Watch) => this.#watch(call),
      List: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<{ statuses: Record<string, HealthCheckResponse> }>) => {
        callback(null, { statuses: Object.fromEntries([...this.#statuses].map(([name, status]) => [name, { status }])) });
      },
    });
  }

  #watch(call: Watch): void {
    const name = call.request.service;
    const status = this.#statuses.get(name);
    // The names are fixed: one not served now never will be. The spec keeps such a watch open, told nothing more; its
    // name is kept nowhere once it ends.
    const watches = status ? this.#watches.get(name) : this.#unknown;
    call.write({ status: status ?? "SERVICE_UNKNOWN" });
    if (this.#closed || !watches) {
      call.end();
      return;
    }
    watches.add(call);
    call.once("cancelled", () => watches.delete(call));
  }

  #set(name: string, status: ServingStatus): void {
    if (this.#statuses.get(name) === status) return;
    this.#statuses.set(name, status);
    for (const call of this.#watches.get(name) ?? []) call.write({ status });
  }
}
