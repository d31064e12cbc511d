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
   * Inclusive lower bound on time: an RFC 3339 date-time with its offset
   * (2025-06-01T12:00:00+02:00, 2025-06-01T10:00:00.5Z), compared as an
   * instant. Anything else is refused with INVALID_ARGUMENT (invalid_request).
   */
  'since'?: (string);
  /**
   * Exclusive upper bound on time, in the same form as since.
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
   * Inclusive lower bound on time: an RFC 3339 date-time with its offset
   * (2025-06-01T12:00:00+02:00, 2025-06-01T10:00:00.5Z), compared as an
   * instant. Anything else is refused with INVALID_ARGUMENT (invalid_request).
   */
  'since': (string);
  /**
   * Exclusive upper bound on time, in the same form as since.
   */
  'until': (string);
}
