/** KV buckets of the stack, declared once. */
import type { KV } from "@nats-io/kv";
import type { NatsHandle } from "./connection.js";

/** Bucket names. */
export const BUCKETS = {
  clients: "sts_clients",
  keys: "sts_keys",
  revocations: "sts_revocations",
  refresh: "sts_refresh",
  jti: "sts_assertion_jti",
  policies: "sts_policies",
  opaque: "sts_opaque_tokens",
} as const;

/** Options of a bucket. */
export interface BucketOptions {
  history?: number;
  /** Bucket-wide max age (nats-server 2.9 has no per-key TTL). */
  ttlMs?: number;
  maxValueSize?: number;
  replicas?: number;
}

/** Creates the bucket if missing (file storage) and opens it. */
export async function openBucket(handle: NatsHandle, name: string, options: BucketOptions = {}): Promise<KV> {
  return handle.kvm.create(name, {
    history: options.history ?? 1,
    ...(options.ttlMs !== undefined && { ttl: options.ttlMs }),
    maxValueSize: options.maxValueSize ?? 64 * 1024,
    replicas: options.replicas ?? 1,
  });
}
