// The chat page: one WebSocket, re-opened with backoff when it drops; back in the
// room, it asks for what it missed ("since" the newest message it has), whichever
// server process answers. User content only ever goes through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
let socket = null;
let joined = null;      // {nick, room} once the user has joined
let retryDelay = 500;   // ms, doubled up to 10 s after each failed attempt
let lastId = null;      // the newest message shown: where a reconnection catches up
let shown = new Set();  // ids shown, so no message is shown twice
let unsent = "";        // the last text sent: back in the box if the server refuses it

function setStatus(state, text = state) {
  const status = $("status");
  status.textContent = text;
  status.className = `status ${state}`;
}

function connect() {
  setStatus("connecting");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.onopen = () => {
    setStatus("online");
    retryDelay = 500;
    if (joined) send({type: "join", ...joined, since: lastId ?? 0});
  };
  socket.onmessage = (event) => handle(JSON.parse(event.data));
  socket.onclose = () => {
    setStatus("offline", `offline, retrying in ${retryDelay / 1000} s`);
    showOnline([]);  // unknown until the server welcomes us back
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  };
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify(message));
    return true;
  }
  showError("not connected: retrying");
  return false;
}

function showError(text) {
  $("error").textContent = text;
}

// Message ids grow: 7 (SQLite) or "1700000000000-3" (a Redis Stream), compared by parts.
function olderThan(a, b) {
  const x = String(a).split("-").map(Number);
  const y = String(b).split("-").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const difference = (x[i] ?? 0) - (y[i] ?? 0);
    if (difference) return difference < 0;
  }
  return false;
}

function addLine(build, id = null) {
  const list = $("messages");
  const item = document.createElement("li");
  build(item);
  let next = null;  // in id order: two processes may publish in another order than stored
  if (id !== null) {
    item.dataset.id = String(id);
    for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
      if (node.dataset.id === undefined) continue;
      if (olderThan(node.dataset.id, id)) break;
      next = node;
    }
  }
  list.insertBefore(item, next);
  list.scrollTop = list.scrollHeight;
}

function addMessage(message) {
  if (shown.has(String(message.id))) return;
  shown.add(String(message.id));
  if (lastId === null || olderThan(lastId, message.id)) lastId = message.id;
  addLine((item) => {
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = new Date(message.ts * 1000).toLocaleTimeString();
    const nick = document.createElement("span");
    nick.className = "nick";
    nick.textContent = message.nick;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(time, nick, text);
  }, message.id);
}

function addEvent(text) {
  addLine((item) => {
    item.className = "event";
    item.textContent = text;
  });
}

function showOnline(names) {
  const list = $("online");
  list.replaceChildren(...names.map((name) => {
    const item = document.createElement("li");
    item.textContent = name;
    return item;
  }));
}

function handle(message) {
  switch (message.type) {
    case "welcome":
      remember(message.nick, message.room);
      $("join").hidden = true;
      $("chat").hidden = false;
      $("room-title").textContent = `#${message.room} as ${message.nick}`;
      $("server").textContent = `process ${message.server}`;
      message.history.forEach(addMessage);
      showOnline(message.online);
      showError("");
      break;
    case "message":
      if (message.nick === joined?.nick && message.text === unsent.trim()) unsent = "";
      addMessage(message);
      break;
    case "presence":
      showOnline(message.online);
      if (message.nick !== joined?.nick) {
        addEvent(`${message.nick} ${message.event === "join" ? "joined" : "left"}`);
      }
      break;
    case "error":
      showError(message.error);
      if (unsent && !$("text").value) $("text").value = unsent;
      unsent = "";
      break;
  }
}

// The nickname and room live in the session: a reload (on any worker) rejoins.
function remember(nick, room) {
  fetch("/session", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({nick, room}),
  }).catch(() => {});  // only a convenience: the chat works without it
}

async function rejoin() {
  try {
    const saved = await (await fetch("/session")).json();
    if (saved.nick && saved.room && !joined) {
      $("nick").value = saved.nick;
      $("room").value = saved.room;
      joined = {nick: saved.nick, room: saved.room};
      if (socket && socket.readyState === WebSocket.OPEN) send({type: "join", ...joined});
    }
  } catch (error) {
    // no session to come back to: the form stays
  }
}

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  joined = {nick: $("nick").value.trim(), room: $("room").value.trim()};
  lastId = null;
  shown = new Set();
  $("messages").replaceChildren();
  send({type: "join", ...joined});
});

$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (text.trim() && send({type: "say", text})) {
    unsent = text;
    $("text").value = "";
    showError("");
  }
});

rejoin();
connect();
