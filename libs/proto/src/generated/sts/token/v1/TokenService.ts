// Original file: proto/sts/token/v1/token.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AuthenticateClientRequest as _sts_token_v1_AuthenticateClientRequest, AuthenticateClientRequest__Output as _sts_token_v1_AuthenticateClientRequest__Output } from '../../../sts/token/v1/AuthenticateClientRequest.js';
import type { AuthenticateClientResponse as _sts_token_v1_AuthenticateClientResponse, AuthenticateClientResponse__Output as _sts_token_v1_AuthenticateClientResponse__Output } from '../../../sts/token/v1/AuthenticateClientResponse.js';
import type { GetJwksRequest as _sts_token_v1_GetJwksRequest, GetJwksRequest__Output as _sts_token_v1_GetJwksRequest__Output } from '../../../sts/token/v1/GetJwksRequest.js';
import type { GetJwksResponse as _sts_token_v1_GetJwksResponse, GetJwksResponse__Output as _sts_token_v1_GetJwksResponse__Output } from '../../../sts/token/v1/GetJwksResponse.js';
import type { IntrospectRequest as _sts_token_v1_IntrospectRequest, IntrospectRequest__Output as _sts_token_v1_IntrospectRequest__Output } from '../../../sts/token/v1/IntrospectRequest.js';
import type { IntrospectResponse as _sts_token_v1_IntrospectResponse, IntrospectResponse__Output as _sts_token_v1_IntrospectResponse__Output } from '../../../sts/token/v1/IntrospectResponse.js';
import type { MintBatchRequest as _sts_token_v1_MintBatchRequest, MintBatchRequest__Output as _sts_token_v1_MintBatchRequest__Output } from '../../../sts/token/v1/MintBatchRequest.js';
import type { MintBatchResponse as _sts_token_v1_MintBatchResponse, MintBatchResponse__Output as _sts_token_v1_MintBatchResponse__Output } from '../../../sts/token/v1/MintBatchResponse.js';
import type { MintRequest as _sts_token_v1_MintRequest, MintRequest__Output as _sts_token_v1_MintRequest__Output } from '../../../sts/token/v1/MintRequest.js';
import type { MintResponse as _sts_token_v1_MintResponse, MintResponse__Output as _sts_token_v1_MintResponse__Output } from '../../../sts/token/v1/MintResponse.js';
import type { RevokeRequest as _sts_token_v1_RevokeRequest, RevokeRequest__Output as _sts_token_v1_RevokeRequest__Output } from '../../../sts/token/v1/RevokeRequest.js';
import type { RevokeResponse as _sts_token_v1_RevokeResponse, RevokeResponse__Output as _sts_token_v1_RevokeResponse__Output } from '../../../sts/token/v1/RevokeResponse.js';
import type { RevokeSubjectRequest as _sts_token_v1_RevokeSubjectRequest, RevokeSubjectRequest__Output as _sts_token_v1_RevokeSubjectRequest__Output } from '../../../sts/token/v1/RevokeSubjectRequest.js';
import type { RevokeSubjectResponse as _sts_token_v1_RevokeSubjectResponse, RevokeSubjectResponse__Output as _sts_token_v1_RevokeSubjectResponse__Output } from '../../../sts/token/v1/RevokeSubjectResponse.js';
import type { TokenBatchRequest as _sts_token_v1_TokenBatchRequest, TokenBatchRequest__Output as _sts_token_v1_TokenBatchRequest__Output } from '../../../sts/token/v1/TokenBatchRequest.js';
import type { TokenBatchResponse as _sts_token_v1_TokenBatchResponse, TokenBatchResponse__Output as _sts_token_v1_TokenBatchResponse__Output } from '../../../sts/token/v1/TokenBatchResponse.js';
import type { TokenRequest as _sts_token_v1_TokenRequest, TokenRequest__Output as _sts_token_v1_TokenRequest__Output } from '../../../sts/token/v1/TokenRequest.js';
import type { TokenResponse as _sts_token_v1_TokenResponse, TokenResponse__Output as _sts_token_v1_TokenResponse__Output } from '../../../sts/token/v1/TokenResponse.js';
import type { UserInfoRequest as _sts_token_v1_UserInfoRequest, UserInfoRequest__Output as _sts_token_v1_UserInfoRequest__Output } from '../../../sts/token/v1/UserInfoRequest.js';
import type { UserInfoResponse as _sts_token_v1_UserInfoResponse, UserInfoResponse__Output as _sts_token_v1_UserInfoResponse__Output } from '../../../sts/token/v1/UserInfoResponse.js';

/**
 * TokenService issues, describes and revokes tokens.
 */
export interface TokenServiceClient extends grpc.Client {
  /**
   * AuthenticateClient checks client credentials and returns the client id;
   * used by services that accept OAuth clients but do not own the registry.
   */
  AuthenticateClient(argument: _sts_token_v1_AuthenticateClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_AuthenticateClientResponse__Output>): grpc.ClientUnaryCall;
  AuthenticateClient(argument: _sts_token_v1_AuthenticateClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_AuthenticateClientResponse__Output>): grpc.ClientUnaryCall;
  AuthenticateClient(argument: _sts_token_v1_AuthenticateClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_AuthenticateClientResponse__Output>): grpc.ClientUnaryCall;
  AuthenticateClient(argument: _sts_token_v1_AuthenticateClientRequest, callback: grpc.requestCallback<_sts_token_v1_AuthenticateClientResponse__Output>): grpc.ClientUnaryCall;
  /**
   * AuthenticateClient checks client credentials and returns the client id;
   * used by services that accept OAuth clients but do not own the registry.
   */
  authenticateClient(argument: _sts_token_v1_AuthenticateClientRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_AuthenticateClientResponse__Output>): grpc.ClientUnaryCall;
  authenticateClient(argument: _sts_token_v1_AuthenticateClientRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_AuthenticateClientResponse__Output>): grpc.ClientUnaryCall;
  authenticateClient(argument: _sts_token_v1_AuthenticateClientRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_AuthenticateClientResponse__Output>): grpc.ClientUnaryCall;
  authenticateClient(argument: _sts_token_v1_AuthenticateClientRequest, callback: grpc.requestCallback<_sts_token_v1_AuthenticateClientResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * GetJwks returns the public keys still valid for verification (RFC 7517).
   */
  GetJwks(argument: _sts_token_v1_GetJwksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _sts_token_v1_GetJwksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _sts_token_v1_GetJwksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  GetJwks(argument: _sts_token_v1_GetJwksRequest, callback: grpc.requestCallback<_sts_token_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  /**
   * GetJwks returns the public keys still valid for verification (RFC 7517).
   */
  getJwks(argument: _sts_token_v1_GetJwksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _sts_token_v1_GetJwksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _sts_token_v1_GetJwksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  getJwks(argument: _sts_token_v1_GetJwksRequest, callback: grpc.requestCallback<_sts_token_v1_GetJwksResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Introspect answers RFC 7662 for a token this issuer issued.
   */
  Introspect(argument: _sts_token_v1_IntrospectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  Introspect(argument: _sts_token_v1_IntrospectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  Introspect(argument: _sts_token_v1_IntrospectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  Introspect(argument: _sts_token_v1_IntrospectRequest, callback: grpc.requestCallback<_sts_token_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Introspect answers RFC 7662 for a token this issuer issued.
   */
  introspect(argument: _sts_token_v1_IntrospectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  introspect(argument: _sts_token_v1_IntrospectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  introspect(argument: _sts_token_v1_IntrospectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  introspect(argument: _sts_token_v1_IntrospectRequest, callback: grpc.requestCallback<_sts_token_v1_IntrospectResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Mint signs a token whose claims another service computed (the exchanger).
   * Only internal callers may call it: see InternalAuth in the README.
   */
  Mint(argument: _sts_token_v1_MintRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_MintResponse__Output>): grpc.ClientUnaryCall;
  Mint(argument: _sts_token_v1_MintRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_MintResponse__Output>): grpc.ClientUnaryCall;
  Mint(argument: _sts_token_v1_MintRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_MintResponse__Output>): grpc.ClientUnaryCall;
  Mint(argument: _sts_token_v1_MintRequest, callback: grpc.requestCallback<_sts_token_v1_MintResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Mint signs a token whose claims another service computed (the exchanger).
   * Only internal callers may call it: see InternalAuth in the README.
   */
  mint(argument: _sts_token_v1_MintRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_MintResponse__Output>): grpc.ClientUnaryCall;
  mint(argument: _sts_token_v1_MintRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_MintResponse__Output>): grpc.ClientUnaryCall;
  mint(argument: _sts_token_v1_MintRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_MintResponse__Output>): grpc.ClientUnaryCall;
  mint(argument: _sts_token_v1_MintRequest, callback: grpc.requestCallback<_sts_token_v1_MintResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * MintBatch is Mint for several tokens in one call (the exchanger coalesces
   * concurrent exchanges). The caller authenticates once, in metadata.
   */
  MintBatch(argument: _sts_token_v1_MintBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_MintBatchResponse__Output>): grpc.ClientUnaryCall;
  MintBatch(argument: _sts_token_v1_MintBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_MintBatchResponse__Output>): grpc.ClientUnaryCall;
  MintBatch(argument: _sts_token_v1_MintBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_MintBatchResponse__Output>): grpc.ClientUnaryCall;
  MintBatch(argument: _sts_token_v1_MintBatchRequest, callback: grpc.requestCallback<_sts_token_v1_MintBatchResponse__Output>): grpc.ClientUnaryCall;
  /**
   * MintBatch is Mint for several tokens in one call (the exchanger coalesces
   * concurrent exchanges). The caller authenticates once, in metadata.
   */
  mintBatch(argument: _sts_token_v1_MintBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_MintBatchResponse__Output>): grpc.ClientUnaryCall;
  mintBatch(argument: _sts_token_v1_MintBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_MintBatchResponse__Output>): grpc.ClientUnaryCall;
  mintBatch(argument: _sts_token_v1_MintBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_MintBatchResponse__Output>): grpc.ClientUnaryCall;
  mintBatch(argument: _sts_token_v1_MintBatchRequest, callback: grpc.requestCallback<_sts_token_v1_MintBatchResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Revoke implements RFC 7009: revokes a token held by the calling client.
   */
  Revoke(argument: _sts_token_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _sts_token_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _sts_token_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  Revoke(argument: _sts_token_v1_RevokeRequest, callback: grpc.requestCallback<_sts_token_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Revoke implements RFC 7009: revokes a token held by the calling client.
   */
  revoke(argument: _sts_token_v1_RevokeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revoke(argument: _sts_token_v1_RevokeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revoke(argument: _sts_token_v1_RevokeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  revoke(argument: _sts_token_v1_RevokeRequest, callback: grpc.requestCallback<_sts_token_v1_RevokeResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * RevokeSubject revokes every token of one subject issued until now, or
   * until the request's signed_out_at ("sign this user out everywhere"): its access tokens at every hop of every chain,
   * and its refresh token families; for a client of this stack, also the
   * tokens issued to it and those made through it as an actor. Chains begun
   * later are not affected; a later hop of a chain begun before it is (judged
   * by origin_iat). The caller is an operator (`authorization: Bearer
   * <access token>` in metadata, naming issuer_admin.api_audience with
   * issuer_admin.revoke_subjects_scope), or the exchanger's internal client
   * relaying a trusted issuer's back-channel logout (client_secret_basic; that
   * issuer's subjects only). Answers once the revocation is stored and its
   * subject.revoked event is.
   */
  RevokeSubject(argument: _sts_token_v1_RevokeSubjectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RevokeSubjectResponse__Output>): grpc.ClientUnaryCall;
  RevokeSubject(argument: _sts_token_v1_RevokeSubjectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_RevokeSubjectResponse__Output>): grpc.ClientUnaryCall;
  RevokeSubject(argument: _sts_token_v1_RevokeSubjectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RevokeSubjectResponse__Output>): grpc.ClientUnaryCall;
  RevokeSubject(argument: _sts_token_v1_RevokeSubjectRequest, callback: grpc.requestCallback<_sts_token_v1_RevokeSubjectResponse__Output>): grpc.ClientUnaryCall;
  /**
   * RevokeSubject revokes every token of one subject issued until now, or
   * until the request's signed_out_at ("sign this user out everywhere"): its access tokens at every hop of every chain,
   * and its refresh token families; for a client of this stack, also the
   * tokens issued to it and those made through it as an actor. Chains begun
   * later are not affected; a later hop of a chain begun before it is (judged
   * by origin_iat). The caller is an operator (`authorization: Bearer
   * <access token>` in metadata, naming issuer_admin.api_audience with
   * issuer_admin.revoke_subjects_scope), or the exchanger's internal client
   * relaying a trusted issuer's back-channel logout (client_secret_basic; that
   * issuer's subjects only). Answers once the revocation is stored and its
   * subject.revoked event is.
   */
  revokeSubject(argument: _sts_token_v1_RevokeSubjectRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RevokeSubjectResponse__Output>): grpc.ClientUnaryCall;
  revokeSubject(argument: _sts_token_v1_RevokeSubjectRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_RevokeSubjectResponse__Output>): grpc.ClientUnaryCall;
  revokeSubject(argument: _sts_token_v1_RevokeSubjectRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_RevokeSubjectResponse__Output>): grpc.ClientUnaryCall;
  revokeSubject(argument: _sts_token_v1_RevokeSubjectRequest, callback: grpc.requestCallback<_sts_token_v1_RevokeSubjectResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Token runs one OAuth 2.0 grant (RFC 6749 §4.4 client_credentials, RFC 7523
   * jwt-bearer, refresh_token) for an authenticated client. Errors carry the
   * RFC 6749 §5.2 code in the `oauth-error` metadata key.
   */
  Token(argument: _sts_token_v1_TokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_TokenResponse__Output>): grpc.ClientUnaryCall;
  Token(argument: _sts_token_v1_TokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_TokenResponse__Output>): grpc.ClientUnaryCall;
  Token(argument: _sts_token_v1_TokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_TokenResponse__Output>): grpc.ClientUnaryCall;
  Token(argument: _sts_token_v1_TokenRequest, callback: grpc.requestCallback<_sts_token_v1_TokenResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Token runs one OAuth 2.0 grant (RFC 6749 §4.4 client_credentials, RFC 7523
   * jwt-bearer, refresh_token) for an authenticated client. Errors carry the
   * RFC 6749 §5.2 code in the `oauth-error` metadata key.
   */
  token(argument: _sts_token_v1_TokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_TokenResponse__Output>): grpc.ClientUnaryCall;
  token(argument: _sts_token_v1_TokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_TokenResponse__Output>): grpc.ClientUnaryCall;
  token(argument: _sts_token_v1_TokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_TokenResponse__Output>): grpc.ClientUnaryCall;
  token(argument: _sts_token_v1_TokenRequest, callback: grpc.requestCallback<_sts_token_v1_TokenResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * TokenBatch runs several independent Token requests in one call. The
   * gateway coalesces the HTTP requests that arrive together, which saves a
   * gRPC round trip per token under load. Every item is authenticated,
   * decided and recorded on its own; one failing item fails no other.
   */
  TokenBatch(argument: _sts_token_v1_TokenBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_TokenBatchResponse__Output>): grpc.ClientUnaryCall;
  TokenBatch(argument: _sts_token_v1_TokenBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_TokenBatchResponse__Output>): grpc.ClientUnaryCall;
  TokenBatch(argument: _sts_token_v1_TokenBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_TokenBatchResponse__Output>): grpc.ClientUnaryCall;
  TokenBatch(argument: _sts_token_v1_TokenBatchRequest, callback: grpc.requestCallback<_sts_token_v1_TokenBatchResponse__Output>): grpc.ClientUnaryCall;
  /**
   * TokenBatch runs several independent Token requests in one call. The
   * gateway coalesces the HTTP requests that arrive together, which saves a
   * gRPC round trip per token under load. Every item is authenticated,
   * decided and recorded on its own; one failing item fails no other.
   */
  tokenBatch(argument: _sts_token_v1_TokenBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_TokenBatchResponse__Output>): grpc.ClientUnaryCall;
  tokenBatch(argument: _sts_token_v1_TokenBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_TokenBatchResponse__Output>): grpc.ClientUnaryCall;
  tokenBatch(argument: _sts_token_v1_TokenBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_TokenBatchResponse__Output>): grpc.ClientUnaryCall;
  tokenBatch(argument: _sts_token_v1_TokenBatchRequest, callback: grpc.requestCallback<_sts_token_v1_TokenBatchResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * UserInfo returns the OIDC claims of the user an access token with `openid`
   * was issued for (OIDC Core §5.3); a bad token is invalid_token.
   */
  UserInfo(argument: _sts_token_v1_UserInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_UserInfoResponse__Output>): grpc.ClientUnaryCall;
  UserInfo(argument: _sts_token_v1_UserInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_UserInfoResponse__Output>): grpc.ClientUnaryCall;
  UserInfo(argument: _sts_token_v1_UserInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_UserInfoResponse__Output>): grpc.ClientUnaryCall;
  UserInfo(argument: _sts_token_v1_UserInfoRequest, callback: grpc.requestCallback<_sts_token_v1_UserInfoResponse__Output>): grpc.ClientUnaryCall;
  /**
   * UserInfo returns the OIDC claims of the user an access token with `openid`
   * was issued for (OIDC Core §5.3); a bad token is invalid_token.
   */
  userInfo(argument: _sts_token_v1_UserInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_UserInfoResponse__Output>): grpc.ClientUnaryCall;
  userInfo(argument: _sts_token_v1_UserInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_token_v1_UserInfoResponse__Output>): grpc.ClientUnaryCall;
  userInfo(argument: _sts_token_v1_UserInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_token_v1_UserInfoResponse__Output>): grpc.ClientUnaryCall;
  userInfo(argument: _sts_token_v1_UserInfoRequest, callback: grpc.requestCallback<_sts_token_v1_UserInfoResponse__Output>): grpc.ClientUnaryCall;
  
}

/**
 * TokenService issues, describes and revokes tokens.
 */
export interface TokenServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * AuthenticateClient checks client credentials and returns the client id;
   * used by services that accept OAuth clients but do not own the registry.
   */
  AuthenticateClient: grpc.handleUnaryCall<_sts_token_v1_AuthenticateClientRequest__Output, _sts_token_v1_AuthenticateClientResponse>;
  
  /**
   * GetJwks returns the public keys still valid for verification (RFC 7517).
   */
  GetJwks: grpc.handleUnaryCall<_sts_token_v1_GetJwksRequest__Output, _sts_token_v1_GetJwksResponse>;
  
  /**
   * Introspect answers RFC 7662 for a token this issuer issued.
   */
  Introspect: grpc.handleUnaryCall<_sts_token_v1_IntrospectRequest__Output, _sts_token_v1_IntrospectResponse>;
  
  /**
   * Mint signs a token whose claims another service computed (the exchanger).
   * Only internal callers may call it: see InternalAuth in the README.
   */
  Mint: grpc.handleUnaryCall<_sts_token_v1_MintRequest__Output, _sts_token_v1_MintResponse>;
  
  /**
   * MintBatch is Mint for several tokens in one call (the exchanger coalesces
   * concurrent exchanges). The caller authenticates once, in metadata.
   */
  MintBatch: grpc.handleUnaryCall<_sts_token_v1_MintBatchRequest__Output, _sts_token_v1_MintBatchResponse>;
  
  /**
   * Revoke implements RFC 7009: revokes a token held by the calling client.
   */
  Revoke: grpc.handleUnaryCall<_sts_token_v1_RevokeRequest__Output, _sts_token_v1_RevokeResponse>;
  
  /**
   * RevokeSubject revokes every token of one subject issued until now, or
   * until the request's signed_out_at ("sign this user out everywhere"): its access tokens at every hop of every chain,
   * and its refresh token families; for a client of this stack, also the
   * tokens issued to it and those made through it as an actor. Chains begun
   * later are not affected; a later hop of a chain begun before it is (judged
   * by origin_iat). The caller is an operator (`authorization: Bearer
   * <access token>` in metadata, naming issuer_admin.api_audience with
   * issuer_admin.revoke_subjects_scope), or the exchanger's internal client
   * relaying a trusted issuer's back-channel logout (client_secret_basic; that
   * issuer's subjects only). Answers once the revocation is stored and its
   * subject.revoked event is.
   */
  RevokeSubject: grpc.handleUnaryCall<_sts_token_v1_RevokeSubjectRequest__Output, _sts_token_v1_RevokeSubjectResponse>;
  
  /**
   * Token runs one OAuth 2.0 grant (RFC 6749 §4.4 client_credentials, RFC 7523
   * jwt-bearer, refresh_token) for an authenticated client. Errors carry the
   * RFC 6749 §5.2 code in the `oauth-error` metadata key.
   */
  Token: grpc.handleUnaryCall<_sts_token_v1_TokenRequest__Output, _sts_token_v1_TokenResponse>;
  
  /**
   * TokenBatch runs several independent Token requests in one call. The
   * gateway coalesces the HTTP requests that arrive together, which saves a
   * gRPC round trip per token under load. Every item is authenticated,
   * decided and recorded on its own; one failing item fails no other.
   */
  TokenBatch: grpc.handleUnaryCall<_sts_token_v1_TokenBatchRequest__Output, _sts_token_v1_TokenBatchResponse>;
  
  /**
   * UserInfo returns the OIDC claims of the user an access token with `openid`
   * was issued for (OIDC Core §5.3); a bad token is invalid_token.
   */
  UserInfo: grpc.handleUnaryCall<_sts_token_v1_UserInfoRequest__Output, _sts_token_v1_UserInfoResponse>;
  
}

export interface TokenServiceDefinition extends grpc.ServiceDefinition {
  AuthenticateClient: MethodDefinition<_sts_token_v1_AuthenticateClientRequest, _sts_token_v1_AuthenticateClientResponse, _sts_token_v1_AuthenticateClientRequest__Output, _sts_token_v1_AuthenticateClientResponse__Output>
  GetJwks: MethodDefinition<_sts_token_v1_GetJwksRequest, _sts_token_v1_GetJwksResponse, _sts_token_v1_GetJwksRequest__Output, _sts_token_v1_GetJwksResponse__Output>
  Introspect: MethodDefinition<_sts_token_v1_IntrospectRequest, _sts_token_v1_IntrospectResponse, _sts_token_v1_IntrospectRequest__Output, _sts_token_v1_IntrospectResponse__Output>
  Mint: MethodDefinition<_sts_token_v1_MintRequest, _sts_token_v1_MintResponse, _sts_token_v1_MintRequest__Output, _sts_token_v1_MintResponse__Output>
  MintBatch: MethodDefinition<_sts_token_v1_MintBatchRequest, _sts_token_v1_MintBatchResponse, _sts_token_v1_MintBatchRequest__Output, _sts_token_v1_MintBatchResponse__Output>
  Revoke: MethodDefinition<_sts_token_v1_RevokeRequest, _sts_token_v1_RevokeResponse, _sts_token_v1_RevokeRequest__Output, _sts_token_v1_RevokeResponse__Output>
  RevokeSubject: MethodDefinition<_sts_token_v1_RevokeSubjectRequest, _sts_token_v1_RevokeSubjectResponse, _sts_token_v1_RevokeSubjectRequest__Output, _sts_token_v1_RevokeSubjectResponse__Output>
  Token: MethodDefinition<_sts_token_v1_TokenRequest, _sts_token_v1_TokenResponse, _sts_token_v1_TokenRequest__Output, _sts_token_v1_TokenResponse__Output>
  TokenBatch: MethodDefinition<_sts_token_v1_TokenBatchRequest, _sts_token_v1_TokenBatchResponse, _sts_token_v1_TokenBatchRequest__Output, _sts_token_v1_TokenBatchResponse__Output>
  UserInfo: MethodDefinition<_sts_token_v1_UserInfoRequest, _sts_token_v1_UserInfoResponse, _sts_token_v1_UserInfoRequest__Output, _sts_token_v1_UserInfoResponse__Output>
}
