// Original file: proto/sts/audit/v1/audit.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { LineageRequest as _sts_audit_v1_LineageRequest, LineageRequest__Output as _sts_audit_v1_LineageRequest__Output } from '../../../sts/audit/v1/LineageRequest.js';
import type { LineageResponse as _sts_audit_v1_LineageResponse, LineageResponse__Output as _sts_audit_v1_LineageResponse__Output } from '../../../sts/audit/v1/LineageResponse.js';
import type { QueryRequest as _sts_audit_v1_QueryRequest, QueryRequest__Output as _sts_audit_v1_QueryRequest__Output } from '../../../sts/audit/v1/QueryRequest.js';
import type { QueryResponse as _sts_audit_v1_QueryResponse, QueryResponse__Output as _sts_audit_v1_QueryResponse__Output } from '../../../sts/audit/v1/QueryResponse.js';
import type { Record as _sts_audit_v1_Record, Record__Output as _sts_audit_v1_Record__Output } from '../../../sts/audit/v1/Record.js';
import type { TailRequest as _sts_audit_v1_TailRequest, TailRequest__Output as _sts_audit_v1_TailRequest__Output } from '../../../sts/audit/v1/TailRequest.js';
import type { VerifyRequest as _sts_audit_v1_VerifyRequest, VerifyRequest__Output as _sts_audit_v1_VerifyRequest__Output } from '../../../sts/audit/v1/VerifyRequest.js';
import type { VerifyResponse as _sts_audit_v1_VerifyResponse, VerifyResponse__Output as _sts_audit_v1_VerifyResponse__Output } from '../../../sts/audit/v1/VerifyResponse.js';

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
export interface AuditServiceClient extends grpc.Client {
  /**
   * Lineage returns a token's ancestors up to the original grant and the tree
   * of tokens exchanged from it; NOT_FOUND when no token with that jti is
   * recorded.
   */
  Lineage(argument: _sts_audit_v1_LineageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_LineageResponse__Output>): grpc.ClientUnaryCall;
  Lineage(argument: _sts_audit_v1_LineageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_audit_v1_LineageResponse__Output>): grpc.ClientUnaryCall;
  Lineage(argument: _sts_audit_v1_LineageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_LineageResponse__Output>): grpc.ClientUnaryCall;
  Lineage(argument: _sts_audit_v1_LineageRequest, callback: grpc.requestCallback<_sts_audit_v1_LineageResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Lineage returns a token's ancestors up to the original grant and the tree
   * of tokens exchanged from it; NOT_FOUND when no token with that jti is
   * recorded.
   */
  lineage(argument: _sts_audit_v1_LineageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_LineageResponse__Output>): grpc.ClientUnaryCall;
  lineage(argument: _sts_audit_v1_LineageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_audit_v1_LineageResponse__Output>): grpc.ClientUnaryCall;
  lineage(argument: _sts_audit_v1_LineageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_LineageResponse__Output>): grpc.ClientUnaryCall;
  lineage(argument: _sts_audit_v1_LineageRequest, callback: grpc.requestCallback<_sts_audit_v1_LineageResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Query returns records matching every given filter, oldest first, paged.
   */
  Query(argument: _sts_audit_v1_QueryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_QueryResponse__Output>): grpc.ClientUnaryCall;
  Query(argument: _sts_audit_v1_QueryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_audit_v1_QueryResponse__Output>): grpc.ClientUnaryCall;
  Query(argument: _sts_audit_v1_QueryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_QueryResponse__Output>): grpc.ClientUnaryCall;
  Query(argument: _sts_audit_v1_QueryRequest, callback: grpc.requestCallback<_sts_audit_v1_QueryResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Query returns records matching every given filter, oldest first, paged.
   */
  query(argument: _sts_audit_v1_QueryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_QueryResponse__Output>): grpc.ClientUnaryCall;
  query(argument: _sts_audit_v1_QueryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_audit_v1_QueryResponse__Output>): grpc.ClientUnaryCall;
  query(argument: _sts_audit_v1_QueryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_QueryResponse__Output>): grpc.ClientUnaryCall;
  query(argument: _sts_audit_v1_QueryRequest, callback: grpc.requestCallback<_sts_audit_v1_QueryResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Tail streams records as they are recorded, with the same filters as Query,
   * starting after `after_sequence` (0: only new records). The caller's
   * credential is checked again every second: the stream ends UNAUTHENTICATED
   * (invalid_token) once it has expired or been revoked. An auditor holds at
   * most 8 open at once (64 in all); one more is UNAVAILABLE
   * (temporarily_unavailable). Once a Tail is taken, its header metadata
   * `sts-tail-after` gives the sequence it starts after (decimal): a caller
   * that asked for new records only and got none yet resumes from there. When
   * the service stops, open Tails end UNAVAILABLE (temporarily_unavailable) at
   * once and new ones are refused so: open it again after the last record
   * received.
   */
  Tail(argument: _sts_audit_v1_TailRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_sts_audit_v1_Record__Output>;
  Tail(argument: _sts_audit_v1_TailRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_sts_audit_v1_Record__Output>;
  /**
   * Tail streams records as they are recorded, with the same filters as Query,
   * starting after `after_sequence` (0: only new records). The caller's
   * credential is checked again every second: the stream ends UNAUTHENTICATED
   * (invalid_token) once it has expired or been revoked. An auditor holds at
   * most 8 open at once (64 in all); one more is UNAVAILABLE
   * (temporarily_unavailable). Once a Tail is taken, its header metadata
   * `sts-tail-after` gives the sequence it starts after (decimal): a caller
   * that asked for new records only and got none yet resumes from there. When
   * the service stops, open Tails end UNAVAILABLE (temporarily_unavailable) at
   * once and new ones are refused so: open it again after the last record
   * received.
   */
  tail(argument: _sts_audit_v1_TailRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_sts_audit_v1_Record__Output>;
  tail(argument: _sts_audit_v1_TailRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_sts_audit_v1_Record__Output>;
  
  /**
   * Verify walks the hash chain and reports the first record that does not
   * match. The chain must also end in the record this service last appended:
   * records cut off the end, added after it, or rewritten with recomputed
   * hashes fail too (known while the service runs; after a restart the head is
   * read from the file). Calls asked while a walk is under way share the next
   * walk.
   */
  Verify(argument: _sts_audit_v1_VerifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _sts_audit_v1_VerifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_audit_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _sts_audit_v1_VerifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _sts_audit_v1_VerifyRequest, callback: grpc.requestCallback<_sts_audit_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Verify walks the hash chain and reports the first record that does not
   * match. The chain must also end in the record this service last appended:
   * records cut off the end, added after it, or rewritten with recomputed
   * hashes fail too (known while the service runs; after a restart the head is
   * read from the file). Calls asked while a walk is under way share the next
   * walk.
   */
  verify(argument: _sts_audit_v1_VerifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _sts_audit_v1_VerifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_audit_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _sts_audit_v1_VerifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_audit_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _sts_audit_v1_VerifyRequest, callback: grpc.requestCallback<_sts_audit_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  
}

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
export interface AuditServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Lineage returns a token's ancestors up to the original grant and the tree
   * of tokens exchanged from it; NOT_FOUND when no token with that jti is
   * recorded.
   */
  Lineage: grpc.handleUnaryCall<_sts_audit_v1_LineageRequest__Output, _sts_audit_v1_LineageResponse>;
  
  /**
   * Query returns records matching every given filter, oldest first, paged.
   */
  Query: grpc.handleUnaryCall<_sts_audit_v1_QueryRequest__Output, _sts_audit_v1_QueryResponse>;
  
  /**
   * Tail streams records as they are recorded, with the same filters as Query,
   * starting after `after_sequence` (0: only new records). The caller's
   * credential is checked again every second: the stream ends UNAUTHENTICATED
   * (invalid_token) once it has expired or been revoked. An auditor holds at
   * most 8 open at once (64 in all); one more is UNAVAILABLE
   * (temporarily_unavailable). Once a Tail is taken, its header metadata
   * `sts-tail-after` gives the sequence it starts after (decimal): a caller
   * that asked for new records only and got none yet resumes from there. When
   * the service stops, open Tails end UNAVAILABLE (temporarily_unavailable) at
   * once and new ones are refused so: open it again after the last record
   * received.
   */
  Tail: grpc.handleServerStreamingCall<_sts_audit_v1_TailRequest__Output, _sts_audit_v1_Record>;
  
  /**
   * Verify walks the hash chain and reports the first record that does not
   * match. The chain must also end in the record this service last appended:
   * records cut off the end, added after it, or rewritten with recomputed
   * hashes fail too (known while the service runs; after a restart the head is
   * read from the file). Calls asked while a walk is under way share the next
   * walk.
   */
  Verify: grpc.handleUnaryCall<_sts_audit_v1_VerifyRequest__Output, _sts_audit_v1_VerifyResponse>;
  
}

export interface AuditServiceDefinition extends grpc.ServiceDefinition {
  Lineage: MethodDefinition<_sts_audit_v1_LineageRequest, _sts_audit_v1_LineageResponse, _sts_audit_v1_LineageRequest__Output, _sts_audit_v1_LineageResponse__Output>
  Query: MethodDefinition<_sts_audit_v1_QueryRequest, _sts_audit_v1_QueryResponse, _sts_audit_v1_QueryRequest__Output, _sts_audit_v1_QueryResponse__Output>
  Tail: MethodDefinition<_sts_audit_v1_TailRequest, _sts_audit_v1_Record, _sts_audit_v1_TailRequest__Output, _sts_audit_v1_Record__Output>
  Verify: MethodDefinition<_sts_audit_v1_VerifyRequest, _sts_audit_v1_VerifyResponse, _sts_audit_v1_VerifyRequest__Output, _sts_audit_v1_VerifyResponse__Output>
}
