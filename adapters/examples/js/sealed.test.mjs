// The JavaScript sealing against the worked example of contracts/sealed (testdata/vector.json): with
// the example's ephemeral private key it must reproduce the sealed package byte for byte. Run with
// `node --test sealed.test.mjs`; js_test.go runs it in `go test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { randomBytes, generateKeyPairSync } from "node:crypto";
import { Sealer, open, rawPublicKey, OVERHEAD } from "./sealed.mjs";

const vector = JSON.parse(readFileSync(new URL("../../../contracts/sealed/testdata/vector.json", import.meta.url), "utf8"));
const b64 = (s) => Buffer.from(s, "base64");
const plaintext = b64(vector.plaintext);
const expected = b64(vector.sealed);

// seal pushes the plaintext in pieces of the given sizes, cycling, so that chunk boundaries fall
// inside pushes, and returns the sealer and its package.
function seal(to, object, chunkSize, plain, sizes, ephemeralPrivate) {
  const s = new Sealer(to, object, chunkSize, ephemeralPrivate);
  const out = [];
  for (let at = 0, k = 0; at < plain.length; k++) {
    const n = Math.min(sizes[k % sizes.length], plain.length - at);
    out.push(...s.push(plain.subarray(at, at + n)));
    at += n;
  }
  out.push(s.finish());
  return { sealer: s, sealed: Buffer.concat(out) };
}

test("the example's ephemeral key is the one it names", () => {
  const s = new Sealer(b64(vector.case_public_key), vector.object, vector.chunk_size, b64(vector.ephemeral_private_key));
  assert.equal(s.ephemeralKey.toString("base64"), vector.ephemeral_public_key);
});

for (const sizes of [[plaintext.length], [1], [333], [vector.chunk_size], [vector.chunk_size + 1, 7]]) {
  test(`the worked example is reproduced byte for byte (pushes of ${sizes.join(", ")} bytes)`, () => {
    const { sealed } = seal(b64(vector.case_public_key), vector.object, vector.chunk_size, plaintext, sizes, b64(vector.ephemeral_private_key));
    assert.equal(sealed.length, expected.length);
    assert.ok(sealed.equals(expected), "the sealed package differs from vector.json");
  });
}

test("the worked example opens with the case's private key", () => {
  const plain = open(expected, b64(vector.case_private_key), b64(vector.ephemeral_public_key), vector.object, vector.chunk_size);
  assert.ok(plain.equals(plaintext));
});

test("a fresh ephemeral key each time, and the package opens", () => {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const casePrivate = privateKey.export({ format: "der", type: "pkcs8" }).subarray(16);
  const casePublic = rawPublicKey(publicKey);
  const plain = randomBytes(5000);
  const a = seal(casePublic, "a/b", 1024, plain, [100]);
  const b = seal(casePublic, "a/b", 1024, plain, [100]);
  assert.ok(!a.sealer.ephemeralKey.equals(b.sealer.ephemeralKey));
  assert.ok(!a.sealed.equals(b.sealed));
  assert.ok(open(a.sealed, casePrivate, a.sealer.ephemeralKey, "a/b", 1024).equals(plain));
});

test("empty and chunk-aligned plaintexts", () => {
  const casePublic = b64(vector.case_public_key), casePrivate = b64(vector.case_private_key);
  for (const n of [0, 1, 1023, 1024, 1025, 2048]) {
    const plain = randomBytes(n);
    const { sealer, sealed } = seal(casePublic, vector.object, 1024, plain, [300]);
    const chunks = Math.max(1, Math.ceil(n / 1024));
    assert.equal(sealed.length, n + chunks * OVERHEAD, `${n} bytes`);
    assert.ok(open(sealed, casePrivate, sealer.ephemeralKey, vector.object, 1024).equals(plain), `${n} bytes`);
  }
});

test("a changed, cut off, reordered or misnamed package does not open", () => {
  const key = b64(vector.case_private_key), eph = b64(vector.ephemeral_public_key), step = vector.chunk_size + OVERHEAD;
  const flipped = Buffer.from(expected);
  flipped[100] ^= 1;
  const reordered = Buffer.concat([expected.subarray(step, 2 * step), expected.subarray(0, step), expected.subarray(2 * step)]);
  const cases = {
    changed: [flipped, vector.object],
    "cut after a whole chunk": [expected.subarray(0, 2 * step), vector.object],
    "cut inside a chunk": [expected.subarray(0, expected.length - 5), vector.object],
    reordered: [reordered, vector.object],
    "another object": [expected, vector.object + "x"],
  };
  for (const [name, [sealed, object]] of Object.entries(cases)) {
    assert.throws(() => open(sealed, key, eph, object, vector.chunk_size), /does not open/, name);
  }
});
