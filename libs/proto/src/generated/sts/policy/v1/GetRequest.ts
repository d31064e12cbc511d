// Original file: proto/sts/policy/v1/policy.proto


export interface GetRequest {
  'id'?: (string);
}

export interface GetRequest__Output {
  'id': (string);
}
