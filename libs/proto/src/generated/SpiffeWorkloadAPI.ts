// Original file: proto/spiffe/workload/workload.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { X509SVIDRequest as _X509SVIDRequest, X509SVIDRequest__Output as _X509SVIDRequest__Output } from './X509SVIDRequest.js';
import type { X509SVIDResponse as _X509SVIDResponse, X509SVIDResponse__Output as _X509SVIDResponse__Output } from './X509SVIDResponse.js';

/**
 * SpiffeWorkloadAPI is served by the agent on a local socket. Every call must
 * carry the metadata `workload.spiffe.io: true` (SSRF hardening); a call
 * without it is refused with INVALID_ARGUMENT.
 */
export interface SpiffeWorkloadAPIClient extends grpc.Client {
  /**
   * FetchX509SVID streams the X.509-SVIDs the calling workload is entitled to,
   * and a new response each time they change (rotation). PERMISSION_DENIED
   * means no identity is registered for the caller (yet).
   */
  FetchX509SVID(argument: _X509SVIDRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_X509SVIDResponse__Output>;
  FetchX509SVID(argument: _X509SVIDRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_X509SVIDResponse__Output>;
  /**
   * FetchX509SVID streams the X.509-SVIDs the calling workload is entitled to,
   * and a new response each time they change (rotation). PERMISSION_DENIED
   * means no identity is registered for the caller (yet).
   */
  fetchX509Svid(argument: _X509SVIDRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_X509SVIDResponse__Output>;
  fetchX509Svid(argument: _X509SVIDRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_X509SVIDResponse__Output>;
  
}

/**
 * SpiffeWorkloadAPI is served by the agent on a local socket. Every call must
 * carry the metadata `workload.spiffe.io: true` (SSRF hardening); a call
 * without it is refused with INVALID_ARGUMENT.
 */
export interface SpiffeWorkloadAPIHandlers extends grpc.UntypedServiceImplementation {
  /**
   * FetchX509SVID streams the X.509-SVIDs the calling workload is entitled to,
   * and a new response each time they change (rotation). PERMISSION_DENIED
   * means no identity is registered for the caller (yet).
   */
  FetchX509SVID: grpc.handleServerStreamingCall<_X509SVIDRequest__Output, _X509SVIDResponse>;
  
}

export interface SpiffeWorkloadAPIDefinition extends grpc.ServiceDefinition {
  FetchX509SVID: MethodDefinition<_X509SVIDRequest, _X509SVIDResponse, _X509SVIDRequest__Output, _X509SVIDResponse__Output>
}
