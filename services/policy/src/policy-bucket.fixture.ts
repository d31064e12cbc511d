/** A stand-in for the part of KvCache a LivePolicySet reads, for unit tests that drive writes one by one. */
import type { KvCache } from "@sts/nats";
import { encodeKey } from "@sts/nats";
import type { StoredPolicy } from "./policy-store.js";

type Listener = (key: string, value: StoredPolicy | undefined, revision: number, created: Date) => void;

/** One entry per policy id (under its encoded key), a revision per write, and every listener told of each write. */
export function policyBucket(initial: readonly StoredPolicy[] = []): {
  cache: KvCache<StoredPolicy>;
  write(value: StoredPolicy): void;
  /** Marks the copy as reading the bucket again from the start (a reconnect), or, with false, as having read it. */
  reloading(on: boolean): void;
} {
  let revision = 0;
  const entries = new Map<string, { value: StoredPolicy; revision: number; created: Date }>();
  for (const p of initial) entries.set(encodeKey(p.id), { value: p, revision: ++revision, created: new Date() });
  const listeners: Listener[] = [];
  const loadListeners: Array<() => void> = [];
  let loading = false;
  const cache = {
    values: () => [...entries.values()].map((e) => e.value)[Symbol.iterator](),
    entries: () => [...entries.entries()],
    entry: (key: string) => entries.get(key),
    get revision() {
      return revision;
    },
    onChange: (listener: Listener) => listeners.push(listener),
    get reloading() {
      return loading;
    },
    onLoaded: (listener: () => void) => loadListeners.push(listener),
  } as unknown as KvCache<StoredPolicy>;
  const write = (value: StoredPolicy): void => {
    const created = new Date();
    const key = encodeKey(value.id);
    entries.set(key, { value, revision: ++revision, created });
    for (const l of listeners) l(key, value, revision, created);
  };
  const reloading = (on: boolean): void => {
    loading = on;
    if (!on) for (const l of loadListeners) l();
  };
  return { cache, write, reloading };
}
