// Original file: proto/sts/audit/v1/audit.proto

import type { Record as _sts_audit_v1_Record, Record__Output as _sts_audit_v1_Record__Output } from '../../../sts/audit/v1/Record.js';
import type { LineageNode as _sts_audit_v1_LineageNode, LineageNode__Output as _sts_audit_v1_LineageNode__Output } from '../../../sts/audit/v1/LineageNode.js';

/**
 * LineageNode is a token in the tree of tokens exchanged from another.
 */
export interface LineageNode {
  'record'?: (_sts_audit_v1_Record | null);
  'children'?: (_sts_audit_v1_LineageNode)[];
  /**
   * True when tokens made from this one are left out of `children` (it is on
   * the deepest level an answer nests, or the answer's size bound was
   * reached): the Lineage of its jti goes on from here.
   */
  'more'?: (boolean);
}

/**
 * LineageNode is a token in the tree of tokens exchanged from another.
 */
export interface LineageNode__Output {
  'record': (_sts_audit_v1_Record__Output | null);
  'children': (_sts_audit_v1_LineageNode__Output)[];
  /**
   * True when tokens made from this one are left out of `children` (it is on
   * the deepest level an answer nests, or the answer's size bound was
   * reached): the Lineage of its jti goes on from here.
   */
  'more': (boolean);
}
