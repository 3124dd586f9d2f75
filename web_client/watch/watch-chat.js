// Chat and likes over the video. Messages come from the room state (snapshot plus chat events,
// minus chat_deleted), each with its sender's nickname, the host's marked; the host's pinned
// message sits on top. On the first chat the viewer picks a nickname (PUT /api/me, kept by the
// server and sent with each message too). The heart (and a double tap on the video) sends
// "like" messages, a burst of taps summed into one message, and floats hearts up the screen.

import { t, tn } from "../shared/i18n.js";
import { errorText, responseError } from "../shared/errors.js";

const LIKE_BATCH_MS = 250;
const MAX_LIKES_PER_MESSAGE = 50;
const MAX_HEARTS = 24; // on screen at once
const NICK_MAX = 24;

export function createChat({ els, room, conn, api }) {
  const shown = new Map(); // message_id -> li
  const state = { sending: false, note: null, pendingLikes: 0, likeTimer: null,
                  nickname: "", nickLoaded: false, pendingText: "" };

  function mine(message) {
    return Boolean(room.viewerId && message.viewer_id === room.viewerId);
  }

  function who(message) {
    if (message.name && message.name !== "viewer") return message.name;
    if (mine(message)) return state.nickname || t("watch.chat.you");
    if (message.role === "host") return t("watch.host.unknown");
    return t("watch.chat.viewer", { id: String(message.viewer_id || "").slice(-4) });
  }

  function item(message) {
    const li = document.createElement("li");
    li.dataset.messageId = message.message_id;
    if (mine(message)) li.classList.add("mine");
    const parts = [];
    if (message.role === "host") {
      li.classList.add("host");
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = t("watch.chat.host");
      parts.push(role);
    }
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who(message);
    parts.push(name);
    if (mine(message)) {
      const you = document.createElement("span");
      you.className = "you";
      you.textContent = t("watch.chat.you");
      parts.push(you);
    }
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    li.append(...parts, " ", text);
    return li;
  }

  function renderMessages(rebuild = false) {
    const list = els.chatList;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (rebuild) {
      shown.clear();
      list.replaceChildren();
    }
    const keep = new Set(room.chat.map((m) => m.message_id));
    for (const [id, li] of shown) {
      if (!keep.has(id)) {
        li.remove();
        shown.delete(id);
      }
    }
    let added = false;
    let previous = null;
    for (const message of room.chat) {
      let li = shown.get(message.message_id);
      if (!li) {
        li = item(message);
        shown.set(message.message_id, li);
        added = true;
      }
      // Keep the server's order (a snapshot may fill in messages missed during a drop).
      const expected = previous ? previous.nextSibling : list.firstChild;
      if (li !== expected) list.insertBefore(li, expected);
      previous = li;
    }
    els.chatEmpty.hidden = room.chat.length > 0;
    if (added && (nearBottom || rebuild)) list.scrollTop = list.scrollHeight;
    const pinned = room.pinnedMessage;
    els.chatPinned.hidden = !pinned;
    const pinText = pinned ? t("watch.chat.pinned", { text: pinned.text || "" }) : "";
    if (els.chatPinned.textContent !== pinText) els.chatPinned.textContent = pinText;
  }

  function renderForm() {
    const muted = room.muted;
    els.chatInput.disabled = muted;
    els.chatSend.disabled = muted || state.sending;
    const note = muted ? errorText("muted") : state.note ? state.note() : "";
    if (els.chatNote.textContent !== note) els.chatNote.textContent = note;
  }

  function renderLikes() {
    const text = tn("watch.likes.total", room.likes);
    if (els.likes.textContent !== text) els.likes.textContent = text;
  }

  async function loadNickname() {
    if (state.nickLoaded) return;
    try {
      const resp = await api("/api/me");
      if (resp.ok) {
        const me = await resp.json();
        state.nickname = typeof me.nickname === "string" ? me.nickname : "";
        state.nickLoaded = true;
      }
    } catch {
      // Offline: ask for a nickname; the server has the last word when it is back.
    }
  }

  function askNickname(text) {
    state.pendingText = text;
    els.nickInput.value = state.nickname;
    setNickStatus("");
    if (!els.nick.open) els.nick.showModal();
    els.nickInput.focus();
  }

  function setNickStatus(text) {
    els.nickStatus.textContent = text;
    els.nickStatus.dataset.state = text ? "error" : "";
  }

  async function saveNickname() {
    const nickname = els.nickInput.value.trim();
    if (!nickname || [...nickname].length > NICK_MAX) {
      setNickStatus(t("watch.nick.need"));
      els.nickInput.focus();
      return;
    }
    els.nickSave.disabled = true;
    try {
      const resp = await api("/api/me", { method: "PUT", body: { nickname } });
      if (resp.ok) {
        const me = await resp.json();
        state.nickname = me.nickname || nickname;
      } else {
        const err = await responseError(resp);
        // A server without nicknames yet: the chat's own "name" carries it.
        if (err.status !== 404 && err.status !== 405) {
          setNickStatus(errorText(err));
          return;
        }
        state.nickname = nickname;
      }
    } catch (err) {
      setNickStatus(errorText(err));
      return;
    } finally {
      els.nickSave.disabled = false;
    }
    state.nickLoaded = true;
    els.nick.close();
    renderMessages(true);
    if (state.pendingText) send(state.pendingText);
  }

  async function send(text) {
    if (!text || state.sending || room.muted) return;
    if (text.length > 300) {
      state.note = () => errorText("too_long");
      renderForm();
      return;
    }
    await loadNickname();
    if (!state.nickname) {
      askNickname(text);
      return;
    }
    state.pendingText = "";
    state.sending = true;
    state.note = null;
    renderForm();
    try {
      const reply = await conn.request({ type: "chat", text, name: state.nickname }, 6000);
      if (reply.type === "chat_ack") {
        els.chatInput.value = "";
      } else {
        state.note = () => errorText(reply);
      }
    } catch (err) {
      state.note = () => errorText({ code: err.code || "offline" });
    }
    state.sending = false;
    renderForm();
    els.chatInput.focus();
  }

  function flushLikes() {
    state.likeTimer = null;
    const count = Math.min(MAX_LIKES_PER_MESSAGE, state.pendingLikes);
    if (!count) return;
    state.pendingLikes -= count;
    conn.request({ type: "like", count }, 6000).then((reply) => {
      if (reply.type === "like_ack" && typeof reply.total === "number") {
        room.likes = Math.max(room.likes, reply.total);
        renderLikes();
      }
    }, () => {});
    if (state.pendingLikes) state.likeTimer = setTimeout(flushLikes, LIKE_BATCH_MS);
  }

  /** One heart floats up: from the Like button, or from (x, y) on the stage. */
  function heart(x, y) {
    while (els.hearts.childElementCount >= MAX_HEARTS) els.hearts.firstElementChild.remove();
    const span = document.createElement("span");
    span.textContent = "♥";
    if (x !== undefined) {
      span.classList.add("at");
      span.style.left = `${Math.round(x - 14)}px`;
      span.style.top = `${Math.round(y - 20)}px`;
    }
    span.addEventListener("animationend", () => span.remove());
    els.hearts.append(span);
  }

  function like(x, y) {
    state.pendingLikes += 1;
    els.like.classList.remove("pop");
    void els.like.offsetWidth; // restart the little animation
    els.like.classList.add("pop");
    heart(x, y);
    state.likeTimer ??= setTimeout(flushLikes, LIKE_BATCH_MS);
  }

  els.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    send(els.chatInput.value.trim());
  });
  els.nickForm.addEventListener("submit", (event) => {
    event.preventDefault();
    saveNickname();
  });
  els.nickCancel.addEventListener("click", () => els.nick.close());
  els.like.addEventListener("click", () => like());
  // A double tap on the video likes, where the finger is.
  let lastTap = 0;
  els.tapLayer.addEventListener("pointerup", (event) => {
    const now = performance.now();
    if (now - lastTap < 320) {
      const box = els.stage.getBoundingClientRect();
      like(event.clientX - box.left, event.clientY - box.top);
      lastTap = 0;
    } else {
      lastTap = now;
    }
  });

  return {
    render() {
      renderMessages();
      renderForm();
      renderLikes();
    },
    languageChanged() {
      renderMessages(true);
      renderForm();
      renderLikes();
    },
  };
}
