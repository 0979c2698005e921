// The sealing of packages in protocol v1, scheme "x25519-hkdf-sha256-aes256gcm-stream/v1", as the
// package comment of kirjaamo.dev/contracts/sealed specifies it, on node:crypto alone:
//
//   1. a fresh X25519 key pair (the ephemeral key); shared secret = X25519(ephemeral private, case public);
//   2. key = HKDF-SHA256(shared secret, salt = ephemeral public || case public,
//                        info = "kirjaamo package v1" || 0x00 || object name), 32 bytes;
//   3. the plaintext cut into chunks of chunk_size bytes (the last may be shorter, or empty), chunk i
//      sealed with AES-256-GCM, no additional data, nonce 0x000000 || uint64 BE i || f, f = 1 for the
//      last chunk and 0 for every other (STREAM); a sealed chunk is the chunk plus its 16-byte tag;
//   4. the package is the sealed chunks one after another.
//
// A chunk is sealed only once more plaintext shows that it is not the last, so the sealer holds at most
// one chunk of plaintext whatever the size of the package. contracts/sealed/testdata/vector.json is
// the worked example that sealed.test.mjs reproduces byte for byte.
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync } from "node:crypto";

export const SCHEME = "x25519-hkdf-sha256-aes256gcm-stream/v1";
export const DEFAULT_CHUNK_SIZE = 64 * 1024; // what the Go SDK seals with
export const OVERHEAD = 16; // the GCM tag of each chunk

// Raw 32-byte X25519 keys in and out of node:crypto's KeyObjects, through their fixed DER prefixes
// (RFC 8410): SubjectPublicKeyInfo for a public key, PKCS #8 for a private one.
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

export function publicKeyFromRaw(raw) {
  if (raw.length !== 32) throw new Error(`sealed: an X25519 public key is 32 bytes, not ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
}

export function privateKeyFromRaw(raw) {
  if (raw.length !== 32) throw new Error(`sealed: an X25519 private key is 32 bytes, not ${raw.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
}

export const rawPublicKey = (key) => key.export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length);

// deriveKey is steps 1 and 2, from either side: the sender with (ephemeral private, case public), the
// platform with (case private, ephemeral public).
export function deriveKey(privateKey, peerPublicKey, ephemeralPublic, casePublic, object) {
  const shared = diffieHellman({ privateKey, publicKey: peerPublicKey });
  if (shared.every((b) => b === 0)) throw new Error("sealed: key agreement gave the all-zero secret: the public key is not usable");
  const salt = Buffer.concat([ephemeralPublic, casePublic]);
  const info = Buffer.concat([Buffer.from("kirjaamo package v1\0", "utf8"), Buffer.from(object, "utf8")]);
  return Buffer.from(hkdfSync("sha256", shared, salt, info, 32));
}

export function nonce(i, last) {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(BigInt(i), 3);
  n[11] = last ? 1 : 0;
  return n;
}

// Sealer seals a package for one object to a case's public key (raw, 32 bytes). push(bytes) returns
// the sealed chunks that the new bytes completed, possibly none; finish() returns the last sealed
// chunk. ephemeralPrivate (raw) is for reproducing the worked example only: a real package always
// gets a fresh ephemeral key.
export class Sealer {
  constructor(casePublic, object, chunkSize = DEFAULT_CHUNK_SIZE, ephemeralPrivate = undefined) {
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error("sealed: the chunk size must be a positive integer");
    const caseKey = publicKeyFromRaw(casePublic);
    const ephemeral = ephemeralPrivate ? privateKeyFromRaw(ephemeralPrivate) : generateKeyPairSync("x25519").privateKey;
    this.ephemeralKey = rawPublicKey(createPublicKey(ephemeral)); // the reader needs it: sealing.ephemeral_key
    this.key = deriveKey(ephemeral, caseKey, this.ephemeralKey, Buffer.from(casePublic), object);
    this.chunkSize = chunkSize;
    this.chunk = Buffer.alloc(chunkSize);
    this.filled = 0;
    this.index = 0;
    this.finished = false;
  }

  push(bytes) {
    if (this.finished) throw new Error("sealed: push after finish");
    if (!Buffer.isBuffer(bytes)) bytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = [];
    for (let at = 0; at < bytes.length; ) {
      if (this.filled === this.chunkSize) out.push(this.#seal(false)); // more is coming, so not the last
      const n = Math.min(this.chunkSize - this.filled, bytes.length - at);
      bytes.copy(this.chunk, this.filled, at, at + n);
      this.filled += n;
      at += n;
    }
    return out;
  }

  finish() {
    if (this.finished) throw new Error("sealed: finish called twice");
    this.finished = true;
    const last = this.#seal(true);
    this.key.fill(0);
    return last;
  }

  #seal(last) {
    const cipher = createCipheriv("aes-256-gcm", this.key, nonce(this.index++, last));
    const sealed = Buffer.concat([cipher.update(this.chunk.subarray(0, this.filled)), cipher.final(), cipher.getAuthTag()]);
    this.filled = 0;
    return sealed;
  }
}

// open is the platform's side, for tests: it opens a whole sealed package with the case's private
// key (raw), and throws if any chunk was changed, dropped, reordered or cut off.
export function open(sealed, casePrivate, ephemeralPublic, object, chunkSize) {
  const caseKey = privateKeyFromRaw(casePrivate);
  const key = deriveKey(caseKey, publicKeyFromRaw(ephemeralPublic), ephemeralPublic, rawPublicKey(createPublicKey(caseKey)), object);
  const step = chunkSize + OVERHEAD;
  const plain = [];
  let i = 0;
  for (let at = 0; ; at += step, i++) {
    const piece = sealed.subarray(at, at + step);
    const last = at + step >= sealed.length; // the stream ends after this chunk
    if (piece.length < OVERHEAD) throw new Error("sealed: the package does not open: cut off");
    const decipher = createDecipheriv("aes-256-gcm", key, nonce(i, last));
    decipher.setAuthTag(piece.subarray(piece.length - OVERHEAD));
    try {
      plain.push(decipher.update(piece.subarray(0, piece.length - OVERHEAD)), decipher.final());
    } catch {
      throw new Error("sealed: the package does not open: changed, truncated or not sealed to this key and object");
    }
    if (last) return Buffer.concat(plain);
  }
}
