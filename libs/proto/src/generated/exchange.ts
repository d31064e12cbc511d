import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { BackchannelLogoutRequest as _sts_exchange_v1_BackchannelLogoutRequest, BackchannelLogoutRequest__Output as _sts_exchange_v1_BackchannelLogoutRequest__Output } from './sts/exchange/v1/BackchannelLogoutRequest.js';
import type { BackchannelLogoutResponse as _sts_exchange_v1_BackchannelLogoutResponse, BackchannelLogoutResponse__Output as _sts_exchange_v1_BackchannelLogoutResponse__Output } from './sts/exchange/v1/BackchannelLogoutResponse.js';
import type { ExchangeRequest as _sts_exchange_v1_ExchangeRequest, ExchangeRequest__Output as _sts_exchange_v1_ExchangeRequest__Output } from './sts/exchange/v1/ExchangeRequest.js';
import type { ExchangeResponse as _sts_exchange_v1_ExchangeResponse, ExchangeResponse__Output as _sts_exchange_v1_ExchangeResponse__Output } from './sts/exchange/v1/ExchangeResponse.js';
import type { ExchangeServiceClient as _sts_exchange_v1_ExchangeServiceClient, ExchangeServiceDefinition as _sts_exchange_v1_ExchangeServiceDefinition } from './sts/exchange/v1/ExchangeService.js';
import type { Actor as _sts_token_v1_Actor, Actor__Output as _sts_token_v1_Actor__Output } from './sts/token/v1/Actor.js';
import type { AuthenticateClientRequest as _sts_token_v1_AuthenticateClientRequest, AuthenticateClientRequest__Output as _sts_token_v1_AuthenticateClientRequest__Output } from './sts/token/v1/AuthenticateClientRequest.js';
import type { AuthenticateClientResponse as _sts_token_v1_AuthenticateClientResponse, AuthenticateClientResponse__Output as _sts_token_v1_AuthenticateClientResponse__Output } from './sts/token/v1/AuthenticateClientResponse.js';
import type { ClientAuthentication as _sts_token_v1_ClientAuthentication, ClientAuthentication__Output as _sts_token_v1_ClientAuthentication__Output } from './sts/token/v1/ClientAuthentication.js';
import type { GetJwksRequest as _sts_token_v1_GetJwksRequest, GetJwksRequest__Output as _sts_token_v1_GetJwksRequest__Output } from './sts/token/v1/GetJwksRequest.js';
import type { GetJwksResponse as _sts_token_v1_GetJwksResponse, GetJwksResponse__Output as _sts_token_v1_GetJwksResponse__Output } from './sts/token/v1/GetJwksResponse.js';
import type { IntrospectRequest as _sts_token_v1_IntrospectRequest, IntrospectRequest__Output as _sts_token_v1_IntrospectRequest__Output } from './sts/token/v1/IntrospectRequest.js';
import type { IntrospectResponse as _sts_token_v1_IntrospectResponse, IntrospectResponse__Output as _sts_token_v1_IntrospectResponse__Output } from './sts/token/v1/IntrospectResponse.js';
import type { ItemError as _sts_token_v1_ItemError, ItemError__Output as _sts_token_v1_ItemError__Output } from './sts/token/v1/ItemError.js';
import type { MintBatchItem as _sts_token_v1_MintBatchItem, MintBatchItem__Output as _sts_token_v1_MintBatchItem__Output } from './sts/token/v1/MintBatchItem.js';
import type { MintBatchRequest as _sts_token_v1_MintBatchRequest, MintBatchRequest__Output as _sts_token_v1_MintBatchRequest__Output } from './sts/token/v1/MintBatchRequest.js';
import type { MintBatchResponse as _sts_token_v1_MintBatchResponse, MintBatchResponse__Output as _sts_token_v1_MintBatchResponse__Output } from './sts/token/v1/MintBatchResponse.js';
import type { MintRequest as _sts_token_v1_MintRequest, MintRequest__Output as _sts_token_v1_MintRequest__Output } from './sts/token/v1/MintRequest.js';
import type { MintResponse as _sts_token_v1_MintResponse, MintResponse__Output as _sts_token_v1_MintResponse__Output } from './sts/token/v1/MintResponse.js';
import type { MintResult as _sts_token_v1_MintResult, MintResult__Output as _sts_token_v1_MintResult__Output } from './sts/token/v1/MintResult.js';
import type { RevokeRequest as _sts_token_v1_RevokeRequest, RevokeRequest__Output as _sts_token_v1_RevokeRequest__Output } from './sts/token/v1/RevokeRequest.js';
import type { RevokeResponse as _sts_token_v1_RevokeResponse, RevokeResponse__Output as _sts_token_v1_RevokeResponse__Output } from './sts/token/v1/RevokeResponse.js';
import type { RevokeSubjectRequest as _sts_token_v1_RevokeSubjectRequest, RevokeSubjectRequest__Output as _sts_token_v1_RevokeSubjectRequest__Output } from './sts/token/v1/RevokeSubjectRequest.js';
import type { RevokeSubjectResponse as _sts_token_v1_RevokeSubjectResponse, RevokeSubjectResponse__Output as _sts_token_v1_RevokeSubjectResponse__Output } from './sts/token/v1/RevokeSubjectResponse.js';
import type { TokenBatchItem as _sts_token_v1_TokenBatchItem, TokenBatchItem__Output as _sts_token_v1_TokenBatchItem__Output } from './sts/token/v1/TokenBatchItem.js';
import type { TokenBatchRequest as _sts_token_v1_TokenBatchRequest, TokenBatchRequest__Output as _sts_token_v1_TokenBatchRequest__Output } from './sts/token/v1/TokenBatchRequest.js';
import type { TokenBatchResponse as _sts_token_v1_TokenBatchResponse, TokenBatchResponse__Output as _sts_token_v1_TokenBatchResponse__Output } from './sts/token/v1/TokenBatchResponse.js';
import type { TokenRequest as _sts_token_v1_TokenRequest, TokenRequest__Output as _sts_token_v1_TokenRequest__Output } from './sts/token/v1/TokenRequest.js';
import type { TokenResponse as _sts_token_v1_TokenResponse, TokenResponse__Output as _sts_token_v1_TokenResponse__Output } from './sts/token/v1/TokenResponse.js';
import type { TokenResult as _sts_token_v1_TokenResult, TokenResult__Output as _sts_token_v1_TokenResult__Output } from './sts/token/v1/TokenResult.js';
import type { TokenServiceClient as _sts_token_v1_TokenServiceClient, TokenServiceDefinition as _sts_token_v1_TokenServiceDefinition } from './sts/token/v1/TokenService.js';
import type { UserInfoRequest as _sts_token_v1_UserInfoRequest, UserInfoRequest__Output as _sts_token_v1_UserInfoRequest__Output } from './sts/token/v1/UserInfoRequest.js';
import type { UserInfoResponse as _sts_token_v1_UserInfoResponse, UserInfoResponse__Output as _sts_token_v1_UserInfoResponse__Output } from './sts/token/v1/UserInfoResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  sts: {
    exchange: {
      v1: {
        BackchannelLogoutRequest: MessageTypeDefinition<_sts_exchange_v1_BackchannelLogoutRequest, _sts_exchange_v1_BackchannelLogoutRequest__Output>
        BackchannelLogoutResponse: MessageTypeDefinition<_sts_exchange_v1_BackchannelLogoutResponse, _sts_exchange_v1_BackchannelLogoutResponse__Output>
        ExchangeRequest: MessageTypeDefinition<_sts_exchange_v1_ExchangeRequest, _sts_exchange_v1_ExchangeRequest__Output>
        ExchangeResponse: MessageTypeDefinition<_sts_exchange_v1_ExchangeResponse, _sts_exchange_v1_ExchangeResponse__Output>
        /**
         * ExchangeService swaps a token for a down-scoped, audience-restricted one.
         */
        ExchangeService: SubtypeConstructor<typeof grpc.Client, _sts_exchange_v1_ExchangeServiceClient> & { service: _sts_exchange_v1_ExchangeServiceDefinition }
      }
    }
    token: {
      v1: {
        Actor: MessageTypeDefinition<_sts_token_v1_Actor, _sts_token_v1_Actor__Output>
        AuthenticateClientRequest: MessageTypeDefinition<_sts_token_v1_AuthenticateClientRequest, _sts_token_v1_AuthenticateClientRequest__Output>
        AuthenticateClientResponse: MessageTypeDefinition<_sts_token_v1_AuthenticateClientResponse, _sts_token_v1_AuthenticateClientResponse__Output>
        ClientAuthentication: MessageTypeDefinition<_sts_token_v1_ClientAuthentication, _sts_token_v1_ClientAuthentication__Output>
        GetJwksRequest: MessageTypeDefinition<_sts_token_v1_GetJwksRequest, _sts_token_v1_GetJwksRequest__Output>
        GetJwksResponse: MessageTypeDefinition<_sts_token_v1_GetJwksResponse, _sts_token_v1_GetJwksResponse__Output>
        IntrospectRequest: MessageTypeDefinition<_sts_token_v1_IntrospectRequest, _sts_token_v1_IntrospectRequest__Output>
        IntrospectResponse: MessageTypeDefinition<_sts_token_v1_IntrospectResponse, _sts_token_v1_IntrospectResponse__Output>
        ItemError: MessageTypeDefinition<_sts_token_v1_ItemError, _sts_token_v1_ItemError__Output>
        MintBatchItem: MessageTypeDefinition<_sts_token_v1_MintBatchItem, _sts_token_v1_MintBatchItem__Output>
        MintBatchRequest: MessageTypeDefinition<_sts_token_v1_MintBatchRequest, _sts_token_v1_MintBatchRequest__Output>
        MintBatchResponse: MessageTypeDefinition<_sts_token_v1_MintBatchResponse, _sts_token_v1_MintBatchResponse__Output>
        MintRequest: MessageTypeDefinition<_sts_token_v1_MintRequest, _sts_token_v1_MintRequest__Output>
        MintResponse: MessageTypeDefinition<_sts_token_v1_MintResponse, _sts_token_v1_MintResponse__Output>
        MintResult: MessageTypeDefinition<_sts_token_v1_MintResult, _sts_token_v1_MintResult__Output>
        RevokeRequest: MessageTypeDefinition<_sts_token_v1_RevokeRequest, _sts_token_v1_RevokeRequest__Output>
        RevokeResponse: MessageTypeDefinition<_sts_token_v1_RevokeResponse, _sts_token_v1_RevokeResponse__Output>
        RevokeSubjectRequest: MessageTypeDefinition<_sts_token_v1_RevokeSubjectRequest, _sts_token_v1_RevokeSubjectRequest__Output>
        RevokeSubjectResponse: MessageTypeDefinition<_sts_token_v1_RevokeSubjectResponse, _sts_token_v1_RevokeSubjectResponse__Output>
        TokenBatchItem: MessageTypeDefinition<_sts_token_v1_TokenBatchItem, _sts_token_v1_TokenBatchItem__Output>
        TokenBatchRequest: MessageTypeDefinition<_sts_token_v1_TokenBatchRequest, _sts_token_v1_TokenBatchRequest__Output>
        TokenBatchResponse: MessageTypeDefinition<_sts_token_v1_TokenBatchResponse, _sts_token_v1_TokenBatchResponse__Output>
        TokenRequest: MessageTypeDefinition<_sts_token_v1_TokenRequest, _sts_token_v1_TokenRequest__Output>
        TokenResponse: MessageTypeDefinition<_sts_token_v1_TokenResponse, _sts_token_v1_TokenResponse__Output>
        TokenResult: MessageTypeDefinition<_sts_token_v1_TokenResult, _sts_token_v1_TokenResult__Output>
        /**
         * TokenService issues, describes and revokes tokens.
         */
        TokenService: SubtypeConstructor<typeof grpc.Client, _sts_token_v1_TokenServiceClient> & { service: _sts_token_v1_TokenServiceDefinition }
        UserInfoRequest: MessageTypeDefinition<_sts_token_v1_UserInfoRequest, _sts_token_v1_UserInfoRequest__Output>
        UserInfoResponse: MessageTypeDefinition<_sts_token_v1_UserInfoResponse, _sts_token_v1_UserInfoResponse__Output>
      }
    }
  }
}

