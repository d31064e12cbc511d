import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";

/** Matches the ConfigError that lists exactly these problems (an asymmetric matcher, which toThrow takes where it types an Error). */
const refusedWith = (...problems: string[]): Error => expect.objectContaining({ name: "ConfigError", problems }) as Error;

const TLS = { cert_file: "/svid/tls.crt", key_file: "/svid/tls.key", ca_file: "/svid/ca.crt" };
const B_ID = "spiffe://mesh.example/ns/b/sa/svc-b";

/** A config with one sidecar, svc-a, with these extra fields and one route, svc-b. */
const withSidecar = (extra: Record<string, unknown>, route: Record<string, unknown>) => ({
  sidecars: {
    "svc-a": {
      inbound: { port: 7001 },
      outbound: { port: 7002 },
      upstream: "http://127.0.0.1:8001",
      ...extra,
      routes: { "svc-b": { url: "http://svc-b:7001", audience: "svc-b", scopes: "b", ...route } },
    },
  },
});

describe("sidecars.*.tls", () => {
  it("is off by default: plaintext routes and no tls section", () => {
    const sidecar = parseConfig(withSidecar({}, {})).sidecars["svc-a"];
    expect(sidecar?.tls).toBeUndefined();
    expect(sidecar?.routes["svc-b"]?.spiffe_id).toBeUndefined();
  });

  it("takes the three files, reloads every 60 s by default, and parses reload_interval as a duration (0 reads once)", () => {
    expect(parseConfig(withSidecar({ tls: TLS }, {})).sidecars["svc-a"]?.tls).toEqual({ ...TLS, reload_interval: 60 });
    expect(parseConfig(withSidecar({ tls: { ...TLS, reload_interval: "5m" } }, {})).sidecars["svc-a"]?.tls).toEqual({ ...TLS, reload_interval: 300 });
    expect(parseConfig(withSidecar({ tls: { ...TLS, reload_interval: 0 } }, {})).sidecars["svc-a"]?.tls).toEqual({ ...TLS, reload_interval: 0 });
  });

  it("requires all three files and refuses unknown fields, naming each", () => {
    expect(() => parseConfig(withSidecar({ tls: { cert_file: TLS.cert_file, key_file: TLS.key_file } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.ca_file: required with cert_file and key_file (or workload_api instead of the files)"),
    );
    expect(() => parseConfig(withSidecar({ tls: { ...TLS, require_client_cert: false } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.require_client_cert: unknown field"),
    );
  });

  it("takes allowed_peers as SPIFFE IDs, and refuses anything else or an empty list", () => {
    const tls = { ...TLS, allowed_peers: ["spiffe://mesh.example/ns/a/sa/svc-a"] };
    expect(parseConfig(withSidecar({ tls }, {})).sidecars["svc-a"]?.tls?.allowed_peers).toEqual(["spiffe://mesh.example/ns/a/sa/svc-a"]);
    expect(() => parseConfig(withSidecar({ tls: { ...TLS, allowed_peers: ["svc-a"] } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.allowed_peers[0]: expected spiffe://trust-domain/path"),
    );
    expect(() => parseConfig(withSidecar({ tls: { ...TLS, allowed_peers: [] } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.allowed_peers: list at least one SPIFFE ID, or leave allowed_peers out"),
    );
  });

  it("takes peer_clients as SPIFFE ID → client id, and refuses a key that is not a SPIFFE ID or an empty client id", () => {
    const peer_clients = { "spiffe://mesh.example/ns/a/sa/svc-a": "svc-a" };
    expect(parseConfig(withSidecar({ tls: { ...TLS, peer_clients } }, {})).sidecars["svc-a"]?.tls?.peer_clients).toEqual(peer_clients);
    expect(() => parseConfig(withSidecar({ tls: { ...TLS, peer_clients: { "svc-a": "svc-a" } } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.peer_clients.svc-a: Invalid key in record"),
    );
    expect(() => parseConfig(withSidecar({ tls: { ...TLS, peer_clients: { "spiffe://mesh.example/ns/a/sa/svc-a": "" } } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.peer_clients.spiffe://mesh.example/ns/a/sa/svc-a: Too small: expected string to have >=1 characters"),
    );
  });
});

describe("sidecars.*.tls.workload_api", () => {
  const SOCKET = "unix:///run/spire/agent.sock";

  it("takes the Workload API instead of the files, its socket optional (SPIFFE_ENDPOINT_SOCKET) and a 30 s startup_timeout by default", () => {
    expect(parseConfig(withSidecar({ tls: { workload_api: {} } }, {})).sidecars["svc-a"]?.tls).toEqual({ workload_api: { startup_timeout: 30 } });
    const tls = { workload_api: { socket: SOCKET, startup_timeout: "2m" }, allowed_peers: ["spiffe://mesh.example/ns/a/sa/svc-a"] };
    expect(parseConfig(withSidecar({ tls }, {})).sidecars["svc-a"]?.tls).toEqual({ ...tls, workload_api: { socket: SOCKET, startup_timeout: 120 } });
  });

  it("keeps https routes with a spiffe_id working with the Workload API as the source", () => {
    const route = { url: "https://svc-b:7001", spiffe_id: B_ID };
    expect(parseConfig(withSidecar({ tls: { workload_api: { socket: SOCKET } } }, route)).sidecars["svc-a"]?.routes["svc-b"]).toMatchObject(route);
  });

  it("takes exactly one source: refuses the files and workload_api together, and neither, naming the field", () => {
    expect(() => parseConfig(withSidecar({ tls: { ...TLS, workload_api: { socket: SOCKET } } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.workload_api: not with cert_file, key_file, ca_file: give the files or workload_api"),
    );
    expect(() => parseConfig(withSidecar({ tls: { ca_file: TLS.ca_file, workload_api: {} } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.workload_api: not with ca_file: give the files or workload_api"),
    );
    expect(() => parseConfig(withSidecar({ tls: {} }, {}))).toThrow(refusedWith("sidecars.svc-a.tls: needs cert_file, key_file and ca_file, or workload_api"));
    expect(() => parseConfig(withSidecar({ tls: { allowed_peers: [B_ID] } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls: needs cert_file, key_file and ca_file, or workload_api"),
    );
  });

  it("refuses reload_interval with workload_api (the agent pushes rotations) and unknown fields", () => {
    expect(() => parseConfig(withSidecar({ tls: { workload_api: {}, reload_interval: 60 } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.reload_interval: for the files only: the Workload API pushes each rotation"),
    );
    expect(() => parseConfig(withSidecar({ tls: { workload_api: { path: "/run/spire/agent.sock" } } }, {}))).toThrow(
      refusedWith("sidecars.svc-a.tls.workload_api.path: unknown field"),
    );
  });

  it("takes only a unix:// socket with an absolute path (SPIFFE Workload Endpoint §4)", () => {
    const socketProblem = (socket: string) => () => parseConfig(withSidecar({ tls: { workload_api: { socket } } }, {}));
    expect(parseConfig(withSidecar({ tls: { workload_api: { socket: "unix:/run/spire/agent.sock" } } }, {})).sidecars["svc-a"]?.tls).toMatchObject({
      workload_api: { socket: "unix:/run/spire/agent.sock" },
    });
    expect(socketProblem("/run/spire/agent.sock")).toThrow(refusedWith("sidecars.svc-a.tls.workload_api.socket: expected unix:///path/to/agent.sock"));
    expect(socketProblem("tcp://127.0.0.1:8081")).toThrow(
      refusedWith("sidecars.svc-a.tls.workload_api.socket: expected unix:///path/to/agent.sock (only unix domain sockets are supported)"),
    );
    expect(socketProblem("unix://agent/run/spire/agent.sock")).toThrow(
      refusedWith("sidecars.svc-a.tls.workload_api.socket: a unix:// socket URI has no host: expected unix:///path/to/agent.sock"),
    );
    expect(socketProblem("unix:agent.sock")).toThrow(
      refusedWith("sidecars.svc-a.tls.workload_api.socket: expected the absolute path of the socket: unix:///path/to/agent.sock"),
    );
    expect(socketProblem("unix:///run/spire/agent.sock?x=1")).toThrow(
      refusedWith("sidecars.svc-a.tls.workload_api.socket: a unix:// socket URI has no query or fragment"),
    );
  });
});

describe("sidecars.*.routes with mutual TLS", () => {
  it("takes an https route with a spiffe_id when the sidecar has tls", () => {
    const route = parseConfig(withSidecar({ tls: TLS }, { url: "https://svc-b:7001", grpc_url: "https://svc-b:7003", spiffe_id: B_ID })).sidecars["svc-a"]
      ?.routes["svc-b"];
    expect(route).toMatchObject({ url: "https://svc-b:7001", grpc_url: "https://svc-b:7003", spiffe_id: B_ID });
  });

  it("takes an https route without spiffe_id (the host name is checked then)", () => {
    expect(parseConfig(withSidecar({ tls: TLS }, { url: "https://svc-b:7001" })).sidecars["svc-a"]?.routes["svc-b"]?.url).toBe("https://svc-b:7001");
  });

  it("refuses an https url or grpc_url on a sidecar without tls, naming the field", () => {
    expect(() => parseConfig(withSidecar({}, { url: "https://svc-b:7001" }))).toThrow(
      refusedWith("sidecars.svc-a.routes.svc-b.url: an https:// route needs the sidecar's tls (its certificate and ca_file)"),
    );
    expect(() => parseConfig(withSidecar({}, { grpc_url: "HTTPS://svc-b:7003" }))).toThrow(
      refusedWith("sidecars.svc-a.routes.svc-b.grpc_url: an https:// route needs the sidecar's tls (its certificate and ca_file)"),
    );
  });

  it("refuses a spiffe_id on a route that would go over http://, where it could never be checked", () => {
    expect(() => parseConfig(withSidecar({ tls: TLS }, { spiffe_id: B_ID }))).toThrow(
      refusedWith("sidecars.svc-a.routes.svc-b.spiffe_id: needs https:// in url: it is checked in the TLS handshake"),
    );
    // gRPC calls would go in clear to grpc_url, past the check.
    expect(() => parseConfig(withSidecar({ tls: TLS }, { url: "https://svc-b:7001", grpc_url: "http://svc-b:7003", spiffe_id: B_ID }))).toThrow(
      refusedWith("sidecars.svc-a.routes.svc-b.spiffe_id: needs https:// in grpc_url: it is checked in the TLS handshake"),
    );
  });

  it("refuses a spiffe_id that is not one", () => {
    expect(() => parseConfig(withSidecar({ tls: TLS }, { url: "https://svc-b:7001", spiffe_id: "spiffe://mesh.example/../b" }))).toThrow(
      refusedWith("sidecars.svc-a.routes.svc-b.spiffe_id: a SPIFFE ID path has no . or .. segment"),
    );
  });
});
