// Original file: proto/sts/token/v1/keys.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ListKeysRequest as _sts_token_v1_ListKeysRequest, ListKeysRequest__Output as _sts_token_v1_ListKeysRequest__Output } from '../../../sts/token/v1/ListKeysRequest.js';
import type { ListKeysResponse as _sts_token_v1_ListKeysResponse, ListKeysResponse__Output as _sts_token_v1_ListKeysResponse__Output } from '../../../sts/token/v1/ListKeysResponse.js';
import type { RotateKeyRequest as _sts_token_v1_RotateKeyRequest, RotateKeyRequest__Output as _sts_token_v1_RotateKeyRequest__Output } from '../../../sts/token/v1/RotateKeyRequest.js';
import type { RotateKeyResponse as _sts_token_v1_RotateKeyResponse, RotateKeyResponse__Output as _sts_token_v1_RotateKeyResponse__Output } from '../../../sts/token/v1/RotateKeyResponse.js';
import type { WithdrawKeyRequest as _sts_token_v1_WithdrawKeyRequest, WithdrawKeyRequest__Output as _sts_token_v1_WithdrawKeyRequest__Output } from '../../../sts/token/v1/WithdrawKeyRequest.js';
import type { WithdrawKeyResponse as _sts_token_v1_WithdrawKeyResponse, WithdrawKeyResponse__Output as _sts_token_v1_WithdrawKeyResponse__Output } from '../../../sts/token/v1/WithdrawKeyResponse.js';

/**
 * KeyService lets an operator see and change the issuer's signing keys. The
 * caller presents its own access token (`authorization: Bearer <access token>`
 * in metadata) naming issuer_admin.api_audience; List needs
 * issuer_admin.read_keys_scope or issuer_admin.manage_keys_scope, Rotate and
 * Withdraw issuer_admin.manage_keys_scope. Without a valid token the call is
 * UNAUTHENTICATED (invalid_token), without the scope PERMISSION_DENIED
 * (insufficient_scope), and nothing changes. Rotate and Withdraw answer
 * FAILED_PRECONDITION (failed_precondition) when the issuer signs with
 * keys.jwk_file: that key is rotated or withdrawn by replacing the file. A
 * change answers only once its event (key.rotated, key.withdrawn) is stored in
 * JetStream; when it cannot be, UNAVAILABLE (temporarily_unavailable), and the
 * same call again completes it without a second event.
 */
export interface KeyServiceClient extends grpc.Client {
  /**
   * List returns every signing key the issuer holds on record, oldest first:
   * the published ones (upcoming, signing, verifying) and the withdrawn ones
   * still on record. Never any private material.
   */
  List(argument: _sts_token_v1_ListKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _sts_token_v1_ListKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _sts_token_v1_ListKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _sts_token_v1_ListKeysRequest, callback: grpc.requestCallback<_sts_token_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  /**
   * List returns every signing key the issuer holds on record, oldest first:
   * the published ones (upcoming, signing, verifying) and the withdrawn ones
   * still on record. Never any private material.
   */
  list(argument: _sts_token_v1_ListKeysRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _sts_token_v1_ListKeysRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _sts_token_v1_ListKeysRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _sts_token_v1_ListKeysRequest, callback: grpc.requestCallback<_sts_token_v1_ListKeysResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Rotate makes a successor of the signing key now rather than on schedule,
   * published for the same lead as a scheduled rotation's successor (so that
   * verifiers caching the JWKS learn it before its first token). When a
   * successor is already waiting (upcoming, not withdrawn), it is returned and
   * nothing is made: a repeated Rotate never makes a second key.
   */
  Rotate(argument: _sts_token_v1_RotateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  Rotate(argument: _sts_token_v1_RotateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  Rotate(argument: _sts_token_v1_RotateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  Rotate(argument: _sts_token_v1_RotateKeyRequest, callback: grpc.requestCallback<_sts_token_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Rotate makes a successor of the signing key now rather than on schedule,
   * published for the same lead as a scheduled rotation's successor (so that
   * verifiers caching the JWKS learn it before its first token). When a
   * successor is already waiting (upcoming, not withdrawn), it is returned and
   * nothing is made: a repeated Rotate never makes a second key.
   */
  rotate(argument: _sts_token_v1_RotateKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotate(argument: _sts_token_v1_RotateKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotate(argument: _sts_token_v1_RotateKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  rotate(argument: _sts_token_v1_RotateKeyRequest, callback: grpc.requestCallback<_sts_token_v1_RotateKeyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Withdraw is the compromise response: from its answer on, every verifier of
   * the stack (introspection, the exchanger, sidecars, the operator APIs)
   * refuses every token the key signed, whenever it was signed, and the JWKS no
   * longer lists it. Its private part is deleted from the store. When it was
   * the signing key, a successor signs at once: the waiting upcoming key,
   * brought forward, else a new key (verifiers with a cached JWKS may refuse
   * its first tokens until they fetch the JWKS again). Withdrawing a key
   * already withdrawn changes nothing and answers with the earlier record. An
   * unknown kid, or one of characters no kid of this ring has, is NOT_FOUND
   * (not_found); an empty kid or reason, one too long, or a reason with control
   * or bidi characters, INVALID_ARGUMENT (invalid_request).
   */
  Withdraw(argument: _sts_token_v1_WithdrawKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_WithdrawKeyResponse__Output>): grpc.ClientUnaryCall;
  Withdraw(argument: _sts_token_v1_WithdrawKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_WithdrawKeyResponse__Output>): grpc.ClientUnaryCall;
  Withdraw(argument: _sts_token_v1_WithdrawKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_WithdrawKeyResponse__Output>): grpc.ClientUnaryCall;
  Withdraw(argument: _sts_token_v1_WithdrawKeyRequest, callback: grpc.requestCallback<_sts_token_v1_WithdrawKeyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Withdraw is the compromise response: from its answer on, every verifier of
   * the stack (introspection, the exchanger, sidecars, the operator APIs)
   * refuses every token the key signed, whenever it was signed, and the JWKS no
   * longer lists it. Its private part is deleted from the store. When it was
   * the signing key, a successor signs at once: the waiting upcoming key,
   * brought forward, else a new key (verifiers with a cached JWKS may refuse
   * its first tokens until they fetch the JWKS again). Withdrawing a key
   * already withdrawn changes nothing and answers with the earlier record. An
   * unknown kid, or one of characters no kid of this ring has, is NOT_FOUND
   * (not_found); an empty kid or reason, one too long, or a reason with control
   * or bidi characters, INVALID_ARGUMENT (invalid_request).
   */
  withdraw(argument: _sts_token_v1_WithdrawKeyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_WithdrawKeyResponse__Output>): grpc.ClientUnaryCall;
  withdraw(argument: _sts_token_v1_WithdrawKeyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_WithdrawKeyResponse__Output>): grpc.ClientUnaryCall;
  withdraw(argument: _sts_token_v1_WithdrawKeyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_WithdrawKeyResponse__Output>): grpc.ClientUnaryCall;
  withdraw(argument: _sts_token_v1_WithdrawKeyRequest, callback: grpc.requestCallback<_sts_token_v1_WithdrawKeyResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * KeyService lets an operator see and change the issuer's signing keys. The
 * caller presents its own access token (`authorization: Bearer <access token>`
 * in metadata) naming issuer_admin.api_audience; List needs
 * issuer_admin.read_keys_scope or issuer_admin.manage_keys_scope, Rotate and
 * Withdraw issuer_admin.manage_keys_scope. Without a valid token the call is
 * UNAUTHENTICATED (invalid_token), without the scope PERMISSION_DENIED
 * (insufficient_scope), and nothing changes. Rotate and Withdraw answer
 * FAILED_PRECONDITION (failed_precondition) when the issuer signs with
 * keys.jwk_file: that key is rotated or withdrawn by replacing the file. A
 * change answers only once its event (key.rotated, key.withdrawn) is stored in
 * JetStream; when it cannot be, UNAVAILABLE (temporarily_unavailable), and the
 * same call again completes it without a second event.
 */
export interface KeyServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * List returns every signing key the issuer holds on record, oldest first:
   * the published ones (upcoming, signing, verifying) and the withdrawn ones
   * still on record. Never any private material.
   */
  List: grpc.handleUnaryCall<_sts_token_v1_ListKeysRequest__Output, _sts_token_v1_ListKeysResponse>;
  
  /**
   * Rotate makes a successor of the signing key now rather than on schedule,
   * published for the same lead as a scheduled rotation's successor (so that
   * verifiers caching the JWKS learn it before its first token). When a
   * successor is already waiting (upcoming, not withdrawn), it is returned and
   * nothing is made: a repeated Rotate never makes a second key.
   */
  Rotate: grpc.handleUnaryCall<_sts_token_v1_RotateKeyRequest__Output, _sts_token_v1_RotateKeyResponse>;
  
  /**
   * Withdraw is the compromise response: from its answer on, every verifier of
   * the stack (introspection, the exchanger, sidecars, the operator APIs)
   * refuses every token the key signed, whenever it was signed, and the JWKS no
   * longer lists it. Its private part is deleted from the store. When it was
   * the signing key, a successor signs at once: the waiting upcoming key,
   * brought forward, else a new key (verifiers with a cached JWKS may refuse
   * its first tokens until they fetch the JWKS again). Withdrawing a key
   * already withdrawn changes nothing and answers with the earlier record. An
   * unknown kid, or one of characters no kid of this ring has, is NOT_FOUND
   * (not_found); an empty kid or reason, one too long, or a reason with control
   * or bidi characters, INVALID_ARGUMENT (invalid_request).
   */
  Withdraw: grpc.handleUnaryCall<_sts_token_v1_WithdrawKeyRequest__Output, _sts_token_v1_WithdrawKeyResponse>;
  
}

export interface KeyServiceDefinition extends grpc.ServiceDefinition {
  List: MethodDefinition<_sts_token_v1_ListKeysRequest, _sts_token_v1_ListKeysResponse, _sts_token_v1_ListKeysRequest__Output, _sts_token_v1_ListKeysResponse__Output>
  Rotate: MethodDefinition<_sts_token_v1_RotateKeyRequest, _sts_token_v1_RotateKeyResponse, _sts_token_v1_RotateKeyRequest__Output, _sts_token_v1_RotateKeyResponse__Output>
  Withdraw: MethodDefinition<_sts_token_v1_WithdrawKeyRequest, _sts_token_v1_WithdrawKeyResponse, _sts_token_v1_WithdrawKeyRequest__Output, _sts_token_v1_WithdrawKeyResponse__Output>
}
