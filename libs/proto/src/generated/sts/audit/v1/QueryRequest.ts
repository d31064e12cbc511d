// Original file: proto/sts/audit/v1/audit.proto

import type { Filter as _sts_audit_v1_Filter, Filter__Output as _sts_audit_v1_Filter__Output } from '../../../sts/audit/v1/Filter.js';

export interface QueryRequest {
  'filter'?: (_sts_audit_v1_Filter | null);
  /**
   * At most this many records (default 100, max 1000).
   */
  'page_size'?: (number);
  /**
   * Opaque token from a previous response.
   */
  'page_token'?: (string);
}

export interface QueryRequest__Output {
  'filter': (_sts_audit_v1_Filter__Output | null);
  /**
   * At most this many records (default 100, max 1000).
   */
  'page_size': (number);
  /**
   * Opaque token from a previous response.
   */
  'page_token': (string);
}
