// Original file: proto/spiffe/workload/workload.proto


/**
 * X509SVID is one identity with its key and its trust domain's CA bundle. The
 * specification's hint (5) is not used here.
 */
export interface X509SVID {
  /**
   * The SPIFFE ID the certificate names in its URI SAN.
   */
  'spiffe_id'?: (string);
  /**
   * ASN.1 DER certificates, concatenated: the leaf (the SVID) first, then any
   * intermediates.
   */
  'x509_svid'?: (Buffer | Uint8Array | string);
  /**
   * The leaf's private key: ASN.1 DER, unencrypted PKCS#8.
   */
  'x509_svid_key'?: (Buffer | Uint8Array | string);
  /**
   * The trust domain's CA certificates, ASN.1 DER, concatenated: what peers'
   * certificates must chain to.
   */
  'bundle'?: (Buffer | Uint8Array | string);
}

/**
 * X509SVID is one identity with its key and its trust domain's CA bundle. The
 * specification's hint (5) is not used here.
 */
export interface X509SVID__Output {
  /**
   * The SPIFFE ID the certificate names in its URI SAN.
   */
  'spiffe_id': (string);
  /**
   * ASN.1 DER certificates, concatenated: the leaf (the SVID) first, then any
   * intermediates.
   */
  'x509_svid': (Buffer);
  /**
   * The leaf's private key: ASN.1 DER, unencrypted PKCS#8.
   */
  'x509_svid_key': (Buffer);
  /**
   * The trust domain's CA certificates, ASN.1 DER, concatenated: what peers'
   * certificates must chain to.
   */
  'bundle': (Buffer);
}
