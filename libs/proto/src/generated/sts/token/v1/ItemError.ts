// Original file: proto/sts/token/v1/token.proto


/**
 * ItemError is the failure of one item of a batch: the RFC 6749 §5.2 (or
 * RFC 8693) error code and its description, as the unary call would have had.
 */
export interface ItemError {
  'code'?: (string);
  'description'?: (string);
  /**
   * Seconds a client should wait before retrying (temporarily_unavailable); 0 for none.
   */
  'retry_after'?: (number);
}

/**
 * ItemError is the failure of one item of a batch: the RFC 6749 §5.2 (or
 * RFC 8693) error code and its description, as the unary call would have had.
 */
export interface ItemError__Output {
  'code': (string);
  'description': (string);
  /**
   * Seconds a client should wait before retrying (temporarily_unavailable); 0 for none.
   */
  'retry_after': (number);
}
