import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Author as _sts_policy_v1_Author, Author__Output as _sts_policy_v1_Author__Output } from './sts/policy/v1/Author.js';
import type { DecideRequest as _sts_policy_v1_DecideRequest, DecideRequest__Output as _sts_policy_v1_DecideRequest__Output } from './sts/policy/v1/DecideRequest.js';
import type { Decision as _sts_policy_v1_Decision, Decision__Output as _sts_policy_v1_Decision__Output } from './sts/policy/v1/Decision.js';
import type { DeleteRequest as _sts_policy_v1_DeleteRequest, DeleteRequest__Output as _sts_policy_v1_DeleteRequest__Output } from './sts/policy/v1/DeleteRequest.js';
import type { DeleteResponse as _sts_policy_v1_DeleteResponse, DeleteResponse__Output as _sts_policy_v1_DeleteResponse__Output } from './sts/policy/v1/DeleteResponse.js';
import type { GetRequest as _sts_policy_v1_GetRequest, GetRequest__Output as _sts_policy_v1_GetRequest__Output } from './sts/policy/v1/GetRequest.js';
import type { ListRequest as _sts_policy_v1_ListRequest, ListRequest__Output as _sts_policy_v1_ListRequest__Output } from './sts/policy/v1/ListRequest.js';
import type { ListResponse as _sts_policy_v1_ListResponse, ListResponse__Output as _sts_policy_v1_ListResponse__Output } from './sts/policy/v1/ListResponse.js';
import type { Policy as _sts_policy_v1_Policy, Policy__Output as _sts_policy_v1_Policy__Output } from './sts/policy/v1/Policy.js';
import type { PolicyServiceClient as _sts_policy_v1_PolicyServiceClient, PolicyServiceDefinition as _sts_policy_v1_PolicyServiceDefinition } from './sts/policy/v1/PolicyService.js';
import type { PutRequest as _sts_policy_v1_PutRequest, PutRequest__Output as _sts_policy_v1_PutRequest__Output } from './sts/policy/v1/PutRequest.js';
import type { PutResponse as _sts_policy_v1_PutResponse, PutResponse__Output as _sts_policy_v1_PutResponse__Output } from './sts/policy/v1/PutResponse.js';
import type { ResetRequest as _sts_policy_v1_ResetRequest, ResetRequest__Output as _sts_policy_v1_ResetRequest__Output } from './sts/policy/v1/ResetRequest.js';
import type { ResetResponse as _sts_policy_v1_ResetResponse, ResetResponse__Output as _sts_policy_v1_ResetResponse__Output } from './sts/policy/v1/ResetResponse.js';
import type { Subject as _sts_policy_v1_Subject, Subject__Output as _sts_policy_v1_Subject__Output } from './sts/policy/v1/Subject.js';
import type { ValidateRequest as _sts_policy_v1_ValidateRequest, ValidateRequest__Output as _sts_policy_v1_ValidateRequest__Output } from './sts/policy/v1/ValidateRequest.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  sts: {
    policy: {
      v1: {
        Author: MessageTypeDefinition<_sts_policy_v1_Author, _sts_policy_v1_Author__Output>
        DecideRequest: MessageTypeDefinition<_sts_policy_v1_DecideRequest, _sts_policy_v1_DecideRequest__Output>
        Decision: MessageTypeDefinition<_sts_policy_v1_Decision, _sts_policy_v1_Decision__Output>
        DeleteRequest: MessageTypeDefinition<_sts_policy_v1_DeleteRequest, _sts_policy_v1_DeleteRequest__Output>
        DeleteResponse: MessageTypeDefinition<_sts_policy_v1_DeleteResponse, _sts_policy_v1_DeleteResponse__Output>
        GetRequest: MessageTypeDefinition<_sts_policy_v1_GetRequest, _sts_policy_v1_GetRequest__Output>
        ListRequest: MessageTypeDefinition<_sts_policy_v1_ListRequest, _sts_policy_v1_ListRequest__Output>
        ListResponse: MessageTypeDefinition<_sts_policy_v1_ListResponse, _sts_policy_v1_ListResponse__Output>
        Policy: MessageTypeDefinition<_sts_policy_v1_Policy, _sts_policy_v1_Policy__Output>
        /**
         * PolicyService stores versioned Cedar policies and makes exchange decisions.
         * Every call but Decide is an operator's: it carries `authorization: Bearer
         * <access token>` in its metadata, a token of this stack naming
         * policy.api_audience and carrying policy.read_scope (Validate, Get, List) or
         * policy.write_scope (all six), or the shared break-glass
         * STS_POLICY_ADMIN_TOKEN. A missing or bad credential gets invalid_token
         * (UNAUTHENTICATED), a token without the scope insufficient_scope
         * (PERMISSION_DENIED).
         */
        PolicyService: SubtypeConstructor<typeof grpc.Client, _sts_policy_v1_PolicyServiceClient> & { service: _sts_policy_v1_PolicyServiceDefinition }
        PutRequest: MessageTypeDefinition<_sts_policy_v1_PutRequest, _sts_policy_v1_PutRequest__Output>
        PutResponse: MessageTypeDefinition<_sts_policy_v1_PutResponse, _sts_policy_v1_PutResponse__Output>
        ResetRequest: MessageTypeDefinition<_sts_policy_v1_ResetRequest, _sts_policy_v1_ResetRequest__Output>
        ResetResponse: MessageTypeDefinition<_sts_policy_v1_ResetResponse, _sts_policy_v1_ResetResponse__Output>
        Subject: MessageTypeDefinition<_sts_policy_v1_Subject, _sts_policy_v1_Subject__Output>
        ValidateRequest: MessageTypeDefinition<_sts_policy_v1_ValidateRequest, _sts_policy_v1_ValidateRequest__Output>
      }
    }
  }
}

