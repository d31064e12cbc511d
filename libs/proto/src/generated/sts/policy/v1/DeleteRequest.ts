// Original file: proto/sts/policy/v1/policy.proto


export interface DeleteRequest {
  'id'?: (string);
}

export interface DeleteRequest__Output {
  'id': (string);
}
