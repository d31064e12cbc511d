// Original file: proto/sts/token/v1/clients.proto


/**
 * ClientRequest carries the caller's credential and the client metadata.
 */
export interface ClientRequest {
  /**
   * The bearer credential: an admin's access token (audience: the
   * registration endpoint), or the client's registration_access_token.
   */
  'bearer'?: (string);
  /**
   * The client to read, update or delete (empty for Register).
   */
  'client_id'?: (string);
  /**
   * RFC 7591 §2 client metadata as JSON (Register, Update).
   */
  'metadata_json'?: (string);
}

/**
 * ClientRequest carries the caller's credential and the client metadata.
 */
export interface ClientRequest__Output {
  /**
   * The bearer credential: an admin's access token (audience: the
   * registration endpoint), or the client's registration_access_token.
   */
  'bearer': (string);
  /**
   * The client to read, update or delete (empty for Register).
   */
  'client_id': (string);
  /**
   * RFC 7591 §2 client metadata as JSON (Register, Update).
   */
  'metadata_json': (string);
}
