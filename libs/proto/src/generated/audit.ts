import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AuditServiceClient as _sts_audit_v1_AuditServiceClient, AuditServiceDefinition as _sts_audit_v1_AuditServiceDefinition } from './sts/audit/v1/AuditService.js';
import type { Filter as _sts_audit_v1_Filter, Filter__Output as _sts_audit_v1_Filter__Output } from './sts/audit/v1/Filter.js';
import type { LineageNode as _sts_audit_v1_LineageNode, LineageNode__Output as _sts_audit_v1_LineageNode__Output } from './sts/audit/v1/LineageNode.js';
import type { LineageRequest as _sts_audit_v1_LineageRequest, LineageRequest__Output as _sts_audit_v1_LineageRequest__Output } from './sts/audit/v1/LineageRequest.js';
import type { LineageResponse as _sts_audit_v1_LineageResponse, LineageResponse__Output as _sts_audit_v1_LineageResponse__Output } from './sts/audit/v1/LineageResponse.js';
import type { QueryRequest as _sts_audit_v1_QueryRequest, QueryRequest__Output as _sts_audit_v1_QueryRequest__Output } from './sts/audit/v1/QueryRequest.js';
import type { QueryResponse as _sts_audit_v1_QueryResponse, QueryResponse__Output as _sts_audit_v1_QueryResponse__Output } from './sts/audit/v1/QueryResponse.js';
import type { Record as _sts_audit_v1_Record, Record__Output as _sts_audit_v1_Record__Output } from './sts/audit/v1/Record.js';
import type { TailRequest as _sts_audit_v1_TailRequest, TailRequest__Output as _sts_audit_v1_TailRequest__Output } from './sts/audit/v1/TailRequest.js';
import type { VerifyRequest as _sts_audit_v1_VerifyRequest, VerifyRequest__Output as _sts_audit_v1_VerifyRequest__Output } from './sts/audit/v1/VerifyRequest.js';
import type { VerifyResponse as _sts_audit_v1_VerifyResponse, VerifyResponse__Output as _sts_audit_v1_VerifyResponse__Output } from './sts/audit/v1/VerifyResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  sts: {
    audit: {
      v1: {
        /**
         * AuditService answers auditors: what happened, where a token came from,
         * what was made from it, and whether the record was tampered with. Every call
         * carries `authorization: Bearer <credential>` metadata: an auditor's access
         * token from this stack (audience `audit.api_audience`, scope
         * `audit.api_scope`), or the shared break-glass STS_AUDIT_TOKEN. Every call is
         * itself recorded, as an `audit.accessed` event naming the auditor, before it
         * is answered; when that record cannot be stored the call fails with
         * UNAVAILABLE and reads nothing.
         */
        AuditService: SubtypeConstructor<typeof grpc.Client, _sts_audit_v1_AuditServiceClient> & { service: _sts_audit_v1_AuditServiceDefinition }
        Filter: MessageTypeDefinition<_sts_audit_v1_Filter, _sts_audit_v1_Filter__Output>
        LineageNode: MessageTypeDefinition<_sts_audit_v1_LineageNode, _sts_audit_v1_LineageNode__Output>
        LineageRequest: MessageTypeDefinition<_sts_audit_v1_LineageRequest, _sts_audit_v1_LineageRequest__Output>
        LineageResponse: MessageTypeDefinition<_sts_audit_v1_LineageResponse, _sts_audit_v1_LineageResponse__Output>
        QueryRequest: MessageTypeDefinition<_sts_audit_v1_QueryRequest, _sts_audit_v1_QueryRequest__Output>
        QueryResponse: MessageTypeDefinition<_sts_audit_v1_QueryResponse, _sts_audit_v1_QueryResponse__Output>
        Record: MessageTypeDefinition<_sts_audit_v1_Record, _sts_audit_v1_Record__Output>
        TailRequest: MessageTypeDefinition<_sts_audit_v1_TailRequest, _sts_audit_v1_TailRequest__Output>
        VerifyRequest: MessageTypeDefinition<_sts_audit_v1_VerifyRequest, _sts_audit_v1_VerifyRequest__Output>
        VerifyResponse: MessageTypeDefinition<_sts_audit_v1_VerifyResponse, _sts_audit_v1_VerifyResponse__Output>
      }
    }
  }
}

