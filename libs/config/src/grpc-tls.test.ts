import { describe, expect, it } from "vitest";
import { parseConfig } from "./index.js";

/** Matches the ConfigError that lists exactly these problems (an asymmetric matcher, which toThrow takes where it types an Error). */
const refusedWith = (...problems: string[]): Error => expect.objectContaining({ name: "ConfigError", problems }) as Error;

const FILES = { cert_file: "/tls/tls.crt", key_file: "/tls/tls.key", ca_file: "/tls/ca.crt" };
const SOCKET = "unix:///run/spire/agent.sock";
const EXCHANGER_ID = "spiffe://mesh.example/ns/mesh-sts/sa/exchanger";

describe("grpc_tls sources", () => {
  it("takes the three files, read again every 60 s by default (0 reads them once)", () => {
    expect(parseConfig({ grpc_tls: FILES }).grpc_tls).toEqual({ ...FILES, require_client_cert: true, reload_interval: 60 });
    expect(parseConfig({ grpc_tls: { ...FILES, reload_interval: "5m" } }).grpc_tls).toEqual({ ...FILES, require_client_cert: true, reload_interval: 300 });
    expect(parseConfig({ grpc_tls: { ...FILES, reload_interval: 0 } }).grpc_tls).toMatchObject({ reload_interval: 0 });
  });

  it("takes the Workload API instead, with a 30 s startup_timeout by default, parsed as a duration", () => {
    expect(parseConfig({ grpc_tls: { workload_api: { socket: SOCKET } } }).grpc_tls).toEqual({
      workload_api: { socket: SOCKET, startup_timeout: 30 },
      require_client_cert: true,
    });
    expect(parseConfig({ grpc_tls: { workload_api: { socket: SOCKET, startup_timeout: "2m" } } }).grpc_tls).toMatchObject({
      workload_api: { startup_timeout: 120 },
    });
  });

  it("keeps require_client_cert and spiffe_ids with the Workload API, and the pin that needs the client's certificate", () => {
    const spiffe_ids = { issuer: "spiffe://mesh.example/ns/mesh-sts/sa/issuer", exchanger: EXCHANGER_ID };
    expect(parseConfig({ grpc_tls: { workload_api: { socket: SOCKET }, spiffe_ids } }).grpc_tls).toEqual({
      workload_api: { socket: SOCKET, startup_timeout: 30 },
      require_client_cert: true,
      spiffe_ids,
    });
    expect(parseConfig({ grpc_tls: { workload_api: { socket: SOCKET }, require_client_cert: false } }).grpc_tls?.require_client_cert).toBe(false);
    expect(() => parseConfig({ grpc_tls: { workload_api: { socket: SOCKET }, require_client_cert: false, spiffe_ids } })).toThrow(
      refusedWith("grpc_tls.require_client_cert: must stay true while spiffe_ids.exchanger pins Mint and Decide to the exchanger's certificate"),
    );
  });

  it("takes exactly one source: refuses the files with workload_api, and neither, naming the field", () => {
    expect(() => parseConfig({ grpc_tls: { ...FILES, workload_api: { socket: SOCKET } } })).toThrow(
      refusedWith("grpc_tls.workload_api: not with cert_file, key_file, ca_file: give the files or workload_api"),
    );
    expect(() => parseConfig({ grpc_tls: { ca_file: FILES.ca_file, workload_api: { socket: SOCKET } } })).toThrow(
      refusedWith("grpc_tls.workload_api: not with ca_file: give the files or workload_api"),
    );
    expect(() => parseConfig({ grpc_tls: {} })).toThrow(refusedWith("grpc_tls: needs cert_file, key_file and ca_file, or workload_api"));
    expect(() => parseConfig({ grpc_tls: { spiffe_ids: { exchanger: EXCHANGER_ID } } })).toThrow(
      refusedWith("grpc_tls: needs cert_file, key_file and ca_file, or workload_api"),
    );
    expect(() => parseConfig({ grpc_tls: { cert_file: FILES.cert_file, key_file: FILES.key_file } })).toThrow(
      refusedWith("grpc_tls.ca_file: required with cert_file and key_file (or workload_api instead of the files)"),
    );
  });

  it("refuses the files given through the environment beside a workload_api in the file", () => {
    const env = { STS_GRPC_TLS_CERT_FILE: FILES.cert_file, STS_GRPC_TLS_KEY_FILE: FILES.key_file, STS_GRPC_TLS_CA_FILE: FILES.ca_file };
    expect(() => parseConfig({ grpc_tls: { workload_api: { socket: SOCKET } } }, env)).toThrow(
      refusedWith("grpc_tls.workload_api: not with cert_file, key_file, ca_file: give the files or workload_api"),
    );
  });

  it("refuses reload_interval with workload_api (the agent pushes rotations), and unknown fields", () => {
    expect(() => parseConfig({ grpc_tls: { workload_api: { socket: SOCKET }, reload_interval: 60 } })).toThrow(
      refusedWith("grpc_tls.reload_interval: for the files only: the Workload API pushes each rotation"),
    );
    expect(() => parseConfig({ grpc_tls: { workload_api: { path: "/run/spire/agent.sock" } } })).toThrow(
      refusedWith("grpc_tls.workload_api.path: unknown field"),
    );
  });

  it("takes only a unix:// socket with an absolute path (SPIFFE Workload Endpoint §4), as a sidecar's does", () => {
    const withSocket = (socket: string) => () => parseConfig({ grpc_tls: { workload_api: { socket } } });
    expect(withSocket("tcp://127.0.0.1:8081")).toThrow(
      refusedWith("grpc_tls.workload_api.socket: expected unix:///path/to/agent.sock (only unix domain sockets are supported)"),
    );
    expect(withSocket("/run/spire/agent.sock")).toThrow(refusedWith("grpc_tls.workload_api.socket: expected unix:///path/to/agent.sock"));
    expect(withSocket("unix://agent/run/spire/agent.sock")).toThrow(
      refusedWith("grpc_tls.workload_api.socket: a unix:// socket URI has no host: expected unix:///path/to/agent.sock"),
    );
  });
});

describe("grpc_tls.workload_api's socket from SPIFFE_ENDPOINT_SOCKET", () => {
  it("takes SPIFFE_ENDPOINT_SOCKET when the file names no socket (SPIFFE Workload Endpoint §4)", () => {
    expect(parseConfig({ grpc_tls: { workload_api: {} } }, { SPIFFE_ENDPOINT_SOCKET: SOCKET }).grpc_tls).toMatchObject({
      workload_api: { socket: SOCKET, startup_timeout: 30 },
    });
  });

  it("prefers the configured socket to SPIFFE_ENDPOINT_SOCKET", () => {
    const configured = "unix:///var/run/agent.sock";
    expect(parseConfig({ grpc_tls: { workload_api: { socket: configured } } }, { SPIFFE_ENDPOINT_SOCKET: SOCKET }).grpc_tls).toMatchObject({
      workload_api: { socket: configured },
    });
  });

  it("refuses to start with neither, or with a SPIFFE_ENDPOINT_SOCKET that is not a unix socket URI", () => {
    expect(() => parseConfig({ grpc_tls: { workload_api: {} } })).toThrow(
      refusedWith("grpc_tls.workload_api.socket: not configured and SPIFFE_ENDPOINT_SOCKET is not set: give the SPIRE agent's socket (unix:///path)"),
    );
    expect(() => parseConfig({ grpc_tls: { workload_api: {} } }, { SPIFFE_ENDPOINT_SOCKET: "tcp://127.0.0.1:8081" })).toThrow(
      refusedWith("SPIFFE_ENDPOINT_SOCKET: expected unix:///path/to/agent.sock (only unix domain sockets are supported)"),
    );
  });

  it("is not needed by a config without grpc_tls.workload_api (a sidecar's own is resolved by the sidecar)", () => {
    expect(parseConfig({ grpc_tls: FILES }).grpc_tls).not.toHaveProperty("workload_api");
    const sidecars = { "svc-a": { inbound: { port: 7001 }, outbound: { port: 7002 }, upstream: "http://127.0.0.1:8001", tls: { workload_api: {} } } };
    expect(parseConfig({ sidecars }).sidecars["svc-a"]?.tls).toEqual({ workload_api: { startup_timeout: 30 } });
  });
});
