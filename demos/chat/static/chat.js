// The chat page: one WebSocket, re-opened with backoff when it drops.
// User content only ever goes through textContent: no HTML injection.
"use strict";

const $ = (id) => document.getElementById(id);
let socket = null;
let joined = null;      // {nick, room} once the user has joined
let retryDelay = 500;   // ms, doubled up to 10 s after each failed attempt
let lastId = 0;         // the newest message shown, so history is not shown twice
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
    if (joined) send({type: "join", ...joined});
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

function addLine(build) {
  const list = $("messages");
  const item = document.createElement("li");
  build(item);
  list.appendChild(item);
  list.scrollTop = list.scrollHeight;
}

function addMessage(message) {
  if (message.id <= lastId) return;
  lastId = message.id;
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
  });
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
      $("join").hidden = true;
      $("chat").hidden = false;
      $("room-title").textContent = `#${message.room} as ${message.nick}`;
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

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  joined = {nick: $("nick").value.trim(), room: $("room").value.trim()};
  lastId = 0;
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

connect();
