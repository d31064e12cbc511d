// Original file: proto/sts/audit/v1/audit.proto

import type { Record as _sts_audit_v1_Record, Record__Output as _sts_audit_v1_Record__Output } from '../../../sts/audit/v1/Record.js';
import type { LineageNode as _sts_audit_v1_LineageNode, LineageNode__Output as _sts_audit_v1_LineageNode__Output } from '../../../sts/audit/v1/LineageNode.js';

export interface LineageResponse {
  /**
   * The token itself.
   */
  'token'?: (_sts_audit_v1_Record | null);
  /**
   * Its parent, grandparent, ... up to the original grant (nearest first).
   */
  'ancestors'?: (_sts_audit_v1_Record)[];
  /**
   * Tokens made from it, recursively, down to 64 levels: protobuf decoders
   * refuse messages nested deeper than 100, and a refresh family nests one
   * level per rotation. A token on the 64th level may have descendants of its
   * own: the Lineage of its jti goes on from there.
   */
  'descendants'?: (_sts_audit_v1_LineageNode)[];
  /**
   * True when the answer leaves tokens out: ancestors past 10,000, or
   * descendants past 64 levels or 10,000 tokens (the nodes cut say `more`).
   */
  'truncated'?: (boolean);
}

export interface LineageResponse__Output {
  /**
   * The token itself.
   */
  'token': (_sts_audit_v1_Record__Output | null);
  /**
   * Its parent, grandparent, ... up to the original grant (nearest first).
   */
  'ancestors': (_sts_audit_v1_Record__Output)[];
  /**
   * Tokens made from it, recursively, down to 64 levels: protobuf decoders
   * refuse messages nested deeper than 100, and a refresh family nests one
   * level per rotation. A token on the 64th level may have descendants of its
   * own: the Lineage of its jti goes on from there.
   */
  'descendants': (_sts_audit_v1_LineageNode__Output)[];
  /**
   * True when the answer leaves tokens out: ancestors past 10,000, or
   * descendants past 64 levels or 10,000 tokens (the nodes cut say `more`).
   */
  'truncated': (boolean);
}
