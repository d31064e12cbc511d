// Original file: proto/sts/exchange/v1/exchange.proto


/**
 * BackchannelLogoutRequest carries the `logout_token` form parameter as the
 * provider posted it to the gateway.
 */
export interface BackchannelLogoutRequest {
  'logout_token'?: (string);
}

/**
 * BackchannelLogoutRequest carries the `logout_token` form parameter as the
 * provider posted it to the gateway.
 */
export interface BackchannelLogoutRequest__Output {
  'logout_token': (string);
}
