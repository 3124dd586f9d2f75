// Chat and likes. Messages come from the room state (snapshot plus chat events, minus
// chat_deleted); sending is a "chat" message on the data channel. The heart sends "like"
// messages, a burst of presses summed into one message; the total comes from "likes" events.

import { language, t } from "../shared/i18n.js";
import { friendlyError } from "./watch-format.js";

const LIKE_BATCH_MS = 250;
const MAX_LIKES_PER_MESSAGE = 50;

export function createChat({ els, room, conn }) {
  const shown = new Map(); // message_id -> li
  const state = { sending: false, note: null, pendingLikes: 0, likeTimer: null };

  function who(message) {
    if (room.viewerId && message.viewer_id === room.viewerId) return t("watch.chat.you");
    if (message.name && message.name !== "viewer") return message.name;
    return t("watch.chat.viewer", { id: String(message.viewer_id || "").slice(-4) });
  }

  function item(message) {
    const li = document.createElement("li");
    li.dataset.messageId = message.message_id;
    if (room.viewerId && message.viewer_id === room.viewerId) li.classList.add("mine");
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who(message);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    li.append(name, " ", text);
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
    if (added && nearBottom) list.scrollTop = list.scrollHeight;
  }

  function renderForm() {
    const muted = room.muted;
    els.chatInput.disabled = muted;
    els.chatSend.disabled = muted || state.sending;
    const note = muted ? t("watch.chat.muted") : state.note ? state.note() : "";
    if (els.chatNote.textContent !== note) els.chatNote.textContent = note;
  }

  function renderLikes() {
    const n = new Intl.NumberFormat(language()).format(room.likes);
    const text = t("watch.likes.total", { n });
    if (els.likes.textContent !== text) els.likes.textContent = text;
  }

  async function send() {
    const text = els.chatInput.value.trim();
    if (!text || state.sending || room.muted) return;
    if (text.length > 300) {
      state.note = () => friendlyError({ code: "too_long" });
      renderForm();
      return;
    }
    state.sending = true;
    state.note = null;
    renderForm();
    try {
      const reply = await conn.request({ type: "chat", text }, 6000);
      if (reply.type === "chat_ack") {
        els.chatInput.value = "";
      } else {
        state.note = () => friendlyError(reply);
      }
    } catch (err) {
      state.note = () => friendlyError({ code: err.code || "offline" });
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

  els.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  els.like.addEventListener("click", () => {
    state.pendingLikes += 1;
    els.like.classList.remove("pop");
    void els.like.offsetWidth; // restart the little animation
    els.like.classList.add("pop");
    state.likeTimer ??= setTimeout(flushLikes, LIKE_BATCH_MS);
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
