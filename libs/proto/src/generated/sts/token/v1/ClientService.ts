// Original file: proto/sts/token/v1/clients.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ClientRequest as _sts_token_v1_ClientRequest, ClientRequest__Output as _sts_token_v1_ClientRequest__Output } from '../../../sts/token/v1/ClientRequest.js';
import type { ClientResponse as _sts_token_v1_ClientResponse, ClientResponse__Output as _sts_token_v1_ClientResponse__Output } from '../../../sts/token/v1/ClientResponse.js';

/**
 * ClientService lets admin clients manage the clients they administer, and a
 * client read its configuration and rotate its own keys.
 */
export interface ClientServiceClient extends grpc.Client {
  /**
   * Delete removes a client (RFC 7592 §2.3). For Get, Update and Delete, a
   * client that does not exist and another admin's client answer alike:
   * UNAUTHENTICATED (invalid_token, RFC 7592 §2.1); a valid token of a client
   * that is no admin, or a client changing more than its keys or deleting
   * itself, is PERMISSION_DENIED (insufficient_scope).
   */
  Delete(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _sts_token_v1_ClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _sts_token_v1_ClientRequest, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Delete removes a client (RFC 7592 §2.3). For Get, Update and Delete, a
   * client that does not exist and another admin's client answer alike:
   * UNAUTHENTICATED (invalid_token, RFC 7592 §2.1); a valid token of a client
   * that is no admin, or a client changing more than its keys or deleting
   * itself, is PERMISSION_DENIED (insufficient_scope).
   */
  delete(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _sts_token_v1_ClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _sts_token_v1_ClientRequest, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Get reads a client's configuration (RFC 7592 §2.1).
   */
  Get(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _sts_token_v1_ClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Get(argument: _sts_token_v1_ClientRequest, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Get reads a client's configuration (RFC 7592 §2.1).
   */
  get(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _sts_token_v1_ClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  get(argument: _sts_token_v1_ClientRequest, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Register creates a client managed by the calling admin (RFC 7591 §3).
   */
  Register(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Register(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Register(argument: _sts_token_v1_ClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Register(argument: _sts_token_v1_ClientRequest, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Register creates a client managed by the calling admin (RFC 7591 §3).
   */
  register(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  register(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  register(argument: _sts_token_v1_ClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  register(argument: _sts_token_v1_ClientRequest, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Update replaces a client's configuration (RFC 7592 §2.2); a client itself
   * may change only its keys (jwks or jwks_uri).
   */
  Update(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Update(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Update(argument: _sts_token_v1_ClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  Update(argument: _sts_token_v1_ClientRequest, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Update replaces a client's configuration (RFC 7592 §2.2); a client itself
   * may change only its keys (jwks or jwks_uri).
   */
  update(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  update(argument: _sts_token_v1_ClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  update(argument: _sts_token_v1_ClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  update(argument: _sts_token_v1_ClientRequest, callback: grpc.requestCallback<_sts_token_v1_ClientResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * ClientService lets admin clients manage the clients they administer, and a
 * client read its configuration and rotate its own keys.
 */
export interface ClientServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Delete removes a client (RFC 7592 §2.3). For Get, Update and Delete, a
   * client that does not exist and another admin's client answer alike:
   * UNAUTHENTICATED (invalid_token, RFC 7592 §2.1); a valid token of a client
   * that is no admin, or a client changing more than its keys or deleting
   * itself, is PERMISSION_DENIED (insufficient_scope).
   */
  Delete: grpc.handleUnaryCall<_sts_token_v1_ClientRequest__Output, _sts_token_v1_ClientResponse>;
  
  /**
   * Get reads a client's configuration (RFC 7592 §2.1).
   */
  Get: grpc.handleUnaryCall<_sts_token_v1_ClientRequest__Output, _sts_token_v1_ClientResponse>;
  
  /**
   * Register creates a client managed by the calling admin (RFC 7591 §3).
   */
  Register: grpc.handleUnaryCall<_sts_token_v1_ClientRequest__Output, _sts_token_v1_ClientResponse>;
  
  /**
   * Update replaces a client's configuration (RFC 7592 §2.2); a client itself
   * may change only its keys (jwks or jwks_uri).
   */
  Update: grpc.handleUnaryCall<_sts_token_v1_ClientRequest__Output, _sts_token_v1_ClientResponse>;
  
}

export interface ClientServiceDefinition extends grpc.ServiceDefinition {
  Delete: MethodDefinition<_sts_token_v1_ClientRequest, _sts_token_v1_ClientResponse, _sts_token_v1_ClientRequest__Output, _sts_token_v1_ClientResponse__Output>
  Get: MethodDefinition<_sts_token_v1_ClientRequest, _sts_token_v1_ClientResponse, _sts_token_v1_ClientRequest__Output, _sts_token_v1_ClientResponse__Output>
  Register: MethodDefinition<_sts_token_v1_ClientRequest, _sts_token_v1_ClientResponse, _sts_token_v1_ClientRequest__Output, _sts_token_v1_ClientResponse__Output>
  Update: MethodDefinition<_sts_token_v1_ClientRequest, _sts_token_v1_ClientResponse, _sts_token_v1_ClientRequest__Output, _sts_token_v1_ClientResponse__Output>
}
