// Original file: proto/sts/audit/v1/audit.proto

import type { Record as _sts_audit_v1_Record, Record__Output as _sts_audit_v1_Record__Output } from '../../../sts/audit/v1/Record.js';

export interface QueryResponse {
  'records'?: (_sts_audit_v1_Record)[];
  /**
   * Empty when there are no more records.
   */
  'next_page_token'?: (string);
}

export interface QueryResponse__Output {
  'records': (_sts_audit_v1_Record__Output)[];
  /**
   * Empty when there are no more records.
   */
  'next_page_token': (string);
}
