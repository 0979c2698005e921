// An example Kirjaamo register adapter in JavaScript, on nats.js (npm "nats", v2), without the Go SDK.
// It speaks the register protocol of contracts/PROTOCOL.md for one made-up register, a newsletter's
// subscribers held in memory, and does what the Go SDK (adapters/sdk/run.go) does:
//
//   announce -> heartbeat every 10 s -> pull tasks from the durable consumer register-<id> ->
//   validate -> look up or erase -> publish the result (Nats-Msg-Id result/<task id>) -> ack
//
// Run: KIRJAAMO_NATS_URL=nats://127.0.0.1:4222 node index.mjs
// Logs are JSON lines on stderr and never carry identifiers or records.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { connect, credsAuthenticator, AckPolicy, ErrorCode } from "nats";

const declaration = JSON.parse(readFileSync(new URL("./example-js-register.json", import.meta.url), "utf8"));
const REGISTER = declaration.register_id;
const SUBJECT = `kirjaamo.v1.register.${REGISTER}`;
const CAPABILITIES = ["lookup", "erase"]; // what this code implements; the declaration may not promise more
const CONCURRENCY = 4;
const ACK_WAIT_MS = 30_000;
const HEARTBEAT_MS = 10_000;
const instance = `${hostname()}-${process.pid}`;

// The register's data: made-up people (the demo people of adapters/demo/people.go), by identity code.
const subscribers = new Map([
  ["150385-9013", { name: "Aino Virtanen", newsletter: "Monthly health tips", subscribed: "2024-02-01" }],
  ["020794-9029", { name: "Matti Korhonen", newsletter: "Clinic events", subscribed: "2023-11-15" }],
]);
// The record of effects applied, by task id, kept in the same store as the data so that an effect and
// its record cannot part. Its entries are promises, so a delivery that arrives while the first one is
// still working waits for the first answer instead of applying the effect again. A register with a
// database writes the task id in the same transaction as the effect.
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

function lookup(task) {
  const records = findPeople(task).map((code) => {
    const s = subscribers.get(code);
    return { category: "subscription", fields: { name: s.name, newsletter: s.newsletter, subscribed: s.subscribed } };
  });
  return records.length > 0 ? { status: "found", records } : { status: "no_data" };
}

function erase(task) {
  const codes = findPeople(task);
  for (const code of codes) subscribers.delete(code);
  return codes.length > 0 ? { status: "applied", affected: codes.length } : { status: "no_data" };
}

async function execute(task) {
  switch (task.operation) {
    case "lookup":
      return lookup(task);
    case "erase": {
      // The record is checked and written in one synchronous step with the effect, so no second
      // delivery can slip in between.
      if (!applied.has(task.task_id)) applied.set(task.task_id, Promise.resolve(erase(task)));
      return { ...(await applied.get(task.task_id)) };
    }
    default:
      return failed("unsupported_operation", `register ${REGISTER} does not carry out ${task.operation}`);
  }
}

function failed(code, message, fields) {
  const retryable = code === "unavailable" || code === "internal";
  return { status: "failed", error: { code, message, retryable, ...(fields ? { fields } : {}) } };
}

// --- The protocol ---

const config = {
  url: process.env.KIRJAAMO_NATS_URL || "nats://127.0.0.1:4222",
  creds: process.env.KIRJAAMO_NATS_CREDENTIALS || "",
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

async function handle(js, msg) {
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
  // Tell JetStream the task is being worked on (+WPI) more often than the ack wait, so that slow work
  // is not redelivered to another instance meanwhile.
  const keepAlive = setInterval(() => msg.working(), ACK_WAIT_MS / 3);
  try {
    const started = Date.now();
    const result = problems.length > 0
      ? failed("invalid_message", "invalid: " + problems.map((p) => `${p.field}: ${p.message}`).join("; "), problems)
      : await execute(task);
    if (problems.length > 0) log("warn", "task refused: invalid", { task: task.task_id, error_class: "invalid_message" });
    const answer = {
      protocol: "kirjaamo.result/v1", task_id: task.task_id, request_id: task.request_id, register_id: REGISTER,
      operation: task.operation, ...result, finished_at: new Date().toISOString(),
    };
    // Ack only once the stream has stored the result: a crash in between means a redelivery, which
    // is answered again (with the first answer for an effect), never a lost answer.
    await js.publish(`${SUBJECT}.result`, encode(answer), { msgID: `result/${task.task_id}` });
    await msg.ackAck();
    log("info", "task done", { task: task.task_id, operation: task.operation, status: answer.status, took_ms: Date.now() - started });
  } catch (err) {
    const delay = Math.min(1000 * 2 ** Math.min(msg.info.redeliveryCount - 1, 9), 300_000);
    log("warn", "task failed, will be redelivered", { task: task.task_id, after_ms: delay, error: String(err.message) });
    msg.nak(delay);
  } finally {
    clearInterval(keepAlive);
  }
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
  });
  const digest = await announce(nc, stopping);

  const jsm = await nc.jetstreamManager();
  const durable = `register-${REGISTER}`;
  await jsm.consumers.add("KIRJAAMO_TASKS", {
    durable_name: durable, filter_subject: `${SUBJECT}.task`, ack_policy: AckPolicy.Explicit,
    ack_wait: ACK_WAIT_MS * 1_000_000, max_deliver: -1, max_ack_pending: CONCURRENCY * 4,
  }, ""); // action "": create the consumer, or update it if it exists
  const js = nc.jetstream();
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
    const work = handle(js, msg).finally(() => inFlight.delete(work));
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
