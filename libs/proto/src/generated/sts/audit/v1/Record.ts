// Original file: proto/sts/audit/v1/audit.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Record is one recorded event.
 */
export interface Record {
  /**
   * Position in the projection (1, 2, ...), also the hash chain order.
   */
  'sequence'?: (number | string | Long);
  /**
   * JetStream sequence of the event in the events stream.
   */
  'stream_sequence'?: (number | string | Long);
  /**
   * CloudEvents id (unique; a replayed event is recorded once).
   */
  'event_id'?: (string);
  /**
   * CloudEvents type, e.g. token.issued, token.exchanged, exchange.denied,
   * audit.accessed (a read of this API: sub, client_id and jti are the auditor's).
   */
  'type'?: (string);
  /**
   * CloudEvents time (RFC 3339).
   */
  'time'?: (string);
  'source'?: (string);
  /**
   * Token id, when the event is about a token.
   */
  'jti'?: (string);
  'parent_jti'?: (string);
  'sub'?: (string);
  'client_id'?: (string);
  'aud'?: (string)[];
  'scope'?: (string);
  /**
   * Actor chain subjects, newest first.
   */
  'actors'?: (string)[];
  /**
   * The CloudEvents data, as JSON.
   */
  'data_json'?: (string);
  /**
   * SHA-256 (hex) of the previous record's hash and this record's content.
   */
  'hash'?: (string);
  'prev_hash'?: (string);
}

/**
 * Record is one recorded event.
 */
export interface Record__Output {
  /**
   * Position in the projection (1, 2, ...), also the hash chain order.
   */
  'sequence': (string);
  /**
   * JetStream sequence of the event in the events stream.
   */
  'stream_sequence': (string);
  /**
   * CloudEvents id (unique; a replayed event is recorded once).
   */
  'event_id': (string);
  /**
   * CloudEvents type, e.g. token.issued, token.exchanged, exchange.denied,
   * audit.accessed (a read of this API: sub, client_id and jti are the auditor's).
   */
  'type': (string);
  /**
   * CloudEvents time (RFC 3339).
   */
  'time': (string);
  'source': (string);
  /**
   * Token id, when the event is about a token.
   */
  'jti': (string);
  'parent_jti': (string);
  'sub': (string);
  'client_id': (string);
  'aud': (string)[];
  'scope': (string);
  /**
   * Actor chain subjects, newest first.
   */
  'actors': (string)[];
  /**
   * The CloudEvents data, as JSON.
   */
  'data_json': (string);
  /**
   * SHA-256 (hex) of the previous record's hash and this record's content.
   */
  'hash': (string);
  'prev_hash': (string);
}
