// Original file: proto/sts/token/v1/clients.proto


/**
 * ClientResponse is the RFC 7591 §3.2.1 / RFC 7592 §3 client information
 * response as JSON; client_secret and registration_access_token appear only
 * when they are created.
 */
export interface ClientResponse {
  'metadata_json'?: (string);
}

/**
 * ClientResponse is the RFC 7591 §3.2.1 / RFC 7592 §3 client information
 * response as JSON; client_secret and registration_access_token appear only
 * when they are created.
 */
export interface ClientResponse__Output {
  'metadata_json': (string);
}
