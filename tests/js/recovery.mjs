// Connection state recovery with the real socket.io-client (docs/realtime.md): a user who
// loses the connection gets every event missed meanwhile, exactly once and in order, and
// `socket.recovered` is true, as the frontend's client does it with no code of its own.
//
// Usage: node recovery.mjs <scenario>  (settings from the environment)
//   TOKEN_A, TOKEN_B, USER_A, USER_B   two users (A citizen, B lawyer) and their tokens
//   CHAT_ID                            their direct chat
//   reload:     NYAYA_URL (a `nyaya serve --workers N` supervisor), SUPERVISOR_PID
//               A and B chat while the supervisor replaces every worker (SIGHUP): both
//               sockets are closed by their old worker and resume on its replacement.
//   kill:       NYAYA_URL, WORKER_PIDS (comma-separated): the same, but the workers are
//               killed outright (SIGKILL) and the supervisor starts new ones.
//   instances:  NYAYA_URL_1, NYAYA_URL_2 (two instances sharing Redis)
//               B's connection to instance 2 drops; while B is away A talks on instance 1;
//               B's tab then reaches instance 1 (as through a load balancer) and resumes.
//
// Prints one JSON line {"ok": true, ...} and exits 0, or prints the failure and exits 1.
// Every wait is bounded.

import { io } from "socket.io-client";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const scenario = process.argv[2];
const [tokenA, tokenB] = [env("TOKEN_A"), env("TOKEN_B")];
const [userA, userB] = [env("USER_A"), env("USER_B")];
const chatId = env("CHAT_ID");
const PATIENCE_MS = 20000;

const fail = (message) => {
  console.error(`FAILED: ${message}`);
  process.exit(1);
};
setTimeout(() => fail("the whole scenario took too long"), 90000).unref();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const same = (actual, expected, what) => {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
};

/** A client recording every event (and its connects), so awaited things can come earlier. */
function client(name, url, token, options = {}) {
  const socket = io(url, { auth: { token }, timeout: PATIENCE_MS, ...options });
  const seen = [];
  const connects = [];
  const disconnects = [];
  socket.onAny((event, payload) => seen.push({ event, payload }));
  const gaps = [];
  socket.on("connect", () => {
    connects.push({ recovered: socket.recovered, id: socket.id });
    if (gaps.length && gaps.at(-1).back === undefined) gaps.at(-1).back = Date.now();
  });
  socket.on("disconnect", (reason) => {
    disconnects.push(reason);
    gaps.push({ down: Date.now() });
  });
  socket.on("connect_error", (err) => {
    if (!socket.active) fail(`${name} could not connect: ${err.message}`);
  });
  /** Resolves when `check()` holds, polling every 20 ms; fails naming `what` after PATIENCE_MS. */
  const until = async (what, check) => {
    const deadline = Date.now() + PATIENCE_MS;
    while (!check()) {
      if (Date.now() > deadline) fail(`${name} waited in vain for ${what}; saw ${JSON.stringify(seen.map((s) => s.event))}`);
      await sleep(20);
    }
  };
  const next = async (event) => {
    await until(event, () => seen.some((s) => s.event === event));
    return seen.splice(seen.findIndex((s) => s.event === event), 1)[0].payload;
  };
  /** The longest time the socket was disconnected, in ms. */
  const longestGap = () => Math.max(0, ...gaps.map((g) => (g.back ?? Date.now()) - g.down));
  return { name, socket, seen, connects, disconnects, until, next, longestGap, resent: [] };
}

/** The contents of the chat messages `c` received from `from`, in arrival order. */
const messagesFrom = (c, from) =>
  c.seen.filter((s) => s.event === "new_message" && s.payload.sender._id === from).map((s) => s.payload.content);

async function join(c) {
  await c.until("connect", () => c.socket.connected);
  c.socket.emit("join_chat", chatId);
  same(await c.next("chat_joined"), { chatId, success: true }, `${c.name} joins`);
}

/** A sends `contents` one after the other, each acknowledged (queued by the client while
 * it is disconnected, as the frontend's messages are). A message written into a connection
 * that dies before the server reads it is lost with it, unacknowledged even after the session
 * resumes (its acknowledgement would be replayed otherwise): with `resend`, A sends it again,
 * as a user would. */
async function talk(a, contents, pauseMs, resend = false) {
  const acked = (content) => a.seen.some((s) => s.event === "message_sent" && s.payload.tempId === content);
  for (const content of contents) {
    const drops = a.disconnects.length;
    a.socket.emit("send_message", { chatId, content, tempId: content });
    const deadline = Date.now() + 3000;
    while (resend && !acked(content)) {
      const resumedAwhile = a.socket.connected && a.disconnects.length > drops && Date.now() > deadline;
      if (resumedAwhile) {
        a.resent.push(content);
        return talk(a, contents.slice(contents.indexOf(content)), pauseMs, resend);
      }
      await sleep(20);
    }
    await a.until(`the acknowledgement of ${content}`, () => acked(content));
    await sleep(pauseMs);
  }
}

/** A and B chat while every worker is replaced: `disrupt` does it. */
async function acrossWorkers(disrupt, { resend, longestGapMs }) {
  const url = env("NYAYA_URL");
  // B as the frontend connects (long-polling), A over WebSocket; both reconnect by themselves.
  const a = client("A", url, tokenA, { transports: ["websocket"] });
  const b = client("B", url, tokenB, { transports: ["polling"] });
  await join(a);
  await join(b);
  if (!a.socket._pid || !b.socket._pid) fail("the server gave no pid: recovery is off");

  // 25 messages, 150 ms apart: within the rate limit (30 a minute), across the whole reload.
  const contents = Array.from({ length: 25 }, (_, i) => `m${String(i + 1).padStart(2, "0")}`);
  const talking = talk(a, contents, 150, resend);
  await a.until("m05", () => a.seen.some((s) => s.event === "message_sent" && s.payload.tempId === "m05"));
  disrupt();
  await talking;
  await b.until("every message", () => messagesFrom(b, userA).length >= contents.length);
  await sleep(1500); // a duplicate would arrive meanwhile
  same(messagesFrom(b, userA), contents, "B received every message once, in order");
  same(messagesFrom(a, userA), contents, "A's own copies, once, in order");
  for (const c of [a, b]) {
    if (c.disconnects.length === 0) fail(`${c.name} was never disconnected: the reload did not reach its worker`);
    if (c.connects.length !== c.disconnects.length + 1) fail(`${c.name}: ${JSON.stringify({ connects: c.connects, disconnects: c.disconnects })}`);
    if (!c.connects.slice(1).every((x) => x.recovered)) fail(`${c.name} resumed without recovery: ${JSON.stringify(c.connects)}`);
    // Back at once: the client's reconnection delay (0.5 to 1.5 s) plus a handshake (plus,
    // after a kill, the new worker's start), not a ping timeout (85 s).
    if (c.longestGap() > longestGapMs) fail(`${c.name} was disconnected for ${c.longestGap()} ms`);
  }
  const gaps = { A: a.longestGap(), B: b.longestGap() };
  return { disconnects: { A: a.disconnects, B: b.disconnects }, gaps, messages: contents.length, resent: a.resent };
}

function reload() {
  const supervisor = Number(env("SUPERVISOR_PID"));
  return acrossWorkers(() => process.kill(supervisor, "SIGHUP"), { resend: false, longestGapMs: 5000 });
}

function kill() {
  const workers = env("WORKER_PIDS").split(",").map(Number);
  return acrossWorkers(() => workers.forEach((pid) => process.kill(pid, "SIGKILL")), { resend: true, longestGapMs: 15000 });
}

async function instances() {
  const [url1, url2] = [env("NYAYA_URL_1"), env("NYAYA_URL_2")];
  const a = client("A", url1, tokenA, { transports: ["websocket"] });
  const b = client("B", url2, tokenB, { transports: ["polling"], reconnection: false });
  await join(a);
  await join(b);
  await talk(a, ["before"], 0);
  await b.until("before", () => messagesFrom(b, userA).length === 1);

  // B's connection drops (the transport closes, not socket.disconnect()): B keeps its pid and
  // the offset of the last event it got.
  const [pid, offset] = [b.socket._pid, b.socket._lastOffset];
  if (!pid || !offset) fail(`B has no pid or offset: ${pid} ${offset}`);
  b.socket.io.engine.close();
  await b.until("the disconnect", () => b.disconnects.length === 1);
  same(b.disconnects, ["forced close"], "B's disconnect reason (its transport closed)");

  // The server handles a client's events concurrently: pauses keep these in one order.
  await talk(a, ["one", "two", "three"], 0);
  a.socket.emit("typing_start", chatId);
  await sleep(200);
  a.socket.emit("typing_stop", chatId);
  await sleep(200);
  await talk(a, ["four"], 0);

  // The same tab reaches instance 1 (a load balancer sent it elsewhere): a client that holds
  // B's pid and offset, as B's own client does when it reconnects.
  const b2 = client("B", url1, tokenB, { transports: ["polling"], autoConnect: false });
  b2.socket._pid = pid;
  b2.socket._lastOffset = offset;
  b2.socket.connect();
  await b2.until("connect", () => b2.connects.length === 1);
  same(b2.connects[0].recovered, true, "B's session is recovered on the other instance");
  same(b2.socket._pid, pid, "the same session");
  await b2.until("the missed messages", () => messagesFrom(b2, userA).length >= 4);
  await sleep(500);
  same(messagesFrom(b2, userA), ["one", "two", "three", "four"], "every missed message once, in order");
  const missedEvents = b2.seen.map((s) => s.event);
  same(
    missedEvents,
    ["new_message", "new_message", "new_message", "typing_start", "user_typing", "typing_stop", "user_stop_typing", "new_message"],
    "the missed events in order, nothing else",
  );
  // Live again, with the chat room restored (no join_chat), both ways.
  await talk(a, ["five"], 0);
  await b2.until("five", () => messagesFrom(b2, userA).includes("five"));
  await talk(b2, ["hello again"], 0);
  await a.until("B's message", () => messagesFrom(a, userB).includes("hello again"));
  return { recovered: true, missed: missedEvents.length };
}

const scenarios = { reload, kill, instances };
if (!scenarios[scenario]) fail(`unknown scenario ${scenario}; use ${Object.keys(scenarios).join(" or ")}`);
const result = await scenarios[scenario]();
console.log(JSON.stringify({ ok: true, scenario, ...result }));
process.exit(0);
