// Original file: proto/sts/audit/v1/audit.proto

import type { Record as _sts_audit_v1_Record, Record__Output as _sts_audit_v1_Record__Output } from '../../../sts/audit/v1/Record.js';

export interface QueryResponse {
  'records'?: (_sts_audit_v1_Record)[];
  /**
   * Empty when there are no more records. A page may hold fewer records than
   * page_size, or none, and still carry a token: a page reads at most 20,000
   * entries of the index its filter is read through, so follow the token
   * until it is empty.
   */
  'next_page_token'?: (string);
}

export interface QueryResponse__Output {
  'records': (_sts_audit_v1_Record__Output)[];
  /**
   * Empty when there are no more records. A page may hold fewer records than
   * page_size, or none, and still carry a token: a page reads at most 20,000
   * entries of the index its filter is read through, so follow the token
   * until it is empty.
   */
  'next_page_token': (string);
}
