export { connectNats } from "./connection.js";
export type { NatsHandle, NatsOptions, NatsLogger } from "./connection.js";
export { encodeKey, decodeKey, VALID_KV_KEY } from "./key-encoding.js";
export { BUCKETS, openBucket } from "./buckets.js";
export type { BucketOptions } from "./buckets.js";
export { EVENT_TYPES, EVENTS_STREAM, eventSubject, ensureEventsStream, EventPublisher, extractTraceContext } from "./events.js";
export type { CloudEvent, EventType, PublisherOptions } from "./events.js";
export { KvCache } from "./kv-cache.js";
export type { KvCacheOptions } from "./kv-cache.js";
