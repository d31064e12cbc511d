import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { KeyServiceClient as _sts_token_v1_KeyServiceClient, KeyServiceDefinition as _sts_token_v1_KeyServiceDefinition } from './sts/token/v1/KeyService.js';
import type { ListKeysRequest as _sts_token_v1_ListKeysRequest, ListKeysRequest__Output as _sts_token_v1_ListKeysRequest__Output } from './sts/token/v1/ListKeysRequest.js';
import type { ListKeysResponse as _sts_token_v1_ListKeysResponse, ListKeysResponse__Output as _sts_token_v1_ListKeysResponse__Output } from './sts/token/v1/ListKeysResponse.js';
import type { RotateKeyRequest as _sts_token_v1_RotateKeyRequest, RotateKeyRequest__Output as _sts_token_v1_RotateKeyRequest__Output } from './sts/token/v1/RotateKeyRequest.js';
import type { RotateKeyResponse as _sts_token_v1_RotateKeyResponse, RotateKeyResponse__Output as _sts_token_v1_RotateKeyResponse__Output } from './sts/token/v1/RotateKeyResponse.js';
import type { SigningKeyInfo as _sts_token_v1_SigningKeyInfo, SigningKeyInfo__Output as _sts_token_v1_SigningKeyInfo__Output } from './sts/token/v1/SigningKeyInfo.js';
import type { WithdrawKeyRequest as _sts_token_v1_WithdrawKeyRequest, WithdrawKeyRequest__Output as _sts_token_v1_WithdrawKeyRequest__Output } from './sts/token/v1/WithdrawKeyRequest.js';
import type { WithdrawKeyResponse as _sts_token_v1_WithdrawKeyResponse, WithdrawKeyResponse__Output as _sts_token_v1_WithdrawKeyResponse__Output } from './sts/token/v1/WithdrawKeyResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  sts: {
    token: {
      v1: {
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
        KeyService: SubtypeConstructor<typeof grpc.Client, _sts_token_v1_KeyServiceClient> & { service: _sts_token_v1_KeyServiceDefinition }
        ListKeysRequest: MessageTypeDefinition<_sts_token_v1_ListKeysRequest, _sts_token_v1_ListKeysRequest__Output>
        ListKeysResponse: MessageTypeDefinition<_sts_token_v1_ListKeysResponse, _sts_token_v1_ListKeysResponse__Output>
        RotateKeyRequest: MessageTypeDefinition<_sts_token_v1_RotateKeyRequest, _sts_token_v1_RotateKeyRequest__Output>
        RotateKeyResponse: MessageTypeDefinition<_sts_token_v1_RotateKeyResponse, _sts_token_v1_RotateKeyResponse__Output>
        SigningKeyInfo: MessageTypeDefinition<_sts_token_v1_SigningKeyInfo, _sts_token_v1_SigningKeyInfo__Output>
        WithdrawKeyRequest: MessageTypeDefinition<_sts_token_v1_WithdrawKeyRequest, _sts_token_v1_WithdrawKeyRequest__Output>
        WithdrawKeyResponse: MessageTypeDefinition<_sts_token_v1_WithdrawKeyResponse, _sts_token_v1_WithdrawKeyResponse__Output>
      }
    }
  }
}

