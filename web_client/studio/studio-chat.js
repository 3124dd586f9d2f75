// Chat moderation: the room's messages as they arrive on the events connection, and the host's
// two tools, deleting a message and muting its sender.

import { language, t } from "../shared/i18n.js";
import { api, busy, el, say, syncList, timeOfDay } from "./studio-api.js";

export class ChatPanel {
  constructor(els, { roomId, feed }) {
    this.els = els;
    this.feed = feed;
    this.room = `/api/rooms/${encodeURIComponent(roomId)}`;
  }

  render() {
    const messages = [...this.feed.chat].reverse(); // newest first
    this.els.empty.hidden = messages.length > 0;
    syncList(this.els.list, messages, {
      key: (m) => m.message_id,
      sig: (m) => [this.feed.muted.has(m.viewer_id), language()].join("|"),
      build: (m) => this.item(m),
    });
  }

  item(m) {
    const muted = this.feed.muted.has(m.viewer_id);
    const name = m.name || t("studio.chat.anonymous");
    const del = el("button", { type: "button", dataset: { focus: "delete" },
      "aria-label": t("studio.chat.deleteNamed", { name, text: m.text }) },
    t("studio.chat.delete"));
    del.addEventListener("click", () => busy(del, this.els.msg, async () => {
      await api("DELETE", `${this.room}/chat/${encodeURIComponent(m.message_id)}`);
      this.feed.apply({ type: "chat_deleted", message_id: m.message_id });
      say(this.els.msg, "studio.chat.deleted", {}, "ok");
    }));
    const mute = el("button", { type: "button", dataset: { focus: "mute" }, disabled: muted,
      "aria-label": t("studio.chat.muteNamed", { name }) },
    t(muted ? "studio.chat.muted" : "studio.chat.mute"));
    mute.addEventListener("click", () => busy(mute, this.els.msg, async () => {
      await api("POST", `${this.room}/mutes`, { viewer_id: m.viewer_id });
      this.feed.apply({ type: "viewer_muted", viewer_id: m.viewer_id });
      say(this.els.msg, "studio.chat.mutedNow", { name }, "ok");
    }));
    return el("li", { dataset: { messageId: m.message_id, viewerId: m.viewer_id } },
      el("div", { className: "item-main" },
        el("div", {}, el("strong", {}, name), " ",
          el("span", { className: "muted" }, timeOfDay(m.ts, language())),
          muted ? el("span", { className: "badge bad" }, t("studio.chat.muted")) : null),
        el("p", { className: "chat-text" }, m.text)),
      el("div", { className: "item-actions" }, del, m.viewer_id ? mute : null));
  }
}
