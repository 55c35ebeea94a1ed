// Two users chat through two nyaya instances joined by Redis, with the real socket.io-client:
// A on instance 1 over WebSocket, B on instance 2 over long-polling (what the frontend uses),
// plus a second tab of B on instance 1 that starts on polling and upgrades to WebSocket.
//
// Usage: node chat-across-instances.mjs  (settings from the environment)
//   NYAYA_URL_1, NYAYA_URL_2   base URLs of the two instances
//   TOKEN_A, TOKEN_B           access tokens of the two users
//   USER_A, USER_B             their ids
//   CHAT_ID                    the direct chat they share
// Prints one JSON line {"ok": true, "messages": [...ids]} and exits 0, or prints the failure
// and exits 1. Every wait is bounded.

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

/** A client that records every event, so awaited events can have arrived earlier. */
function client(name, url, token, options) {
  const socket = io(url, { auth: { token }, reconnection: false, timeout: PATIENCE_MS, ...options });
  const seen = [];
  const waiters = [];
  socket.onAny((event, payload) => {
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

// Both join the chat (the client must wait for connect before emitting: done above).
a.socket.emit("join_chat", chatId);
same(await a.next("chat_joined"), { chatId, success: true }, "A joins");
b.socket.emit("join_chat", chatId);
same(await b.next("chat_joined"), { chatId, success: true }, "B joins");
same(await a.next("messages_read"), { chatId, readBy: userB }, "A learns B read the chat");

// A -> B, acknowledged with the client's tempId and the chatId, delivered across instances.
a.socket.emit("send_message", { chatId, content: "Hello from instance one", tempId: "a-1" });
const sentA = await a.next("message_sent");
same([sentA.success, sentA.chatId, sentA.tempId], [true, chatId, "a-1"], "A's acknowledgement");
same(sentA.message.content, "Hello from instance one", "A's acknowledged message");
same((await a.next("new_message")).tempId, "a-1", "A's own copy echoes the tempId");
const gotB = await b.next("new_message");
same([gotB._id, gotB.content, gotB.sender._id, gotB.chatId], [sentA.messageId, "Hello from instance one", userA, chatId], "B receives A's message");

// B -> A.
b.socket.emit("send_message", { chatId, content: "Hello back from instance two", tempId: "b-1" });
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
a.socket.emit("send_message", { chatId, content: "Both your tabs get this", tempId: "a-2" });
const sentA2 = await a.next("message_sent");
await a.next("new_message");
same((await b.next("new_message"))._id, sentA2.messageId, "B's polling tab receives");
same((await b2.next("new_message"))._id, sentA2.messageId, "B's upgraded tab receives");
if (onlineEvents(a) > announcedBefore[0] || onlineEvents(b) > announcedBefore[1]) {
  fail("a second tab announced its user again");
}

for (const c of [a, b, b2]) c.socket.disconnect();
console.log(JSON.stringify({ ok: true, messages: [sentA.messageId, sentB.messageId, sentA2.messageId] }));
process.exit(0);
