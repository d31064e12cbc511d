// Original file: proto/sts/audit/v1/audit.proto

import type { Filter as _sts_audit_v1_Filter, Filter__Output as _sts_audit_v1_Filter__Output } from '../../../sts/audit/v1/Filter.js';
import type { Long } from '@grpc/proto-loader';

export interface TailRequest {
  'filter'?: (_sts_audit_v1_Filter | null);
  /**
   * Resume after this projection sequence; 0 starts with new records only.
   */
  'after_sequence'?: (number | string | Long);
}

export interface TailRequest__Output {
  'filter': (_sts_audit_v1_Filter__Output | null);
  /**
   * Resume after this projection sequence; 0 starts with new records only.
   */
  'after_sequence': (string);
}
