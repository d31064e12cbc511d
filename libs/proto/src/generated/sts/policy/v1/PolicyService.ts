// Original file: proto/sts/policy/v1/policy.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DecideRequest as _sts_policy_v1_DecideRequest, DecideRequest__Output as _sts_policy_v1_DecideRequest__Output } from '../../../sts/policy/v1/DecideRequest.js';
import type { Decision as _sts_policy_v1_Decision, Decision__Output as _sts_policy_v1_Decision__Output } from '../../../sts/policy/v1/Decision.js';
import type { DeleteRequest as _sts_policy_v1_DeleteRequest, DeleteRequest__Output as _sts_policy_v1_DeleteRequest__Output } from '../../../sts/policy/v1/DeleteRequest.js';
import type { DeleteResponse as _sts_policy_v1_DeleteResponse, DeleteResponse__Output as _sts_policy_v1_DeleteResponse__Output } from '../../../sts/policy/v1/DeleteResponse.js';
import type { GetRequest as _sts_policy_v1_GetRequest, GetRequest__Output as _sts_policy_v1_GetRequest__Output } from '../../../sts/policy/v1/GetRequest.js';
import type { ListRequest as _sts_policy_v1_ListRequest, ListRequest__Output as _sts_policy_v1_ListRequest__Output } from '../../../sts/policy/v1/ListRequest.js';
import type { ListResponse as _sts_policy_v1_ListResponse, ListResponse__Output as _sts_policy_v1_ListResponse__Output } from '../../../sts/policy/v1/ListResponse.js';
import type { Policy as _sts_policy_v1_Policy, Policy__Output as _sts_policy_v1_Policy__Output } from '../../../sts/policy/v1/Policy.js';
import type { PutRequest as _sts_policy_v1_PutRequest, PutRequest__Output as _sts_policy_v1_PutRequest__Output } from '../../../sts/policy/v1/PutRequest.js';
import type { PutResponse as _sts_policy_v1_PutResponse, PutResponse__Output as _sts_policy_v1_PutResponse__Output } from '../../../sts/policy/v1/PutResponse.js';
import type { ResetRequest as _sts_policy_v1_ResetRequest, ResetRequest__Output as _sts_policy_v1_ResetRequest__Output } from '../../../sts/policy/v1/ResetRequest.js';
import type { ResetResponse as _sts_policy_v1_ResetResponse, ResetResponse__Output as _sts_policy_v1_ResetResponse__Output } from '../../../sts/policy/v1/ResetResponse.js';
import type { ValidateRequest as _sts_policy_v1_ValidateRequest, ValidateRequest__Output as _sts_policy_v1_ValidateRequest__Output } from '../../../sts/policy/v1/ValidateRequest.js';

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
export interface PolicyServiceClient extends grpc.Client {
  /**
   * Decide evaluates an exchange request against the active policy set. A
   * replica that cannot confirm its copy of the set is current (cut off from
   * NATS, or its copy behind the bucket, for longer than policy.max_staleness)
   * answers temporarily_unavailable (UNAVAILABLE) rather than from that copy.
   */
  Decide(argument: _sts_policy_v1_DecideRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  Decide(argument: _sts_policy_v1_DecideRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  Decide(argument: _sts_policy_v1_DecideRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  Decide(argument: _sts_policy_v1_DecideRequest, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  /**
   * Decide evaluates an exchange request against the active policy set. A
   * replica that cannot confirm its copy of the set is current (cut off from
   * NATS, or its copy behind the bucket, for longer than policy.max_staleness)
   * answers temporarily_unavailable (UNAVAILABLE) rather than from that copy.
   */
  decide(argument: _sts_policy_v1_DecideRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  decide(argument: _sts_policy_v1_DecideRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  decide(argument: _sts_policy_v1_DecideRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  decide(argument: _sts_policy_v1_DecideRequest, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  
  /**
   * Delete removes one policy; its policy.updated event names who did. It
   * answers not_found (NOT_FOUND) when none of that id is in force, and
   * removes only the version the answering replica runs (invalid_request when
   * the policy changed since: Get it again), and answers as Put does once its
   * event is stored.
   */
  Delete(argument: _sts_policy_v1_DeleteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _sts_policy_v1_DeleteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _sts_policy_v1_DeleteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _sts_policy_v1_DeleteRequest, callback: grpc.requestCallback<_sts_policy_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Delete removes one policy; its policy.updated event names who did. It
   * answers not_found (NOT_FOUND) when none of that id is in force, and
   * removes only the version the answering replica runs (invalid_request when
   * the policy changed since: Get it again), and answers as Put does once its
   * event is stored.
   */
  delete(argument: _sts_policy_v1_DeleteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _sts_policy_v1_DeleteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _sts_policy_v1_DeleteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _sts_policy_v1_DeleteRequest, callback: grpc.requestCallback<_sts_policy_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Get returns one policy; not_found (NOT_FOUND) when none of that id is in
   * force; temporarily_unavailable as Decide when the replica's copy is out of
   * date.
   */
  Get(argument: _sts_policy_v1_GetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Policy__Output>): grpc.ClientUnaryCall;
  Get(argument: _sts_policy_v1_GetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_Policy__Output>): grpc.ClientUnaryCall;
  Get(argument: _sts_policy_v1_GetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Policy__Output>): grpc.ClientUnaryCall;
  Get(argument: _sts_policy_v1_GetRequest, callback: grpc.requestCallback<_sts_policy_v1_Policy__Output>): grpc.ClientUnaryCall;
  /**
   * Get returns one policy; not_found (NOT_FOUND) when none of that id is in
   * force; temporarily_unavailable as Decide when the replica's copy is out of
   * date.
   */
  get(argument: _sts_policy_v1_GetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Policy__Output>): grpc.ClientUnaryCall;
  get(argument: _sts_policy_v1_GetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_Policy__Output>): grpc.ClientUnaryCall;
  get(argument: _sts_policy_v1_GetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Policy__Output>): grpc.ClientUnaryCall;
  get(argument: _sts_policy_v1_GetRequest, callback: grpc.requestCallback<_sts_policy_v1_Policy__Output>): grpc.ClientUnaryCall;
  
  /**
   * List returns every policy, ordered by id; temporarily_unavailable as Decide
   * when the replica's copy is out of date.
   */
  List(argument: _sts_policy_v1_ListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _sts_policy_v1_ListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _sts_policy_v1_ListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _sts_policy_v1_ListRequest, callback: grpc.requestCallback<_sts_policy_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  /**
   * List returns every policy, ordered by id; temporarily_unavailable as Decide
   * when the replica's copy is out of date.
   */
  list(argument: _sts_policy_v1_ListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _sts_policy_v1_ListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _sts_policy_v1_ListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _sts_policy_v1_ListRequest, callback: grpc.requestCallback<_sts_policy_v1_ListResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Put creates or replaces one policy after validating it against the schema;
   * the version names its author, as does its policy.updated event. It answers
   * once that event is stored; temporarily_unavailable when it is not by the
   * call's deadline, the change being stored nonetheless and its event
   * retried: Get the policy before writing again. A Put of a new id into a
   * set that holds policy.max_policies policies is refused with
   * failed_precondition (FAILED_PRECONDITION), storing nothing: delete one
   * first.
   */
  Put(argument: _sts_policy_v1_PutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  Put(argument: _sts_policy_v1_PutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  Put(argument: _sts_policy_v1_PutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  Put(argument: _sts_policy_v1_PutRequest, callback: grpc.requestCallback<_sts_policy_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Put creates or replaces one policy after validating it against the schema;
   * the version names its author, as does its policy.updated event. It answers
   * once that event is stored; temporarily_unavailable when it is not by the
   * call's deadline, the change being stored nonetheless and its event
   * retried: Get the policy before writing again. A Put of a new id into a
   * set that holds policy.max_policies policies is refused with
   * failed_precondition (FAILED_PRECONDITION), storing nothing: delete one
   * first.
   */
  put(argument: _sts_policy_v1_PutRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  put(argument: _sts_policy_v1_PutRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  put(argument: _sts_policy_v1_PutRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  put(argument: _sts_policy_v1_PutRequest, callback: grpc.requestCallback<_sts_policy_v1_PutResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Reset hands one policy back to the config file, undoing an operator's Put
   * or Delete of a config hop's policy, or the retirement of a hop a config
   * file left out (which a file declaring it again does not undo): when the config file of the answering
   * replica declares a hop policy with this id, the stored policy becomes that
   * file's current version of it, managed by the file again (a later edit of
   * the hop applies at the next start, as for any config hop). Written as Put
   * writes (validated, a new revision, the previous one kept in history, in
   * force on every replica without restart) and recorded as Put is (its
   * policy.updated names the operator, with change "reset"), answering once
   * that record is stored. not_found (NOT_FOUND) when the config file declares
   * no such hop policy; when the stored policy already is the file's version,
   * managed by the file, it writes and announces nothing (changed false).
   */
  Reset(argument: _sts_policy_v1_ResetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_ResetResponse__Output>): grpc.ClientUnaryCall;
  Reset(argument: _sts_policy_v1_ResetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_ResetResponse__Output>): grpc.ClientUnaryCall;
  Reset(argument: _sts_policy_v1_ResetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_ResetResponse__Output>): grpc.ClientUnaryCall;
  Reset(argument: _sts_policy_v1_ResetRequest, callback: grpc.requestCallback<_sts_policy_v1_ResetResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Reset hands one policy back to the config file, undoing an operator's Put
   * or Delete of a config hop's policy, or the retirement of a hop a config
   * file left out (which a file declaring it again does not undo): when the config file of the answering
   * replica declares a hop policy with this id, the stored policy becomes that
   * file's current version of it, managed by the file again (a later edit of
   * the hop applies at the next start, as for any config hop). Written as Put
   * writes (validated, a new revision, the previous one kept in history, in
   * force on every replica without restart) and recorded as Put is (its
   * policy.updated names the operator, with change "reset"), answering once
   * that record is stored. not_found (NOT_FOUND) when the config file declares
   * no such hop policy; when the stored policy already is the file's version,
   * managed by the file, it writes and announces nothing (changed false).
   */
  reset(argument: _sts_policy_v1_ResetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_ResetResponse__Output>): grpc.ClientUnaryCall;
  reset(argument: _sts_policy_v1_ResetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_ResetResponse__Output>): grpc.ClientUnaryCall;
  reset(argument: _sts_policy_v1_ResetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_ResetResponse__Output>): grpc.ClientUnaryCall;
  reset(argument: _sts_policy_v1_ResetRequest, callback: grpc.requestCallback<_sts_policy_v1_ResetResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Validate evaluates a request against the active set, or against it with
   * a candidate policy text in place of one policy, or without one policy
   * (what-if), changing nothing; a candidate Put would refuse (an empty text
   * included) is invalid_request;
   * temporarily_unavailable as Decide when the replica's copy is out of date.
   */
  Validate(argument: _sts_policy_v1_ValidateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  Validate(argument: _sts_policy_v1_ValidateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  Validate(argument: _sts_policy_v1_ValidateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  Validate(argument: _sts_policy_v1_ValidateRequest, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  /**
   * Validate evaluates a request against the active set, or against it with
   * a candidate policy text in place of one policy, or without one policy
   * (what-if), changing nothing; a candidate Put would refuse (an empty text
   * included) is invalid_request;
   * temporarily_unavailable as Decide when the replica's copy is out of date.
   */
  validate(argument: _sts_policy_v1_ValidateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  validate(argument: _sts_policy_v1_ValidateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  validate(argument: _sts_policy_v1_ValidateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  validate(argument: _sts_policy_v1_ValidateRequest, callback: grpc.requestCallback<_sts_policy_v1_Decision__Output>): grpc.ClientUnaryCall;
  
}

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
export interface PolicyServiceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Decide evaluates an exchange request against the active policy set. A
   * replica that cannot confirm its copy of the set is current (cut off from
   * NATS, or its copy behind the bucket, for longer than policy.max_staleness)
   * answers temporarily_unavailable (UNAVAILABLE) rather than from that copy.
   */
  Decide: grpc.handleUnaryCall<_sts_policy_v1_DecideRequest__Output, _sts_policy_v1_Decision>;
  
  /**
   * Delete removes one policy; its policy.updated event names who did. It
   * answers not_found (NOT_FOUND) when none of that id is in force, and
   * removes only the version the answering replica runs (invalid_request when
   * the policy changed since: Get it again), and answers as Put does once its
   * event is stored.
   */
  Delete: grpc.handleUnaryCall<_sts_policy_v1_DeleteRequest__Output, _sts_policy_v1_DeleteResponse>;
  
  /**
   * Get returns one policy; not_found (NOT_FOUND) when none of that id is in
   * force; temporarily_unavailable as Decide when the replica's copy is out of
   * date.
   */
  Get: grpc.handleUnaryCall<_sts_policy_v1_GetRequest__Output, _sts_policy_v1_Policy>;
  
  /**
   * List returns every policy, ordered by id; temporarily_unavailable as Decide
   * when the replica's copy is out of date.
   */
  List: grpc.handleUnaryCall<_sts_policy_v1_ListRequest__Output, _sts_policy_v1_ListResponse>;
  
  /**
   * Put creates or replaces one policy after validating it against the schema;
   * the version names its author, as does its policy.updated event. It answers
   * once that event is stored; temporarily_unavailable when it is not by the
   * call's deadline, the change being stored nonetheless and its event
   * retried: Get the policy before writing again. A Put of a new id into a
   * set that holds policy.max_policies policies is refused with
   * failed_precondition (FAILED_PRECONDITION), storing nothing: delete one
   * first.
   */
  Put: grpc.handleUnaryCall<_sts_policy_v1_PutRequest__Output, _sts_policy_v1_PutResponse>;
  
  /**
   * Reset hands one policy back to the config file, undoing an operator's Put
   * or Delete of a config hop's policy, or the retirement of a hop a config
   * file left out (which a file declaring it again does not undo): when the config file of the answering
   * replica declares a hop policy with this id, the stored policy becomes that
   * file's current version of it, managed by the file again (a later edit of
   * the hop applies at the next start, as for any config hop). Written as Put
   * writes (validated, a new revision, the previous one kept in history, in
   * force on every replica without restart) and recorded as Put is (its
   * policy.updated names the operator, with change "reset"), answering once
   * that record is stored. not_found (NOT_FOUND) when the config file declares
   * no such hop policy; when the stored policy already is the file's version,
   * managed by the file, it writes and announces nothing (changed false).
   */
  Reset: grpc.handleUnaryCall<_sts_policy_v1_ResetRequest__Output, _sts_policy_v1_ResetResponse>;
  
  /**
   * Validate evaluates a request against the active set, or against it with
   * a candidate policy text in place of one policy, or without one policy
   * (what-if), changing nothing; a candidate Put would refuse (an empty text
   * included) is invalid_request;
   * temporarily_unavailable as Decide when the replica's copy is out of date.
   */
  Validate: grpc.handleUnaryCall<_sts_policy_v1_ValidateRequest__Output, _sts_policy_v1_Decision>;
  
}

export interface PolicyServiceDefinition extends grpc.ServiceDefinition {
  Decide: MethodDefinition<_sts_policy_v1_DecideRequest, _sts_policy_v1_Decision, _sts_policy_v1_DecideRequest__Output, _sts_policy_v1_Decision__Output>
  Delete: MethodDefinition<_sts_policy_v1_DeleteRequest, _sts_policy_v1_DeleteResponse, _sts_policy_v1_DeleteRequest__Output, _sts_policy_v1_DeleteResponse__Output>
  Get: MethodDefinition<_sts_policy_v1_GetRequest, _sts_policy_v1_Policy, _sts_policy_v1_GetRequest__Output, _sts_policy_v1_Policy__Output>
  List: MethodDefinition<_sts_policy_v1_ListRequest, _sts_policy_v1_ListResponse, _sts_policy_v1_ListRequest__Output, _sts_policy_v1_ListResponse__Output>
  Put: MethodDefinition<_sts_policy_v1_PutRequest, _sts_policy_v1_PutResponse, _sts_policy_v1_PutRequest__Output, _sts_policy_v1_PutResponse__Output>
  Reset: MethodDefinition<_sts_policy_v1_ResetRequest, _sts_policy_v1_ResetResponse, _sts_policy_v1_ResetRequest__Output, _sts_policy_v1_ResetResponse__Output>
  Validate: MethodDefinition<_sts_policy_v1_ValidateRequest, _sts_policy_v1_Decision, _sts_policy_v1_ValidateRequest__Output, _sts_policy_v1_Decision__Output>
}
