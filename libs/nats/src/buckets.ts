/**
 * KV buckets of the stack, declared once. Each bucket has one owning service
 * whose settings (max age, history, value size, replicas) the bucket
 * follows: nats.js only reads an existing bucket's stream, so a changed
 * lifetime in the config, or a bucket first created by a reader with other
 * settings, would otherwise stay as it was forever. Readers bind to the
 * bucket and impose nothing.
 */
import type { KV } from "@nats-io/kv";
import type { NatsHandle, NatsLogger } from "./connection.js";

/** Bucket names. */
/**
 * Whether a KV write failed because another writer came first: a create on a key that exists, or an update at a
 * revision that is no longer the key's ("wrong last sequence"). Compare-and-set callers read again or give way.
 */
export function isWriteConflict(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|exists/i.test(err.message);
}

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
  /** Revisions kept per key (default 1). */
  history?: number;
  /** Bucket-wide max age (nats-server 2.9 has no per-key TTL); none when absent. */
  ttlMs?: number;
  /** Largest value, in bytes (default 64 KiB). */
  maxValueSize?: number;
  /** JetStream replicas (default 1; config `nats.replicas`). */
  replicas?: number;
  /**
   * Open an existing bucket without creating it or imposing any setting: for
   * a service that only reads a bucket another service owns. Fails when the
   * bucket does not exist yet (unless `waitForOwner`). Takes none of the
   * options above.
   */
  bind?: boolean;
  /**
   * With `bind`: while the bucket does not exist, keep looking (every half
   * second, logging every 10 s) instead of failing. Services that start
   * before the owner, or without the right to create it, then wait unready
   * instead of crash-looping.
   */
  waitForOwner?: boolean;
  /**
   * The caller owns the bucket: an existing bucket is brought to these
   * settings (see {@link reconcileBucket}), each change logged to `logger`.
   * Without it an existing bucket is opened as it is.
   */
  owner?: boolean;
  /** Where an owner reports the settings it changed. */
  logger?: NatsLogger;
}

/** A setting of a bucket's stream that its owner changed: `[before, after]`. */
export type BucketChanges = Partial<Record<"max_age" | "max_msgs_per_subject" | "max_msg_size" | "num_replicas", [number, number]>>;

const DEFAULT_MAX_VALUE_SIZE = 64 * 1024;
const streamOf = (bucket: string): string => `KV_${bucket}`;
const isNotFound = (err: unknown): boolean => err instanceof Error && /not found/i.test(err.message);

/** The connection each bucket was opened on, for a watched copy of it (KvCache) to hear of reconnects. */
const connections = new WeakMap<KV, Pick<NatsHandle, "onStatusChange">>();

/** The connection `kv` was opened on by openBucket, if it was. */
export function connectionOf(kv: KV): Pick<NatsHandle, "onStatusChange"> | undefined {
  return connections.get(kv);
}

/**
 * Opens a bucket: with `bind`, an existing one as it is (a reader); else
 * creates it if missing (file storage) and, with `owner`, brings an existing
 * one to these settings.
 */
export async function openBucket(handle: NatsHandle, name: string, options: BucketOptions = {}): Promise<KV> {
  const kv = await openKv(handle, name, options);
  connections.set(kv, handle);
  return kv;
}

async function openKv(handle: NatsHandle, name: string, options: BucketOptions): Promise<KV> {
  const { bind, owner, logger, waitForOwner, ...settings } = options;
  if (bind && owner) throw new TypeError("openBucket: a bucket is opened either bound (reader) or as its owner");
  if (bind) {
    // A reader's settings would be silently ignored; saying so beats a config that looks applied and is not.
    if (Object.values(settings).some((v) => v !== undefined)) throw new TypeError("openBucket: bind takes no bucket settings (its owner sets them)");
    const started = Date.now();
    let loggedAt = started;
    for (;;) {
      try {
        const info = await handle.jsm.streams.info(streamOf(name));
        return await handle.kvm.open(name, { allow_direct: info.config.allow_direct });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        if (!waitForOwner) throw new Error(`bucket ${name} does not exist (its owning service creates it)`, { cause: err });
      }
      if (Date.now() - loggedAt >= 10_000) {
        loggedAt = Date.now();
        logger?.warn({ bucket: name, waited_ms: loggedAt - started }, "waiting for the bucket's owning service to create it");
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const create = (): Promise<KV> =>
    handle.kvm.create(name, {
      history: settings.history ?? 1,
      ...(settings.ttlMs !== undefined && { ttl: settings.ttlMs }),
      maxValueSize: settings.maxValueSize ?? DEFAULT_MAX_VALUE_SIZE,
      replicas: settings.replicas ?? 1,
    });
  let kv: KV;
  try {
    kv = await create();
  } catch (err) {
    // Services start together: another one created the bucket, with other settings, between nats.js's look-up and its add.
    if (!(err instanceof Error && /already in use/i.test(err.message))) throw err;
    kv = await create();
  }
  if (owner) await reconcileBucket(handle, name, settings, logger);
  return kv;
}

/** Logs a replica count the owner wanted and the server cannot give. */
function refusedReplicas(bucket: string, replicas: [number, number], reason: string, logger: NatsLogger | undefined): void {
  logger?.warn({ bucket, replicas, reason }, "bucket replicas left as they are: the server cannot change them");
}

/**
 * Updates an existing bucket's stream to the owner's max age, history, value
 * size and replicas; answers what changed. A server that refuses the replica
 * count (a single server takes no more than 1) keeps its count, with a
 * warning, and the other settings are still applied.
 */
export async function reconcileBucket(
  handle: NatsHandle,
  name: string,
  options: Pick<BucketOptions, "history" | "ttlMs" | "maxValueSize" | "replicas">,
  logger?: NatsLogger,
): Promise<BucketChanges> {
  const stream = streamOf(name);
  const { config } = await handle.jsm.streams.info(stream);
  const wanted = {
    max_age: (options.ttlMs ?? 0) * 1_000_000,
    max_msgs_per_subject: options.history ?? 1,
    max_msg_size: options.maxValueSize ?? DEFAULT_MAX_VALUE_SIZE,
    num_replicas: options.replicas ?? 1,
  };
  const changes: BucketChanges = {};
  for (const key of Object.keys(wanted) as Array<keyof typeof wanted>) {
    if (config[key] !== wanted[key]) changes[key] = [config[key], wanted[key]];
  }
  // A single server refuses to create a stream with more than one replica but, as of 2.9, records such an
  // update it cannot honour: ask for it only of a cluster.
  if (changes.num_replicas && wanted.num_replicas > 1 && !handle.nc.info?.cluster) {
    refusedReplicas(name, changes.num_replicas, "the server is not clustered", logger);
    delete changes.num_replicas;
  }
  if (Object.keys(changes).length === 0) return changes;
  const update = (c: BucketChanges): Promise<unknown> => {
    const fields: Record<string, number> = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v[1]]));
    // The server refuses a duplicate window longer than the max age; KV writes carry no message ids anyway.
    if (fields.max_age && config.duplicate_window > fields.max_age) fields.duplicate_window = fields.max_age;
    return handle.jsm.streams.update(stream, fields);
  };
  try {
    await update(changes);
  } catch (err) {
    if (!changes.num_replicas) throw err;
    refusedReplicas(name, changes.num_replicas, err instanceof Error ? err.message : String(err), logger);
    delete changes.num_replicas;
    if (Object.keys(changes).length === 0) return changes;
    await update(changes);
  }
  logger?.info({ bucket: name, changes }, "bucket settings updated to this service's configuration");
  return changes;
}

/**
 * Removes every earlier revision of one key of a bucket, keeping the value in force: for a record whose older
 * versions hold what must not stay readable (a bucket keeps `history` revisions per key). `key` is as stored
 * (encoded). Needs the right to purge the bucket's stream.
 */
export async function dropHistory(handle: NatsHandle, bucket: string, key: string): Promise<void> {
  await handle.jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${key}`, keep: 1 });
}
