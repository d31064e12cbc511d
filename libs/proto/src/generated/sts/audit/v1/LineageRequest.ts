// Original file: proto/sts/audit/v1/audit.proto


export interface LineageRequest {
  'jti'?: (string);
}

export interface LineageRequest__Output {
  'jti': (string);
}
