// Original file: proto/sts/audit/v1/audit.proto


/**
 * Filters shared by Query and Tail; empty fields do not filter.
 */
export interface Filter {
  'sub'?: (string);
  'client_id'?: (string);
  'audience'?: (string);
  'type'?: (string);
  /**
   * Inclusive lower bound on time (RFC 3339).
   */
  'since'?: (string);
  /**
   * Exclusive upper bound on time (RFC 3339).
   */
  'until'?: (string);
}

/**
 * Filters shared by Query and Tail; empty fields do not filter.
 */
export interface Filter__Output {
  'sub': (string);
  'client_id': (string);
  'audience': (string);
  'type': (string);
  /**
   * Inclusive lower bound on time (RFC 3339).
   */
  'since': (string);
  /**
   * Exclusive upper bound on time (RFC 3339).
   */
  'until': (string);
}
