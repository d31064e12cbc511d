/** A KeyStore in process memory, for tests and single-process tools: no NATS, its cache always current. */
import type { KeyStore } from "./key-ring.js";
import type { StoredKey } from "./key-record.js";

/** A key store in memory: records and locks, compare-and-set by revision; each read and write copies its value. */
export function memoryKeyStore(): KeyStore {
  const entries = new Map<string, { value: unknown; revision: number }>();
  let revision = 0;
  return {
    list: () => [...entries].filter(([name]) => name.startsWith("key.")).map(([, e]) => structuredClone(e.value) as StoredKey),
    create: (name, value) => Promise.resolve(!entries.has(name) && entries.set(name, { value: structuredClone(value), revision: ++revision }) !== undefined),
    get: (name) => Promise.resolve(entries.get(name) && structuredClone(entries.get(name))),
    update: (name, value, at) =>
      Promise.resolve(entries.get(name)?.revision === at && entries.set(name, { value: structuredClone(value), revision: ++revision }) !== undefined),
    put: (name, value) => Promise.resolve(void entries.set(name, { value: structuredClone(value), revision: ++revision })),
    delete: (name) => Promise.resolve(void entries.delete(name)),
    names: (prefix) => Promise.resolve([...entries.keys()].filter((name) => name.startsWith(`${prefix}.`))),
    waitFor: () => Promise.resolve(true),
  };
}
