// Original file: proto/sts/policy/v1/policy.proto


/**
 * Subject describes the subject token's relevant claims (Cedar context.subject).
 */
export interface Subject {
  'sub'?: (string);
  'client_id'?: (string);
  'iss'?: (string);
  'scopes'?: (string)[];
  'audience'?: (string)[];
}

/**
 * Subject describes the subject token's relevant claims (Cedar context.subject).
 */
export interface Subject__Output {
  'sub': (string);
  'client_id': (string);
  'iss': (string);
  'scopes': (string)[];
  'audience': (string)[];
}
