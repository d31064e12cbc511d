// Original file: proto/sts/exchange/v1/exchange.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BackchannelLogoutRequest as _sts_exchange_v1_BackchannelLogoutRequest, BackchannelLogoutRequest__Output as _sts_exchange_v1_BackchannelLogoutRequest__Output } from '../../../sts/exchange/v1/BackchannelLogoutRequest.js';
import type { BackchannelLogoutResponse as _sts_exchange_v1_BackchannelLogoutResponse, BackchannelLogoutResponse__Output as _sts_exchange_v1_BackchannelLogoutResponse__Output } from '../../../sts/exchange/v1/BackchannelLogoutResponse.js';
import type { ExchangeRequest as _sts_exchange_v1_ExchangeRequest, ExchangeRequest__Output as _sts_exchange_v1_ExchangeRequest__Output } from '../../../sts/exchange/v1/ExchangeRequest.js';
import type { ExchangeResponse as _sts_exchange_v1_ExchangeResponse, ExchangeResponse__Output as _sts_exchange_v1_ExchangeResponse__Output } from '../../../sts/exchange/v1/ExchangeResponse.js';

/**
 * ExchangeService swaps a token for a down-scoped, audience-restricted one.
 */
export interface ExchangeServiceClient extends grpc.Client {
  /**
   * BackchannelLogout takes an OpenID Connect Back-Channel Logout token from a
   * trusted issuer configured with `backchannel_logout`: once it verifies, the
   * user it names is signed out of the mesh (the issuer's RevokeSubject for
   * that provider's subject). The token is the credential; a bad one is
   * invalid_request and changes nothing. A verified one the stack cannot
   * apply now is temporarily_unavailable (and retried by the exchanger), or
   * server_error; one applied already changes nothing.
   */
  BackchannelLogout(argument: _sts_exchange_v1_BackchannelLogoutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_exchange_v1_BackchannelLogoutResponse__Output>): grpc.ClientUnaryCall;
  BackchannelLogout(argument: _sts_exchange_v1_BackchannelLogoutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_exchange_v1_BackchannelLogoutResponse__Output>): grpc.ClientUnaryCall;
  BackchannelLogout(argument: _sts_exchange_v1_BackchannelLogoutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_exchange_v1_BackchannelLogoutResponse__Output>): grpc.ClientUnaryCall;
  BackchannelLogout(argument: _sts_exchange_v1_BackchannelLogoutRequest, callback: grpc.requestCallback<_sts_exchange_v1_BackchannelLogoutResponse__Output>): grpc.ClientUnaryCall;
  /**
   * BackchannelLogout takes an OpenID Connect Back-Channel Logout token from a
   * trusted issuer configured with `backchannel_logout`: once it verifies, the
   * user it names is signed out of the mesh (the issuer's RevokeSubject for
   * that provider's subject). The token is the credential; a bad one is
   * invalid_request and changes nothing. A verified one the stack cannot
   * apply now is temporarily_unavailable (and retried by the exchanger), or
   * server_error; one applied already changes nothing.
   */
  backchannelLogout(argument: _sts_exchange_v1_BackchannelLogoutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_exchange_v1_BackchannelLogoutResponse__Output>): grpc.ClientUnaryCall;
  backchannelLogout(argument: _sts_exchange_v1_BackchannelLogoutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_exchange_v1_BackchannelLogoutResponse__Output>): grpc.ClientUnaryCall;
  backchannelLogout(argument: _sts_exchange_v1_BackchannelLogoutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_exchange_v1_BackchannelLogoutResponse__Output>): grpc.ClientUnaryCall;
  backchannelLogout(argument: _sts_exchange_v1_BackchannelLogoutRequest, callback: grpc.requestCallback<_sts_exchange_v1_BackchannelLogoutResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Exchange implements RFC 8693 §2 for an authenticated client. Errors carry
   * the RFC code (invalid_request, invalid_target, invalid_scope, ...) in the
   * `oauth-error` metadata key.
   */
  Exchange(argument: _sts_exchange_v1_ExchangeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_exchange_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  Exchange(argument: _sts_exchange_v1_ExchangeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_exchange_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  Exchange(argument: _sts_exchange_v1_ExchangeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_exchange_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  Exchange(argument: _sts_exchange_v1_ExchangeRequest, callback: grpc.requestCallback<_sts_exchange_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Exchange implements RFC 8693 §2 for an authenticated client. Errors carry
   * the RFC code (invalid_request, invalid_target, invalid_scope, ...) in the
   * `oauth-error` metadata key.
   */
  exchange(argument: _sts_exchange_v1_ExchangeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_exchange_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  exchange(argument: _sts_exchange_v1_ExchangeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_exchange_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  exchange(argument: _sts_exchange_v1_ExchangeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_exchange_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  exchange(argument: _sts_exchange_v1_ExchangeRequest, callback: grpc.requestCallback<_sts_exchange_v1_ExchangeResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * ExchangeService swaps a token for a down-scoped, audience-restricted one.
 */
export interface ExchangeServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * BackchannelLogout takes an OpenID Connect Back-Channel Logout token from a
   * trusted issuer configured with `backchannel_logout`: once it verifies, the
   * user it names is signed out of the mesh (the issuer's RevokeSubject for
   * that provider's subject). The token is the credential; a bad one is
   * invalid_request and changes nothing. A verified one the stack cannot
   * apply now is temporarily_unavailable (and retried by the exchanger), or
   * server_error; one applied already changes nothing.
   */
  BackchannelLogout: grpc.handleUnaryCall<_sts_exchange_v1_BackchannelLogoutRequest__Output, _sts_exchange_v1_BackchannelLogoutResponse>;
  
  /**
   * Exchange implements RFC 8693 §2 for an authenticated client. Errors carry
   * the RFC code (invalid_request, invalid_target, invalid_scope, ...) in the
   * `oauth-error` metadata key.
   */
  Exchange: grpc.handleUnaryCall<_sts_exchange_v1_ExchangeRequest__Output, _sts_exchange_v1_ExchangeResponse>;
  
}

export interface ExchangeServiceDefinition extends grpc.ServiceDefinition {
  BackchannelLogout: MethodDefinition<_sts_exchange_v1_BackchannelLogoutRequest, _sts_exchange_v1_BackchannelLogoutResponse, _sts_exchange_v1_BackchannelLogoutRequest__Output, _sts_exchange_v1_BackchannelLogoutResponse__Output>
  Exchange: MethodDefinition<_sts_exchange_v1_ExchangeRequest, _sts_exchange_v1_ExchangeResponse, _sts_exchange_v1_ExchangeRequest__Output, _sts_exchange_v1_ExchangeResponse__Output>
}
