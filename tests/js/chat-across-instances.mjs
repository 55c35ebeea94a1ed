// Two users chat through two nyaya instances joined by Redis, with the real socket.io-client:
// A on instance 1 over WebSocket, B on instance 2 over long-polling (what the frontend uses),
// plus a second tab of B on instance 1 that starts on polling and upgrades to WebSocket.
//
// Usage: node chat-across-instances.mjs  (settings from the environment)
//   NYAYA_URL_1, NYAYA_URL_2   base URLs of the two instances
//   TOKEN_A, TOKEN_B           access tokens of the two users
//   USER_A, USER_B             their ids
//   CHAT_ID                    the direct chat they share
// Every event a client receives is checked against the payload shape the platform's React
// frontend relies on (SHAPES below: exact field names and types); an event without a shape
// fails the run. Each page also keeps its message list the way `components/chat/ChatWindow.jsx`
// does (optimistic copy replaced by `message_sent`, `new_message` appended) and must render it.
//
// Prints one JSON line {"ok": true, "messages": [...ids], "checked": {event: count}} and exits
// 0, or prints the failure and exits 1. Every wait is bounded.

import { io } from "socket.io-client";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const [url1, url2] = [env("NYAYA_URL_1"), env("NYAYA_URL_2")];
const [tokenA, tokenB] = [env("TOKEN_A"), env("TOKEN_B")];
const [userA, userB] = [env("USER_A"), env("USER_B")];
const chatId = env("CHAT_ID");
const PATIENCE_MS = 15000;

const fail = (message) => {
  console.error(`FAILED: ${message}`);
  process.exit(1);
};
setTimeout(() => fail("the whole scenario took too long"), 60000).unref();

// ---- payload shapes ----
// A shape maps each field to its type: "id" (24 hex digits), "chatId", "string", "time" (an
// ISO-8601 UTC timestamp), "boolean", "true", "null", a nested shape, [itemType] for an array,
// {anyOf: [types]}, {optional: type} for a field that may be absent. Fields outside the shape
// fail too.

const person = { _id: "id", name: "string", role: "string" }; // how a sender appears
const caller = { id: "id", name: "string", role: "string" }; // how a caller appears in calls
const message = {
  _id: "id",
  chatId: "chatId",
  content: "string",
  messageType: "string",
  fileData: { anyOf: ["null", "object"] },
  sender: person,
  timestamp: "time",
  isRead: [{ user: "id", readAt: "time" }],
  attachments: ["object"],
  isDeleted: "boolean",
  editedAt: { optional: "time" },
  // The client's optimistic id, echoed when it sent one.
  tempId: { optional: "string" },
};
const SHAPES = {
  user_online: { userId: "id" },
  user_offline: { userId: "id" },
  user_status_update: { userId: "id", status: "string" },
  chat_joined: { chatId: "chatId", success: "true" },
  messages_read: { chatId: "chatId", readBy: "id", messageIds: { optional: ["id"] } },
  new_message: message,
  // The message itself (ChatWindow replaces its optimistic copy with it), plus the ack fields.
  message_sent: { ...message, success: "true", messageId: "id", tempId: { anyOf: ["string", "null"] } },
  typing_start: { chatId: "chatId", userId: "id", userName: "string" },
  typing_stop: { chatId: "chatId", userId: "id", userName: "string" },
  user_typing: { chatId: "chatId", userId: "id", name: "string" },
  user_stop_typing: { chatId: "chatId", userId: "id" },
  "incoming-call": { type: "string", chatId: "chatId", caller, timestamp: "time" },
  "call-accepted": { chatId: "chatId", callType: "string", acceptedBy: caller, timestamp: "time" },
  "call-rejected": { chatId: "chatId", callType: "string", rejectedBy: caller, timestamp: "time" },
  "call-ended": { chatId: "chatId", callType: "string", endedBy: caller, timestamp: "time" },
};

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const SCALARS = {
  id: (v) => typeof v === "string" && /^[0-9a-f]{24}$/.test(v),
  chatId: (v) => typeof v === "string" && /^(direct_[0-9a-f]{24}_[0-9a-f]{24}|(query|dispute)_[0-9a-f]{24})$/.test(v),
  string: (v) => typeof v === "string",
  time: (v) => typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v) && !Number.isNaN(Date.parse(v)),
  boolean: (v) => typeof v === "boolean",
  true: (v) => v === true,
  null: (v) => v === null,
  object: isObject,
};

/** The mismatches between `value` and `type`, as "path: problem" lines. */
function mismatches(value, type, path) {
  if (typeof type === "string") {
    return SCALARS[type](value) ? [] : [`${path}: expected ${type}, got ${JSON.stringify(value)}`];
  }
  if (Array.isArray(type)) {
    if (!Array.isArray(value)) return [`${path}: expected an array, got ${JSON.stringify(value)}`];
    return value.flatMap((item, i) => mismatches(item, type[0], `${path}[${i}]`));
  }
  if (type.anyOf) {
    return type.anyOf.some((t) => mismatches(value, t, path).length === 0)
      ? []
      : [`${path}: expected ${type.anyOf.join(" or ")}, got ${JSON.stringify(value)}`];
  }
  if (!isObject(value)) return [`${path}: expected an object, got ${JSON.stringify(value)}`];
  const problems = Object.keys(value).filter((k) => !(k in type)).map((k) => `${path}.${k}: not expected`);
  for (const [key, field] of Object.entries(type)) {
    if (!(key in value)) {
      if (!field.optional) problems.push(`${path}.${key}: missing`);
    } else {
      problems.push(...mismatches(value[key], field.optional ?? field, `${path}.${key}`));
    }
  }
  return problems;
}

/** How many payloads of each event were checked, over all clients. */
const checked = {};

function checkShape(name, event, payload) {
  const shape = SHAPES[event];
  if (!shape) fail(`${name} received ${event}, which has no expected shape: ${JSON.stringify(payload)}`);
  const problems = mismatches(payload, shape, event);
  if (problems.length) fail(`${name}'s ${event} payload does not match: ${problems.join("; ")} in ${JSON.stringify(payload)}`);
  checked[event] = (checked[event] ?? 0) + 1;
}

// ---- the frontend's message list (components/chat/ChatWindow.jsx) ----

/** The message list of one open chat page, updated by the same rules as ChatWindow.jsx. */
function chatPage(socket, user) {
  const messages = [];
  socket.on("new_message", (m) => {
    if (m.chatId === chatId) messages.push(m);
  });
  socket.on("message_sent", (m) => {
    if (m.chatId !== chatId) return;
    messages.forEach((msg, i) => {
      if (msg.tempId === m.tempId) messages[i] = { ...m, status: "sent" };
    });
  });
  const send = (content, tempId) => {
    const sender = { _id: user, name: "me", role: "citizen" };
    messages.push({ tempId, chatId, content, sender, timestamp: new Date(), status: "sending" });
    socket.emit("send_message", { chatId, content, tempId });
  };
  /** What the page renders for each entry (MessageBubble.jsx): throws where the page would blank. */
  const render = () =>
    messages.map((m) => {
      const own = m.sender._id === user;
      const ticks = m.status === "sending" ? "sending" : m.isRead && m.isRead.length > 0 ? "read" : "sent";
      return `${own ? "me" : m.sender.name}: ${m.content} (${new Date(m.timestamp).toISOString()}, ${ticks})`;
    });
  return { messages, send, render };
}

/** A client that records every event, so awaited events can have arrived earlier. */
function client(name, url, token, options) {
  const socket = io(url, { auth: { token }, reconnection: false, timeout: PATIENCE_MS, ...options });
  const seen = [];
  const waiters = [];
  socket.onAny((event, payload) => {
    checkShape(name, event, payload);
    const waiter = waiters.findIndex((w) => w.event === event);
    if (waiter >= 0) {
      const [w] = waiters.splice(waiter, 1);
      clearTimeout(w.timer);
      w.resolve(payload);
    } else {
      seen.push({ event, payload });
    }
  });
  const next = (event) => {
    const index = seen.findIndex((s) => s.event === event);
    if (index >= 0) return Promise.resolve(seen.splice(index, 1)[0].payload);
    return new Promise((resolve) => {
      const timer = setTimeout(() => fail(`${name} waited in vain for ${event}; saw ${JSON.stringify(seen)}`), PATIENCE_MS);
      waiters.push({ event, resolve, timer });
    });
  };
  const connected = new Promise((resolve) => {
    socket.on("connect", resolve);
    socket.on("connect_error", (err) => fail(`${name} could not connect: ${err.message}`));
  });
  return { socket, next, connected, seen, name };
}

const same = (actual, expected, what) => {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
};

// B first, so B sees A come online (presence across instances).
const b = client("B", url2, tokenB, { transports: ["polling"] });
await b.connected;
same(b.socket.io.engine.transport.name, "polling", "B's transport");
const a = client("A", url1, tokenA, { transports: ["websocket"] });
await a.connected;
same(a.socket.io.engine.transport.name, "websocket", "A's transport");
same(await b.next("user_online"), { userId: userA }, "presence of A as seen by B");

// Both open the chat page (the client must wait for connect before emitting: done above).
const pageA = chatPage(a.socket, userA);
const pageB = chatPage(b.socket, userB);
a.socket.emit("join_chat", chatId);
same(await a.next("chat_joined"), { chatId, success: true }, "A joins");
b.socket.emit("join_chat", chatId);
same(await b.next("chat_joined"), { chatId, success: true }, "B joins");
same(await a.next("messages_read"), { chatId, readBy: userB }, "A learns B read the chat");

// A -> B, acknowledged with the client's tempId and the chatId, delivered across instances.
pageA.send("Hello from instance one", "a-1");
const sentA = await a.next("message_sent");
same([sentA.success, sentA.chatId, sentA.tempId], [true, chatId, "a-1"], "A's acknowledgement");
same([sentA._id, sentA.content, sentA.sender._id], [sentA.messageId, "Hello from instance one", userA], "A's acknowledged message");
const ownA = await a.next("new_message");
same({ ...ownA, success: true, messageId: ownA._id }, sentA, "A's acknowledgement is its own copy plus the ack fields");
same(ownA.tempId, "a-1", "A's own copy echoes the tempId");
const gotB = await b.next("new_message");
same([gotB._id, gotB.content, gotB.sender._id, gotB.chatId], [sentA.messageId, "Hello from instance one", userA, chatId], "B receives A's message");

// B -> A.
pageB.send("Hello back from instance two", "b-1");
const sentB = await b.next("message_sent");
await b.next("new_message");
same([sentB.chatId, sentB.tempId], [chatId, "b-1"], "B's acknowledgement");
const gotA = await a.next("new_message");
if (gotA._id !== sentB.messageId) fail(`A got ${JSON.stringify(gotA)} instead of B's message`);
same([gotA.content, gotA.sender._id], ["Hello back from instance two", userB], "A receives B's message");

// Typing, in the frontend's form and the original's.
a.socket.emit("start_typing", { chatId, userId: userA, userName: "ignored" });
const typing = await b.next("typing_start");
same([typing.chatId, typing.userId], [chatId, userA], "B sees A typing");
b.socket.emit("typing_start", chatId);
same((await a.next("user_typing")).userId, userB, "A sees B typing (original event)");
b.socket.emit("typing_stop", chatId);
same(await a.next("user_stop_typing"), { chatId, userId: userB }, "A sees B stop typing");

// Read receipts across instances.
a.socket.emit("mark_messages_read", { chatId, messageIds: [sentB.messageId] });
same(await b.next("messages_read"), { chatId, readBy: userA, messageIds: [sentB.messageId] }, "B's message read by A");

// A second tab of B on instance 1 with the default transports: polling, then the upgrade.
// B's first announcement may have reached A too (A can connect before B's connect handler
// has announced B): only announcements from now on count against the second tab.
const onlineEvents = (c) => c.seen.filter((s) => s.event === "user_online").length;
const announcedBefore = [onlineEvents(a), onlineEvents(b)];
const b2 = client("B2", url1, tokenB, {});
await b2.connected;
if (b2.socket.io.engine.transport.name !== "websocket") {
  await new Promise((resolve) => {
    const timer = setTimeout(() => fail("B2 never upgraded to WebSocket"), PATIENCE_MS);
    b2.socket.io.engine.on("upgrade", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
b2.socket.emit("join_chat", chatId);
await b2.next("chat_joined");
pageA.send("Both your tabs get this", "a-2");
const sentA2 = await a.next("message_sent");
await a.next("new_message");
same((await b.next("new_message"))._id, sentA2.messageId, "B's polling tab receives");
same((await b2.next("new_message"))._id, sentA2.messageId, "B's upgraded tab receives");
if (onlineEvents(a) > announcedBefore[0] || onlineEvents(b) > announcedBefore[1]) {
  fail("a second tab announced its user again");
}

// Calls, as ChatWindow.jsx and ChatHeader.jsx drive them: A calls B (both of B's tabs ring), B
// answers on one tab (A and B's other tab hear), A hangs up; then B declines a second call.
a.socket.emit("initiate-call", { type: "video", receiverId: userB, chatId, caller: { id: userB, name: "spoofed" } });
const rings = [await b.next("incoming-call"), await b2.next("incoming-call")];
for (const ring of rings) {
  same([ring.type, ring.chatId, ring.caller.id], ["video", chatId, userA], "B's tabs ring");
  if (ring.caller.name === "spoofed") fail("the caller's identity came from the payload");
}
b.socket.emit("accept-call", { chatId, callType: rings[0].type });
for (const c of [a, b2]) same((await c.next("call-accepted")).acceptedBy.id, userB, `${c.name} hears B answer`);
a.socket.emit("end-call", { chatId, callType: "video" });
for (const c of [b, b2]) same((await c.next("call-ended")).endedBy.id, userA, `${c.name} hears A hang up`);
a.socket.emit("initiate-call", { type: "audio", receiverId: userB, chatId });
same((await b.next("incoming-call")).type, "audio", "B's second call");
await b2.next("incoming-call");
b.socket.emit("reject-call", { chatId, callType: "audio" });
same((await a.next("call-rejected")).rejectedBy.id, userB, "A hears B decline");
await b2.next("call-rejected");

// Both chat pages: A's optimistic copies became the stored messages, every reply arrived, and
// every entry renders.
const ids = [sentA.messageId, sentB.messageId, sentA2.messageId];
for (const [page, who] of [[pageA, "A"], [pageB, "B"]]) {
  let lines;
  try {
    lines = page.render();
  } catch (err) {
    fail(`${who}'s chat page does not render (${err.message}): ${JSON.stringify(page.messages)}`);
  }
  if (page.messages.some((m) => m.status === "sending")) fail(`${who} still shows an unsent copy: ${lines.join(" | ")}`);
  for (const id of ids) {
    if (!page.messages.some((m) => m._id === id)) fail(`${who}'s page lacks message ${id}: ${lines.join(" | ")}`);
  }
}
const replaced = new Set(pageA.messages.filter((m) => m.status === "sent").map((m) => m.tempId));
same([...replaced].sort(), ["a-1", "a-2"], "A's copies were replaced");

// A leaves: B is told on its other instance once A's last socket closes.
for (let i = b.seen.length - 1; i >= 0; i--) if (b.seen[i].event === "user_status_update") b.seen.splice(i, 1);
a.socket.disconnect();
same(await b.next("user_offline"), { userId: userA }, "A goes offline as seen by B");
same(await b.next("user_status_update"), { userId: userA, status: "offline" }, "A's status as seen by B");
for (const c of [b, b2]) c.socket.disconnect();
console.log(JSON.stringify({ ok: true, messages: ids, checked }));
process.exit(0);
