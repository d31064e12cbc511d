/**
 * The gRPC contracts of the stack, loaded at runtime from proto/ with one set
 * of proto-loader options; the TypeScript types under generated/ come from the
 * same options (scripts/proto-gen.sh) and are never written by hand.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProtoGrpcType as TokenProto } from "./generated/token.js";
import type { ProtoGrpcType as ExchangeProto } from "./generated/exchange.js";
import type { ProtoGrpcType as PolicyProto } from "./generated/policy.js";
import type { ProtoGrpcType as AuditProto } from "./generated/audit.js";
import type { ProtoGrpcType as ClientsProto } from "./generated/clients.js";
import type { ProtoGrpcType as KeysProto } from "./generated/keys.js";
import type { ProtoGrpcType as WorkloadApiProto } from "./generated/workload.js";

/** The proto-loader options shared by runtime loading and type generation. */
export const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const satisfies protoLoader.Options;

/** Folder holding the .proto files (the repository's proto/). */
export const PROTO_DIR = fileURLToPath(new URL("../../../proto/", import.meta.url));

const cache = new Map<string, grpc.GrpcObject>();

function load(file: string): grpc.GrpcObject {
  let pkg = cache.get(file);
  if (!pkg) {
    const def = protoLoader.loadSync(file, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    pkg = grpc.loadPackageDefinition(def);
    cache.set(file, pkg);
  }
  return pkg;
}

/** Loads sts.token.v1 (TokenService). */
export function loadTokenProto(): TokenProto {
  return load("sts/token/v1/token.proto") as unknown as TokenProto;
}

/** Loads sts.exchange.v1 (ExchangeService). */
export function loadExchangeProto(): ExchangeProto {
  return load("sts/exchange/v1/exchange.proto") as unknown as ExchangeProto;
}

/** Loads sts.token.v1 ClientService (client management). */
export function loadClientsProto(): ClientsProto {
  return load("sts/token/v1/clients.proto") as unknown as ClientsProto;
}

/** Loads sts.token.v1 KeyService (signing-key management for operators). */
export function loadKeysProto(): KeysProto {
  return load("sts/token/v1/keys.proto") as unknown as KeysProto;
}

/** Loads sts.policy.v1 (PolicyService). */
export function loadPolicyProto(): PolicyProto {
  return load("sts/policy/v1/policy.proto") as unknown as PolicyProto;
}

/** Loads sts.audit.v1 (AuditService). */
export function loadAuditProto(): AuditProto {
  return load("sts/audit/v1/audit.proto") as unknown as AuditProto;
}

/** Loads the SPIFFE Workload API (SpiffeWorkloadAPI, no package): what a sidecar fetches its X.509-SVID with. */
export function loadWorkloadApiProto(): WorkloadApiProto {
  return load("spiffe/workload/workload.proto") as unknown as WorkloadApiProto;
}

/** Every proto file of the stack, relative to PROTO_DIR (for reflection; the Workload API is the SPIRE agent's, not served here). */
export const PROTO_FILES = [
  "sts/token/v1/token.proto",
  "sts/token/v1/clients.proto",
  "sts/token/v1/keys.proto",
  "sts/exchange/v1/exchange.proto",
  "sts/policy/v1/policy.proto",
  "sts/audit/v1/audit.proto",
] as const;

export type { TokenProto, ExchangeProto, PolicyProto, AuditProto, ClientsProto, KeysProto, WorkloadApiProto };
export type { SpiffeWorkloadAPIClient, SpiffeWorkloadAPIHandlers } from "./generated/SpiffeWorkloadAPI.js";
export type { X509SVIDResponse, X509SVIDResponse__Output } from "./generated/X509SVIDResponse.js";
export type { X509SVID, X509SVID__Output } from "./generated/X509SVID.js";
export type { ClientServiceClient, ClientServiceHandlers } from "./generated/sts/token/v1/ClientService.js";
export type { ClientRequest, ClientRequest__Output } from "./generated/sts/token/v1/ClientRequest.js";
export type { KeyServiceClient, KeyServiceHandlers } from "./generated/sts/token/v1/KeyService.js";
export type { ListKeysResponse, ListKeysResponse__Output } from "./generated/sts/token/v1/ListKeysResponse.js";
export type { RotateKeyResponse, RotateKeyResponse__Output } from "./generated/sts/token/v1/RotateKeyResponse.js";
export type { SigningKeyInfo, SigningKeyInfo__Output } from "./generated/sts/token/v1/SigningKeyInfo.js";
export type { WithdrawKeyRequest__Output } from "./generated/sts/token/v1/WithdrawKeyRequest.js";
export type { WithdrawKeyResponse, WithdrawKeyResponse__Output } from "./generated/sts/token/v1/WithdrawKeyResponse.js";
export type { AuditServiceClient, AuditServiceHandlers } from "./generated/sts/audit/v1/AuditService.js";
export type { Record as AuditRecord, Record__Output as AuditRecord__Output } from "./generated/sts/audit/v1/Record.js";
export type { Filter__Output as AuditFilter__Output } from "./generated/sts/audit/v1/Filter.js";
export type { LineageNode, LineageNode__Output } from "./generated/sts/audit/v1/LineageNode.js";
export type { LineageResponse, LineageResponse__Output } from "./generated/sts/audit/v1/LineageResponse.js";
export type { QueryResponse, QueryResponse__Output } from "./generated/sts/audit/v1/QueryResponse.js";
export type { VerifyResponse, VerifyResponse__Output } from "./generated/sts/audit/v1/VerifyResponse.js";
export type { TailRequest__Output } from "./generated/sts/audit/v1/TailRequest.js";
export type { TokenServiceClient, TokenServiceHandlers } from "./generated/sts/token/v1/TokenService.js";
export type { ExchangeServiceClient, ExchangeServiceHandlers } from "./generated/sts/exchange/v1/ExchangeService.js";
export type { PolicyServiceClient, PolicyServiceHandlers } from "./generated/sts/policy/v1/PolicyService.js";
export type { ClientAuthentication, ClientAuthentication__Output } from "./generated/sts/token/v1/ClientAuthentication.js";
export type { TokenRequest, TokenRequest__Output } from "./generated/sts/token/v1/TokenRequest.js";
export type { TokenResponse, TokenResponse__Output } from "./generated/sts/token/v1/TokenResponse.js";
export type { MintRequest, MintRequest__Output } from "./generated/sts/token/v1/MintRequest.js";
export type { AuthenticateClientRequest } from "./generated/sts/token/v1/AuthenticateClientRequest.js";
export type { AuthenticateClientResponse__Output } from "./generated/sts/token/v1/AuthenticateClientResponse.js";
export type { MintResponse, MintResponse__Output } from "./generated/sts/token/v1/MintResponse.js";
export type { TokenBatchRequest, TokenBatchRequest__Output } from "./generated/sts/token/v1/TokenBatchRequest.js";
export type { TokenBatchResponse, TokenBatchResponse__Output } from "./generated/sts/token/v1/TokenBatchResponse.js";
export type { MintBatchRequest, MintBatchRequest__Output } from "./generated/sts/token/v1/MintBatchRequest.js";
export type { MintBatchResponse, MintBatchResponse__Output } from "./generated/sts/token/v1/MintBatchResponse.js";
export type { IntrospectRequest__Output } from "./generated/sts/token/v1/IntrospectRequest.js";
export type { IntrospectResponse, IntrospectResponse__Output } from "./generated/sts/token/v1/IntrospectResponse.js";
export type { RevokeRequest__Output } from "./generated/sts/token/v1/RevokeRequest.js";
export type { RevokeSubjectRequest, RevokeSubjectRequest__Output } from "./generated/sts/token/v1/RevokeSubjectRequest.js";
export type { RevokeSubjectResponse, RevokeSubjectResponse__Output } from "./generated/sts/token/v1/RevokeSubjectResponse.js";
export type { Actor, Actor__Output } from "./generated/sts/token/v1/Actor.js";
export type { ExchangeRequest, ExchangeRequest__Output } from "./generated/sts/exchange/v1/ExchangeRequest.js";
export type { ExchangeResponse, ExchangeResponse__Output } from "./generated/sts/exchange/v1/ExchangeResponse.js";
export type { BackchannelLogoutRequest, BackchannelLogoutRequest__Output } from "./generated/sts/exchange/v1/BackchannelLogoutRequest.js";
export type { BackchannelLogoutResponse, BackchannelLogoutResponse__Output } from "./generated/sts/exchange/v1/BackchannelLogoutResponse.js";
export type { DecideRequest, DecideRequest__Output } from "./generated/sts/policy/v1/DecideRequest.js";
export type { Decision, Decision__Output } from "./generated/sts/policy/v1/Decision.js";
export type { Policy, Policy__Output } from "./generated/sts/policy/v1/Policy.js";
export type { ValidateRequest__Output } from "./generated/sts/policy/v1/ValidateRequest.js";
export type { PutRequest__Output } from "./generated/sts/policy/v1/PutRequest.js";
export type { PutResponse__Output } from "./generated/sts/policy/v1/PutResponse.js";
export type { ListResponse__Output } from "./generated/sts/policy/v1/ListResponse.js";
export type { ResetRequest__Output } from "./generated/sts/policy/v1/ResetRequest.js";
export type { ResetResponse, ResetResponse__Output } from "./generated/sts/policy/v1/ResetResponse.js";
export type { Author, Author__Output } from "./generated/sts/policy/v1/Author.js";
