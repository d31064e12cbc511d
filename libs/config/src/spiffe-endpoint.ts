/**
 * Where the SPIFFE Workload API is served: a `workload_api.socket` (a
 * sidecar's tls, grpc_tls), or else the SPIFFE_ENDPOINT_SOCKET environment
 * variable (SPIFFE Workload Endpoint §4). Both pass the same check.
 */

/** The environment variable a Workload API client falls back to when no socket is configured. */
export const SPIFFE_ENDPOINT_SOCKET = "SPIFFE_ENDPOINT_SOCKET";

/** Why `value` is not a Workload API address this stack can dial (`unix:///absolute/path`); undefined when it is one. */
export function workloadApiSocketProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "expected unix:///path/to/agent.sock";
  }
  // TCP endpoints are allowed by the specification only where the network authenticates the workload; SPIRE agents serve a socket.
  if (url.protocol !== "unix:") return "expected unix:///path/to/agent.sock (only unix domain sockets are supported)";
  // §4: a unix URI has no authority and an absolute path, and nothing else.
  if (url.host !== "" || url.username !== "" || url.password !== "") return "a unix:// socket URI has no host: expected unix:///path/to/agent.sock";
  if (!url.pathname.startsWith("/") || url.pathname === "/") return "expected the absolute path of the socket: unix:///path/to/agent.sock";
  if (url.search !== "" || url.hash !== "") return "a unix:// socket URI has no query or fragment";
  return undefined;
}

/**
 * The socket of the `workload_api` section at `section`: its own, else SPIFFE_ENDPOINT_SOCKET (§4), which passes the
 * field's check; otherwise the problem, naming the field or the variable, that stops the start.
 */
export function resolveWorkloadApiSocket(
  configured: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  section: string,
): { socket: string } | { problem: string } {
  if (configured !== undefined) return { socket: configured };
  const socket = env[SPIFFE_ENDPOINT_SOCKET];
  if (!socket) return { problem: `${section}.socket: not configured and ${SPIFFE_ENDPOINT_SOCKET} is not set: give the SPIRE agent's socket (unix:///path)` };
  const problem = workloadApiSocketProblem(socket);
  return problem ? { problem: `${SPIFFE_ENDPOINT_SOCKET}: ${problem}` } : { socket };
}
