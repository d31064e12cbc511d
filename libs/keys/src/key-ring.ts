/**
 * The issuer's signing key ring. Records live in NATS KV (private parts
 * sealed under the master key); every replica reads them through a
 * watch-fed cache, so a rotation made by one replica reaches all.
 */
import { readFileSync } from "node:fs";
import { calculateJwkThumbprint, createLocalJWKSet } from "jose";
import type { JWK, JWTVerifyGetKey } from "jose";
import { importSigningKey } from "@sts/jwt";
import type { SigningKey } from "@sts/jwt";
import { generateSigningJwks } from "./generate.js";
import type { SigningAlg } from "./generate.js";
import { openPrivateJwk, sealPrivateJwk } from "./master-key.js";
import { parseStoredKey, publishedKeysAt, retiredKeysAt, rotationDue, signingKeyAt } from "./key-record.js";
import type { LifecyclePolicy, StoredKey } from "./key-record.js";

/** Storage the ring needs: a cached view plus writes (NATS KV in production). */
export interface KeyStore {
  /** Every stored key, from the watch-fed cache. */
  list(): StoredKey[];
  /** Writes only if absent; false when the name exists (another replica won). */
  create(name: string, value: unknown): Promise<boolean>;
  /** The stored value and its revision, read from the store itself (not the cache); undefined when absent. */
  get(name: string): Promise<{ value: unknown; revision: number } | undefined>;
  /** Writes only if the name is still at `revision` (compare-and-set); false when it moved on (another replica won). */
  update(name: string, value: unknown, revision: number): Promise<boolean>;
  put(name: string, value: unknown): Promise<void>;
  delete(name: string): Promise<void>;
  /** Resolves once the cache has seen the given kid (or after a bounded wait). */
  waitFor(kid: string): Promise<void>;
}

/** KV names used by the ring. */
export const keyName = (kid: string): string => `key.${kid}`;
const successorLock = (kid: string): string => `successor.${kid}`;

/** Options of the signing ring. */
export interface SigningKeyRingOptions {
  store: KeyStore;
  algorithm: SigningAlg;
  policy: LifecyclePolicy;
  /** Derived AES key (parseMasterKey); required unless jwkFile is given. */
  masterKey?: Buffer;
  /** A private JWK file to sign with; its private part never enters NATS. */
  jwkFile?: string;
  /** How long a new key is published before it signs, so verifiers' JWKS caches learn it. */
  prepublishSeconds?: number;
  /**
   * After how long a successor lock whose key was never written is stale and
   * may be taken over (default {@link SUCCESSOR_LOCK_SECONDS}).
   */
  successorLockSeconds?: number;
  now: () => number;
}

/**
 * Default age, in seconds, after which a successor lock without its key is
 * taken over. Writing a key takes milliseconds; a lock this old means its
 * holder failed or died between the lock and the key, and without a takeover
 * the ring would never rotate again.
 */
export const SUCCESSOR_LOCK_SECONDS = 60;

interface SuccessorLock {
  kid: string;
  /** When the lock was taken, on the ring's clock (seconds). */
  at: number;
}

/** Builds a JWK Set (RFC 7517) of the keys to publish. */
export function jwksOf(keys: readonly StoredKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => ({ ...k.public_jwk, kid: k.kid, alg: k.alg, use: "sig" })) };
}

/** The issuer's key ring: signs with the active key, publishes the JWKS, rotates. */
export class SigningKeyRing {
  readonly #o: SigningKeyRingOptions;
  readonly #imported = new Map<string, SigningKey>();
  #fileKey: StoredKey | undefined;

  constructor(options: SigningKeyRingOptions) {
    if (!options.masterKey && !options.jwkFile) throw new TypeError("SigningKeyRing needs a masterKey or a jwkFile");
    this.#o = options;
  }

  /** Ensures a signing key exists (creating the first one, or publishing the file key). */
  async init(): Promise<void> {
    if (this.#o.jwkFile) {
      await this.#loadFileKey(this.#o.jwkFile);
      return;
    }
    if (this.#o.store.list().length === 0) await this.#createKey("genesis", 0);
  }

  async #loadFileKey(file: string): Promise<void> {
    const jwk = JSON.parse(readFileSync(file, "utf8")) as JWK;
    if (typeof jwk.d !== "string") throw new TypeError(`${file} holds no private key`);
    const alg = jwk.alg ?? this.#o.algorithm;
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
    const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
    const record: StoredKey = { kid, alg, created_at: 0, activate_at: 0, public_jwk: { ...publicJwk, kid, alg, use: "sig" } };
    this.#fileKey = record;
    this.#imported.set(kid, importSigningKey(jwk, kid, alg));
    await this.#o.store.create(keyName(kid), record);
  }

  async #createKey(predecessor: string, prepublish: number): Promise<string | undefined> {
    const { store, algorithm, masterKey, now } = this.#o;
    const { kid, publicJwk, privateJwk } = await generateSigningJwks(algorithm);
    // The lock makes one replica, not each, create the successor of a key.
    if (!(await this.#takeSuccessorLock(predecessor, { kid, at: now() }))) return undefined;
    const t = now();
    const record: StoredKey = {
      kid,
      alg: algorithm,
      created_at: t,
      activate_at: t + prepublish,
      public_jwk: publicJwk,
      sealed: sealPrivateJwk(privateJwk, kid, masterKey as Buffer),
    };
    await store.put(keyName(kid), record);
    await store.waitFor(kid);
    return kid;
  }

  /** Takes the successor lock of `predecessor`: a new one, or a stale one by compare-and-set; false when another replica holds it. */
  async #takeSuccessorLock(predecessor: string, claim: SuccessorLock): Promise<boolean> {
    const { store, now } = this.#o;
    const name = successorLock(predecessor);
    if (await store.create(name, claim)) return true;
    const held = await store.get(name);
    // Gone since our create (deleted by an operator): the next maintain() tries again.
    if (!held) return false;
    const lock = held.value as Partial<SuccessorLock> | null;
    const heldKid = typeof lock?.kid === "string" ? lock.kid : undefined;
    // Its key was written: the successor exists, nothing to take over.
    if (heldKid && (this.#keys().some((k) => k.kid === heldKid) || (await store.get(keyName(heldKid))))) return false;
    const at = typeof lock?.at === "number" ? lock.at : 0;
    if (now() - at < (this.#o.successorLockSeconds ?? SUCCESSOR_LOCK_SECONDS)) return false;
    // Several replicas may find it stale at once: the compare-and-set lets one of them take it over.
    return store.update(name, claim, held.revision);
  }

  #keys(): StoredKey[] {
    const keys = this.#o.store.list();
    return this.#fileKey && !keys.some((k) => k.kid === this.#fileKey?.kid) ? [...keys, this.#fileKey] : keys;
  }

  /** The key to sign with now, decrypted and imported once per kid. */
  signingKey(): SigningKey {
    const record = this.#fileKey ?? signingKeyAt(this.#keys(), this.#o.now());
    if (!record) throw new Error("no signing key available");
    let imported = this.#imported.get(record.kid);
    if (!imported) {
      if (!record.sealed || !this.#o.masterKey) throw new Error(`signing key ${record.kid} has no private part here`);
      imported = importSigningKey(openPrivateJwk(record.sealed, record.kid, this.#o.masterKey), record.kid, record.alg);
      this.#imported.set(record.kid, imported);
    }
    return imported;
  }

  /** The JWKS document: every key still valid for verification. */
  jwks(): { keys: JWK[] } {
    return jwksOf(publishedKeysAt(this.#keys(), this.#o.now(), this.#o.policy));
  }

  /** Rotates when due (creating a pre-published successor) and drops retired keys; returns the new kid. */
  async maintain(): Promise<string | undefined> {
    if (this.#fileKey) return undefined;
    const keys = this.#keys();
    const now = this.#o.now();
    for (const old of retiredKeysAt(keys, now, this.#o.policy)) {
      await this.#o.store.delete(keyName(old.kid));
      this.#imported.delete(old.kid);
    }
    if (!rotationDue(keys, now, this.#o.policy)) return undefined;
    const current = signingKeyAt(keys, now);
    return this.#createKey(current?.kid ?? "genesis", this.#o.prepublishSeconds ?? 0);
  }

  /** Starts a successor now, whatever the schedule (operator-triggered rotation). */
  async rotateNow(): Promise<string | undefined> {
    const current = signingKeyAt(this.#keys(), this.#o.now());
    return this.#createKey(current?.kid ?? "genesis", this.#o.prepublishSeconds ?? 0);
  }
}

/** A verifier's view of the ring: public keys only, no master key needed. */
export class PublicKeyRing {
  readonly #source: () => StoredKey[];
  readonly #policy: LifecyclePolicy;
  readonly #now: () => number;
  #fingerprint = "";
  #getKey: JWTVerifyGetKey = createLocalJWKSet({ keys: [] });

  constructor(source: () => StoredKey[], policy: LifecyclePolicy, now: () => number) {
    this.#source = source;
    this.#policy = policy;
    this.#now = now;
  }

  /** The published JWK Set. */
  jwks(): { keys: JWK[] } {
    return jwksOf(publishedKeysAt(this.#source(), this.#now(), this.#policy));
  }

  /** A jose key resolver over the published keys, rebuilt only when they change. */
  keyResolver(): JWTVerifyGetKey {
    const jwks = this.jwks();
    const fingerprint = jwks.keys.map((k) => k.kid).join(",");
    if (fingerprint !== this.#fingerprint) {
      this.#fingerprint = fingerprint;
      this.#getKey = createLocalJWKSet(jwks);
    }
    return this.#getKey;
  }
}

export { parseStoredKey };
