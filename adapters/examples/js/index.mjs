// An example Kirjaamo register adapter in JavaScript, on nats.js (npm "nats", v2), without the Go SDK.
// It speaks the register protocol of contracts/PROTOCOL.md for one made-up register, a newsletter's
// subscribers and the issues sent to them, held in memory, and does what the Go SDK
// (adapters/sdk/run.go) does:
//
//   announce -> heartbeat every 10 s -> pull tasks from the durable consumer register-<id> ->
//   validate -> read the effect record (answer a recorded cancellation or result at once) ->
//   look up, or claim the task in the effect record and erase or rectify -> publish the result
//   (Nats-Msg-Id result/<task id>) -> ack
//
// A lookup whose records' JSON exceeds the task's inline limit streams them instead, as JSON Lines
// sealed to the case's key (sealed.mjs), into the object store bucket register-<id>-packages, and
// answers with a reference to the package.
//
// Run: KIRJAAMO_NATS_URL=nats://127.0.0.1:4222 node index.mjs
// Logs are JSON lines on stderr and never carry identifiers or records.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { connect, credsAuthenticator, AckPolicy, ErrorCode } from "nats";
import { Sealer, SCHEME, DEFAULT_CHUNK_SIZE } from "./sealed.mjs";

const declaration = JSON.parse(readFileSync(new URL("./example-js-register.json", import.meta.url), "utf8"));
const REGISTER = declaration.register_id;
const SUBJECT = `kirjaamo.v1.register.${REGISTER}`;
const CAPABILITIES = ["lookup", "rectify", "erase"]; // what this code implements; the declaration may not promise more
const CONCURRENCY = 4;
// How long a task may run without a progress heartbeat before JetStream redelivers it: 30 s, unless
// KIRJAAMO_ADAPTER_ACK_WAIT (as the Go SDK reads it, e.g. "30s", "1m") says otherwise.
const ACK_WAIT_MS = durationFrom(process.env.KIRJAAMO_ADAPTER_ACK_WAIT, 30_000);
const HEARTBEAT_MS = 10_000;
// The instance's name, in its claims on tasks: unique, so that it never takes another's claim for its own.
const instance = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
// The effect record and the package bucket: the platform provisions both; the adapter only binds.
const DONE_BUCKET = `register-${REGISTER}-done`;
const PACKAGE_BUCKET = `register-${REGISTER}-packages`;
// A claim older than five ack waits is a crashed instance's (PROTOCOL.md), and is taken over.
const STALE_CLAIM_MS = 5 * ACK_WAIT_MS;
// Plaintext bytes per sealed chunk of a package: 64 KiB, as the Go SDK, unless
// KIRJAAMO_PACKAGE_CHUNK_SIZE (1024 to 1048576) says otherwise.
const PACKAGE_CHUNK_SIZE = chunkSizeFrom(process.env.KIRJAAMO_PACKAGE_CHUNK_SIZE);

function durationFrom(v, fallback) {
  if (!v) return fallback;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2]] : NaN;
  if (!(ms >= 100)) throw new Error(`KIRJAAMO_ADAPTER_ACK_WAIT must be a duration of 100ms or more, like 30s`);
  return ms;
}

function chunkSizeFrom(v) {
  if (!v) return DEFAULT_CHUNK_SIZE;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024 || n > 1048576) throw new Error("KIRJAAMO_PACKAGE_CHUNK_SIZE must be an integer from 1024 to 1048576");
  return n;
}

// The register's data: made-up people (the demo people of adapters/demo/people.go), by identity code,
// and the issues of the newsletter sent to them, one every `every` days since they subscribed.
const subscribers = new Map([
  ["150385-9013", { name: "Aino Virtanen", newsletter: "Monthly health tips", subscribed: "2024-02-01", every: 30 }],
  ["020794-9029", { name: "Matti Korhonen", newsletter: "Clinic events", subscribed: "2023-11-15", every: 7 }],
]);
// The register's own record of the effects applied, by task id, kept in the same store as the data,
// in the same synchronous step as the effect, so that an effect and its record cannot part. It is what
// makes taking over a crashed instance's claim safe. A register with a database writes the task id in
// the same transaction as the effect.
const applied = new Map();

const log = (level, msg, fields = {}) =>
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, register: REGISTER, ...fields }) + "\n");
const encode = (v) => new TextEncoder().encode(JSON.stringify(v));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- Validation: just what contracts.Task.Validate checks, field names as the platform gives them ---

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OPERATIONS = ["lookup", "rectify", "erase", "restrict", "lift_restriction", "list_recipients", "object"];
const RIGHTS = ["access", "rectification", "erasure", "restriction", "portability", "objection"];
const HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY";
const CENTURIES = { "+": 1800, "-": 1900, Y: 1900, X: 1900, W: 1900, V: 1900, U: 1900, A: 2000, B: 2000, C: 2000, D: 2000, E: 2000, F: 2000 };

// validHetu checks a Finnish personal identity code: a real date, a known century sign, an individual
// number 002-999 and the right check character.
function validHetu(s) {
  const m = /^(\d\d)(\d\d)(\d\d)(.)(\d{3})(.)$/.exec(s);
  if (!m || !(m[4] in CENTURIES) || Number(m[5]) < 2) return false;
  const [day, month, year] = [Number(m[1]), Number(m[2]), CENTURIES[m[4]] + Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCDate() !== day || date.getUTCMonth() !== month - 1) return false;
  return m[6] === HETU_CHECK[Number(m[1] + m[2] + m[3] + m[5]) % 31];
}

const IDENTIFIER_RULES = {
  personal_identity_code: [validHetu, "hetu", "must be a valid Finnish personal identity code"],
  email: [(v) => /^[^\s@A-Z]+@[^\s@A-Z]+\.[^\s@A-Z]+$/.test(v) && v.length <= 254, "email", "must be a lower-case e-mail address"],
  phone: [(v) => /^\+[1-9]\d{1,14}$/.test(v), "e164", "must be an E.164 phone number"],
};

function validateTask(t) {
  const problems = [];
  const bad = (field, rule, message) => problems.push({ field, rule, message });
  if (t.protocol !== "kirjaamo.task/v1") bad("protocol", "eq", "must be kirjaamo.task/v1");
  if (typeof t.request_id !== "string" || !UUID.test(t.request_id)) bad("request_id", "uuid", "must be a UUID");
  if (t.register_id !== REGISTER) bad("register_id", "eq", `must be ${REGISTER}, the register this adapter serves`);
  if (!OPERATIONS.includes(t.operation)) bad("operation", "operation", "is not an operation of the protocol");
  if (!RIGHTS.includes(t.right)) bad("right", "right", "is not a right the platform knows");
  if (!taskIdFits(t)) bad("task_id", "task_id", "must be request_id/register_id, or request_id/register_id/operation for a follow-up task");
  for (const f of ["received_at", "deadline"]) {
    if (typeof t[f] !== "string" || Number.isNaN(Date.parse(t[f]))) bad(f, "required", "must be a time (RFC 3339)");
  }
  if (!Array.isArray(t.identifiers) || t.identifiers.length < 1 || t.identifiers.length > 10) {
    bad("identifiers", "required", "must hold 1 to 10 identifiers");
  } else {
    t.identifiers.forEach((id, i) => {
      const rule = IDENTIFIER_RULES[id?.type];
      if (!rule) bad(`identifiers[${i}].type`, "identifier_type", "is not an identifier type the platform knows");
      else if (typeof id.value !== "string" || !rule[0](id.value)) bad(`identifiers[${i}].value`, rule[1], rule[2]);
    });
  }
  if (t.operation === "rectify" && (!Array.isArray(t.rectification) || t.rectification.length < 1 || t.rectification.length > 50 ||
      !t.rectification.every((c) => typeof c?.field === "string" && c.field !== "" && typeof (c.new_value ?? "") === "string"))) {
    bad("rectification", "required_if", "a rectify task carries 1 to 50 corrections, each a field and its new value");
  }
  if (t.package !== undefined) {
    const key = typeof t.package?.key === "string" && /^[A-Za-z0-9+/]{43}=$/.test(t.package.key) ? Buffer.from(t.package.key, "base64") : null;
    if (t.operation !== "lookup") bad("package", "package", "may only be given with a lookup");
    else if (!key || key.length !== 32) bad("package.key", "base64", "must be an X25519 public key, 32 bytes in standard base64");
    const limit = t.package?.inline_limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1048576) bad("package.inline_limit", "min", "must be an integer from 1 to 1048576");
  }
  return problems;
}

function taskIdFits(t) {
  const first = `${t.request_id}/${t.register_id}`;
  return typeof t.task_id === "string" && t.task_id.length <= 200 && (t.task_id === first || t.task_id === `${first}/${t.operation}`);
}

// --- The register's operations ---

function findPeople(task) {
  return task.identifiers
    .filter((id) => id.type === "personal_identity_code")
    .map((id) => id.value.trim().toUpperCase())
    .filter((code) => subscribers.has(code));
}

// lookup yields the subject's records one at a time, as a database cursor would: a register with
// millions of rows on someone never holds them all at once, and a package streams them as they come.
async function* lookup(task) {
  for (const code of findPeople(task)) {
    const s = subscribers.get(code);
    if (!s) continue; // erased meanwhile
    yield { category: "subscription", fields: { name: s.name, newsletter: s.newsletter, subscribed: s.subscribed } };
    let issue = 0;
    for (const sent of sentDates(s)) yield { category: "delivery", fields: { newsletter: s.newsletter, issue: String(++issue), sent } };
  }
}

// sentDates are the days an issue went to a subscriber: every `every` days from the day they subscribed.
function* sentDates(s) {
  for (let t = Date.parse(s.subscribed); t <= Date.now(); t += s.every * 24 * 3600 * 1000) yield new Date(t).toISOString().slice(0, 10);
}

// erase removes the subjects' subscriptions and their delivery log, and records the task id in the same
// step. affected counts the records erased.
function erase(task) {
  if (applied.has(task.task_id)) return { ...applied.get(task.task_id) };
  let affected = 0;
  for (const code of findPeople(task)) {
    affected += 1 + [...sentDates(subscribers.get(code))].length;
    subscribers.delete(code);
  }
  const result = affected > 0 ? { status: "applied", affected } : { status: "no_data" };
  applied.set(task.task_id, result);
  return { ...result };
}

// rectify corrects a subscriber's name, the one field the declaration's records mark correctable.
// Anything else is refused on the register's own ground: a code, the reason in Finnish, Swedish and
// English (the subject reads it in their language), and the provision in the form the platform reads.
function rectify(task) {
  if (applied.has(task.task_id)) return { ...applied.get(task.task_id) };
  const correctable = new Set(declaration.records.flatMap((r) => r.fields.filter((f) => f.correctable).map((f) => f.name)));
  if (!task.rectification.every((c) => correctable.has(c.field))) {
    return refused("field_not_correctable", {
      fi: "Uutiskirjeen tilaajarekisterissä voi korjata vain tilaajan nimen.",
      sv: "I nyhetsbrevets prenumerantregister kan endast prenumerantens namn rättas.",
      en: "Only the subscriber's name can be corrected in the newsletter's subscriber register.",
    }, "GDPR Art 16");
  }
  let affected = 0;
  for (const code of findPeople(task)) {
    const s = subscribers.get(code);
    for (const c of task.rectification) s[c.field] = c.new_value;
    affected++;
  }
  const result = affected > 0 ? { status: "applied", affected } : { status: "no_data" };
  applied.set(task.task_id, result);
  return { ...result };
}

function refused(code, reason, citation) {
  return { status: "refused", refusal: { code, reason, citation } };
}

function failed(code, message, fields) {
  const retryable = code === "unavailable" || code === "internal";
  return { status: "failed", error: { code, message, retryable, ...(fields ? { fields } : {}) } };
}

// --- The effect record: claims, results and cancellations (PROTOCOL.md) ---

// The bucket register-<id>-done holds, by task id, a claim ({claimed_by, claimed_at}: an instance is
// applying the effect now) or a result ({status, ...}, never records: the task is finished, perhaps
// cancelled by the platform). Anything else is no outcome: another client of the account could have
// made a server reply land there.
const RECORDED_STATUSES = ["applied", "no_data", "refused", "failed"];
const isCancellation = (v) => v.status === "failed" && v.error?.code === "cancelled";
// working holds the task ids whose effect this process is applying now, so that a second delivery of
// the same task to this same process sees its own claim as at work, not as left over.
const working = new Set();
// RETRY is what a step returns to have the task nak'ed with a delay and redelivered.
const RETRY = Symbol("retry");

async function readRecord(done, key) {
  const e = await done.get(key);
  if (!e || e.operation !== "PUT") return { kind: "none" }; // absent, or deleted: create works again
  const at = { revision: e.revision, written: e.created.getTime() }; // the server's time of the write
  let v;
  try {
    v = e.json();
  } catch {
    return { kind: "other", ...at };
  }
  if (RECORDED_STATUSES.includes(v?.status) && (v.status !== "failed" || v.error?.code)) return { kind: "result", value: v, ...at };
  if (typeof v?.claimed_by === "string" && v.claimed_by !== "") return { kind: "claim", value: v, ...at };
  return { kind: "other", ...at };
}

// recorded is a result as the record holds it and as a redelivery is answered with it: what an
// effect's result carries, never records.
function recorded(v) {
  const out = { status: v.status };
  if (Number.isInteger(v.affected) && v.affected > 0) out.affected = v.affected;
  if (v.refusal) out.refusal = v.refusal;
  if (v.error) {
    out.error = { code: v.error.code, message: v.error.message || "the platform cancelled the task", retryable: v.error.retryable === true };
    if (v.error.fields) out.error.fields = v.error.fields;
  }
  return out;
}

// KV create and update fail with JetStream error 10071 ("wrong last sequence") when the key is not
// as they expect: created meanwhile, or changed since the revision read.
const wrongRevision = (err) => err?.api_error?.err_code === 10071 || /wrong last sequence/i.test(String(err?.message));

const claimValue = () => encode({ claimed_by: instance, claimed_at: new Date().toISOString() });

// Claim is this instance's hold on a task, at the revision it last wrote. It is renewed with every
// progress heartbeat, so that only a crashed instance's claim grows stale; renewals and the final
// result are written one after another, each at the revision the one before returned.
class Claim {
  constructor(done, key, revision) {
    Object.assign(this, { done, key, revision, queue: Promise.resolve() });
  }
  #then(step) {
    const p = this.queue.then(step);
    this.queue = p.catch(() => {});
    return p;
  }
  renew() {
    return this.#then(async () => (this.revision = await this.done.update(this.key, claimValue(), this.revision))).catch((err) =>
      // another instance took the claim over; finish will fail, and the record decides the answer
      log("warn", "could not renew the claim on a task", { task: this.key, error: String(err.message) }));
  }
  finish(result) {
    return this.#then(() => this.done.update(this.key, encode(recorded(result)), this.revision));
  }
}

// claimAndApply carries out an effect at most once across the register's instances: claim the task id
// (create the key, or take over a stale claim at its revision), apply, then record the result at the
// claim's revision. A recorded result or cancellation is answered without the work. held(claim) lets
// the caller renew the claim while the effect runs.
async function claimAndApply(done, task, first, held) {
  const key = task.task_id;
  let claim;
  for (let entry = first, round = 0; !claim; entry = await readRecord(done, key), round++) {
    if (round > 3) return RETRY; // the record keeps changing under us: another instance is at it
    if (entry.kind === "result") {
      log("info", isCancellation(entry.value) ? "task cancelled by the platform: not carried out" : "task seen before: effect not applied again",
        { task: key });
      return recorded(entry.value);
    }
    if (entry.kind === "claim") {
      const age = Date.now() - entry.written;
      const mine = entry.value.claimed_by === instance;
      // A fresh claim of another instance: it is at work. So is this process if it is applying the
      // effect now. This process's own claim with no work under way here is left from an attempt that
      // failed (it could not record its result), and is taken over at once.
      if ((!mine && age < STALE_CLAIM_MS) || (mine && working.has(key))) {
        log("info", "task claimed by an instance at work; will be redelivered", { task: key, claimed_by: entry.value.claimed_by });
        return RETRY;
      }
      if (!mine) log("warn", "taking over a stale claim: the instance that held it stopped", { task: key, claimed_by: entry.value.claimed_by, age_ms: age });
    }
    if (entry.kind === "other") log("warn", "the effect record holds no outcome for the task; claiming it", { task: key });
    try {
      // Nothing recorded: create the key, which fails if another instance, or the platform's
      // cancellation, got there first. A stale claim, or a value that is no outcome: update at its
      // revision, which fails if it changed meanwhile.
      const revision = entry.kind === "none" ? await done.create(key, claimValue()) : await done.update(key, claimValue(), entry.revision);
      claim = new Claim(done, key, revision);
    } catch (err) {
      if (!wrongRevision(err)) throw err;
    }
  }
  working.add(key);
  held(claim);
  try {
    const result = await execute(task);
    try {
      await claim.finish(result);
    } catch (err) {
      if (!wrongRevision(err)) throw err;
      // Our claim was taken over, as a crashed instance's: answer as the record says by now.
      const now = await readRecord(done, key);
      return now.kind === "result" ? recorded(now.value) : RETRY;
    }
    return result;
  } finally {
    held(null);
    working.delete(key);
  }
}

async function execute(task) {
  switch (task.operation) {
    case "erase":
      return erase(task);
    case "rectify":
      return rectify(task);
    default:
      return failed("unsupported_operation", `register ${REGISTER} does not carry out ${task.operation}`);
  }
}

// --- Lookups: records inline, or as a sealed package ---

// What a result carries inline at most, as the Go SDK: the result schema's 1000 records, and 900 KiB of
// their JSON, which leaves room for the rest of the result in NATS's default 1 MiB message.
const MAX_INLINE_RECORDS = 1000;
const MAX_INLINE_BYTES = 900 * 1024;

// answerLookup sends the records inline while their JSON stays within the task's inline limit. Past it
// the records held so far (at most the limit's worth) and the rest of the cursor go into a package,
// so the adapter never holds more than the inline limit and one sealed chunk of the subject's data.
async function answerLookup(io, task, signal) {
  const limit = Math.min(task.package?.inline_limit ?? Infinity, MAX_INLINE_BYTES);
  const cursor = lookup(task)[Symbol.asyncIterator]();
  const inline = [];
  let size = 2; // the JSON array's brackets
  for (;;) {
    if (signal.aborted) return signal.reason;
    const { done, value } = await cursor.next();
    if (done) break;
    inline.push(value);
    size += Buffer.byteLength(JSON.stringify(value)) + (inline.length > 1 ? 1 : 0);
    if (size <= limit && inline.length <= MAX_INLINE_RECORDS) continue;
    if (!task.package) {
      return failed("internal", `the register holds more on the subject than a result carries inline (at most ${MAX_INLINE_RECORDS} ` +
        `records and ${MAX_INLINE_BYTES >> 10} KiB), and the task names no package to stream them into: send the lookup with package set`);
    }
    let sealer;
    try {
      sealer = new Sealer(Buffer.from(task.package.key, "base64"), task.task_id, PACKAGE_CHUNK_SIZE);
    } catch (err) {
      const message = `not a usable X25519 public key: ${err.message}`;
      return failed("invalid_message", `package.key: ${message}`, [{ field: "package.key", rule: "x25519", message }]);
    }
    return { status: "found", package: await writePackage(io, task, sealer, inline, cursor, signal) };
  }
  return inline.length > 0 ? { status: "found", records: inline } : { status: "no_data" };
}

// Cancelled is how a lookup's package stream stops when the platform cancels the task meanwhile.
class Cancelled extends Error {
  constructor(result) {
    super("the platform cancelled the task");
    this.result = result;
  }
}

// writePackage streams the records as JSON Lines through the sealer (sealed to the case key, for the
// object named by the task id) into the register's package bucket, and returns the result's reference
// to the package. The plaintext is counted and hashed as it goes; nothing but one chunk is held.
async function writePackage(io, task, sealer, first, cursor, signal) {
  const store = await io.packages();
  const object = task.task_id;
  const sha = createHash("sha256");
  let records = 0, size = 0, sealedBytes = 0, unflushed = 0;
  const next = async () => (first.length > 0 ? { done: false, value: first.shift() } : cursor.next());
  const body = new ReadableStream({
    async pull(controller) {
      try {
        for (;;) {
          if (signal.aborted) throw new Cancelled(signal.reason);
          const { done, value } = await next();
          const sealed = done ? [sealer.finish()] : sealer.push(line(value));
          for (const chunk of sealed) {
            controller.enqueue(chunk);
            sealedBytes += chunk.length;
            unflushed += chunk.length;
          }
          if (done) return controller.close();
          if (sealed.length > 0) {
            // nats.js publishes the object's chunks without waiting for each ack; a round trip to
            // the server every MiB keeps its outgoing buffer from growing with the package.
            if (unflushed >= 1 << 20) {
              await io.nc.flush();
              unflushed = 0;
            }
            return;
          }
        }
      } catch (err) {
        controller.error(err);
      }
    },
  });
  function line(record) {
    const bytes = Buffer.from(JSON.stringify(record) + "\n", "utf8");
    sha.update(bytes);
    size += bytes.length;
    records++;
    return bytes;
  }
  const info = await store.put({ name: object }, body);
  if (info.size !== sealedBytes) throw new Error(`package ${object}: the store holds ${info.size} bytes, ${sealedBytes} were sealed`);
  log("info", "records sent as a package", { task: object, records, bytes: size, sealed_bytes: sealedBytes });
  return {
    bucket: PACKAGE_BUCKET, object, format: "application/x-ndjson", records, size, sha256: sha.digest("hex"),
    sealing: { scheme: SCHEME, ephemeral_key: sealer.ephemeralKey.toString("base64"), chunk_size: PACKAGE_CHUNK_SIZE },
  };
}

// --- The protocol ---

const config = {
  url: process.env.KIRJAAMO_NATS_URL || "nats://127.0.0.1:4222",
  creds: process.env.KIRJAAMO_NATS_CREDENTIALS || "",
  // The CA of a cluster served over TLS (tls:// URLs), as for the Go SDK.
  ca: process.env.KIRJAAMO_NATS_CA || "",
  inboxPrefix: process.env.KIRJAAMO_NATS_INBOX_PREFIX || `_INBOX_${REGISTER}`,
};

// announce sends the declaration and waits for the catalogue's answer. A refusal stops the adapter; a
// catalogue that does not answer is retried after 1, 2, 4 ... 30 s, since the platform may be starting.
async function announce(nc, stopping) {
  const body = encode({ protocol: "kirjaamo.announce/v1", declaration, capabilities: CAPABILITIES, instance });
  for (let wait = 1000; ; wait = Math.min(wait * 2, 30_000)) {
    try {
      const reply = (await nc.request(`${SUBJECT}.announce`, body, { timeout: 5000 })).json();
      if (!reply.accepted) {
        const why = reply.error ? `${reply.error.code}: ${reply.error.message}` : "no reason given";
        throw new Error(`the register catalogue refused the declaration of ${REGISTER}: ${why}`);
      }
      log("info", "register announced", { status: reply.status });
      return reply.digest || "";
    } catch (err) {
      if (err.code !== ErrorCode.NoResponders && err.code !== ErrorCode.Timeout) throw err;
    }
    log("warn", "register catalogue not answering yet; retrying", { after_ms: wait });
    await Promise.race([sleep(wait), stopping]);
    if (stopped) throw new Error("stopped before the register was announced");
  }
}

async function handle(io, msg) {
  let task;
  try {
    task = msg.json();
  } catch {
    log("warn", "task dropped: not valid JSON", { error_class: "invalid_message" });
    return msg.term();
  }
  const problems = validateTask(task);
  // A result can be sent only when it can name a task of this register; anything else is dropped.
  const answerable = UUID.test(task.request_id ?? "") && task.register_id === REGISTER && taskIdFits(task) && OPERATIONS.includes(task.operation);
  if (problems.length > 0 && !answerable) {
    log("warn", "task dropped: invalid and cannot be answered", { error_class: "invalid_message" });
    return msg.term();
  }
  const isLookup = task.operation === "lookup" || task.operation === "list_recipients";
  // Tell JetStream the task is being worked on (+WPI) more often than the ack wait, so that slow work
  // is not redelivered to another instance meanwhile, and renew the claim on an effect under way.
  let claim = null;
  const keepAlive = setInterval(() => {
    msg.working();
    claim?.renew();
  }, ACK_WAIT_MS / 3);
  // During a lookup, look in the effect record every second for the platform's cancellation of it,
  // which stops the lookup. (Reading the key needs no more than the register's credentials allow; a
  // KV watcher would need a consumer on the bucket, which they do not.)
  const cancel = new AbortController();
  const watch = isLookup && problems.length === 0 ? setInterval(async () => {
    try {
      const now = await readRecord(io.done, task.task_id);
      if (now.kind === "result" && isCancellation(now.value)) cancel.abort(recorded(now.value));
    } catch {
      // read again at the next tick; a cancellation missed is answered on redelivery
    }
  }, 1000) : undefined;
  try {
    const started = Date.now();
    let result;
    if (problems.length > 0) {
      result = failed("invalid_message", "invalid: " + problems.map((p) => `${p.field}: ${p.message}`).join("; "), problems);
      log("warn", "task refused: invalid", { task: task.task_id, error_class: "invalid_message" });
    } else {
      // Before any operation, lookups included: a task the platform cancelled is answered with the
      // recorded cancellation, and nothing is done.
      const entry = await readRecord(io.done, task.task_id);
      if (entry.kind === "result" && isCancellation(entry.value)) {
        log("info", "task cancelled by the platform: not carried out", { task: task.task_id });
        result = recorded(entry.value);
      } else if (isLookup) {
        result = task.operation === "lookup"
          ? await answerLookup(io, task, cancel.signal).catch((err) => (err instanceof Cancelled ? err.result : Promise.reject(err)))
          : failed("unsupported_operation", `register ${REGISTER} does not carry out ${task.operation}`);
        if (cancel.signal.aborted && result === cancel.signal.reason) log("info", "lookup stopped: the platform cancelled the task", { task: task.task_id });
      } else {
        result = await claimAndApply(io.done, task, entry, (c) => (claim = c));
      }
    }
    if (result === RETRY) {
      const delay = backoff(msg);
      log("info", "task nak'ed, will be redelivered", { task: task.task_id, after_ms: delay });
      return msg.nak(delay);
    }
    const answer = {
      protocol: "kirjaamo.result/v1", task_id: task.task_id, request_id: task.request_id, register_id: REGISTER,
      operation: task.operation, ...result, finished_at: new Date().toISOString(),
    };
    // Ack only once the stream has stored the result: a crash in between means a redelivery, which
    // is answered again (with the recorded result for an effect), never a lost answer.
    await io.js.publish(`${SUBJECT}.result`, encode(answer), { msgID: `result/${task.task_id}` });
    await msg.ackAck();
    log("info", "task done", { task: task.task_id, operation: task.operation, status: answer.status, took_ms: Date.now() - started });
  } catch (err) {
    // A passing failure (NATS, the register's store, a package bucket not provisioned yet): not
    // answered, but redelivered later.
    const delay = backoff(msg);
    log("warn", "task failed, will be redelivered", { task: task.task_id, after_ms: delay, error: String(err.message) });
    msg.nak(delay);
  } finally {
    clearInterval(keepAlive);
    clearInterval(watch);
  }
}

// backoff grows with each delivery of the same task: 1 s, 2 s, 4 s ... up to 5 minutes.
const backoff = (msg) => Math.min(1000 * 2 ** Math.min(msg.info.redeliveryCount - 1, 9), 300_000);

// bindDone binds the effect record, which the platform provisions: the adapter may not create streams.
async function bindDone(jsm, js) {
  try {
    await jsm.streams.info(`KV_${DONE_BUCKET}`);
  } catch (err) {
    if (err.code === "404" || /stream not found/i.test(String(err.message))) {
      throw new Error(`the effect record ${DONE_BUCKET} does not exist: the platform provisions it (kirjaamo-nats-auth, or the conformance kit)`);
    }
    throw err;
  }
  return js.views.kv(DONE_BUCKET, { bindOnly: true });
}

// packageStore binds the package bucket when the first package is due, and keeps it. nats.js's
// views.os would create a missing bucket, which a register's credentials do not allow and the
// platform does not want, so the adapter checks that it exists first; a bucket not there yet is a
// passing failure, and the task is redelivered.
function packageStore(jsm, js) {
  let bound;
  return async () => {
    if (bound) return bound;
    try {
      await jsm.streams.info(`OBJ_${PACKAGE_BUCKET}`);
    } catch (err) {
      if (err.code === "404" || /stream not found/i.test(String(err.message))) {
        throw new Error(`the package bucket ${PACKAGE_BUCKET} does not exist: the platform provisions it`);
      }
      throw err;
    }
    bound = await js.views.os(PACKAGE_BUCKET);
    return bound;
  };
}

let stopped = false;
let stop;
const stopping = new Promise((resolve) => (stop = resolve));

async function main() {
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      stopped = true;
      stop();
    });
  }
  const nc = await connect({
    servers: config.url.split(","),
    name: `kirjaamo-register-${REGISTER}`,
    inboxPrefix: config.inboxPrefix,
    maxReconnectAttempts: -1,
    ...(config.creds ? { authenticator: credsAuthenticator(new Uint8Array(readFileSync(config.creds))) } : {}),
    ...(config.ca ? { tls: { caFile: config.ca } } : {}),
  });
  const digest = await announce(nc, stopping);

  // checkAPI false: nats.js otherwise asks $JS.API.INFO (the account's JetStream usage) first, which a
  // register's credentials do not allow. So do the KV and object store views, through the client's options.
  const jsm = await nc.jetstreamManager({ checkAPI: false });
  const durable = `register-${REGISTER}`;
  await jsm.consumers.add("KIRJAAMO_TASKS", {
    durable_name: durable, filter_subject: `${SUBJECT}.task`, ack_policy: AckPolicy.Explicit,
    ack_wait: Math.round(ACK_WAIT_MS * 1_000_000), max_deliver: -1, max_ack_pending: CONCURRENCY * 4,
  }, ""); // action "": create the consumer, or update it if it exists
  const js = nc.jetstream({ checkAPI: false });
  const io = { nc, js, done: await bindDone(jsm, js), packages: packageStore(jsm, js) };
  const tasks = await (await js.consumers.get("KIRJAAMO_TASKS", durable)).consume({ max_messages: CONCURRENCY });
  log("info", "register adapter serving", { operations: CAPABILITIES, instance });

  const sendHeartbeat = () => nc.publish(`${SUBJECT}.heartbeat`,
    encode({ protocol: "kirjaamo.heartbeat/v1", register_id: REGISTER, instance, digest, at: new Date().toISOString() }));
  sendHeartbeat();
  const heartbeat = setInterval(sendHeartbeat, HEARTBEAT_MS);

  stopping.then(() => {
    log("info", "register adapter draining");
    tasks.stop(); // take no more tasks; those pulled but not started stay unacknowledged for another instance
  });
  if (stopped) tasks.stop();
  const inFlight = new Set();
  for await (const msg of tasks) {
    if (stopped) {
      msg.nak(); // pulled but not started: handed back at once for another instance
      continue;
    }
    const work = handle(io, msg).finally(() => inFlight.delete(work));
    inFlight.add(work);
    while (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
  }
  await Promise.all(inFlight); // finish the tasks under way, their acks included
  clearInterval(heartbeat);
  await nc.drain();
  log("info", "register adapter stopped");
}

main().then(
  () => process.exit(0),
  (err) => {
    log("error", "register adapter cannot run", { error: String(err.message) });
    process.exit(1);
  },
);
