// Original file: proto/spiffe/workload/workload.proto

import type { X509SVID as _X509SVID, X509SVID__Output as _X509SVID__Output } from './X509SVID.js';

/**
 * X509SVIDResponse carries the workload's X.509-SVIDs. The specification's
 * crl (2) and federated_bundles (3) are not used here.
 */
export interface X509SVIDResponse {
  /**
   * The SVIDs, the default (the one to use when nothing says otherwise) first.
   */
  'svids'?: (_X509SVID)[];
}

/**
 * X509SVIDResponse carries the workload's X.509-SVIDs. The specification's
 * crl (2) and federated_bundles (3) are not used here.
 */
export interface X509SVIDResponse__Output {
  /**
   * The SVIDs, the default (the one to use when nothing says otherwise) first.
   */
  'svids': (_X509SVID__Output)[];
}
