// Chat in the studio: the room's messages as they arrive on the events connection (each
// viewer's nickname, the host's own marked), the host's own posts, a pinned message, and
// moderation: delete, mute and unmute, and the room's blocked words.

import { language, t } from "../shared/i18n.js";
import { api, busy, el, say, syncList, timeOfDay } from "./studio-api.js";

export class ChatPanel {
  constructor(els, { roomId, feed }) {
    this.els = els;
    this.feed = feed;
    this.room = `/api/rooms/${encodeURIComponent(roomId)}`;
    this.mutes = []; // [{viewer_id, name, until}]
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.post();
    });
    els.filterForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveFilter();
    });
  }

  /** The lists the host reads besides the live messages: mutes and blocked words. */
  async load() {
    await Promise.all([this.loadMutes(), this.loadFilter()]);
  }

  async loadMutes() {
    try {
      const body = await api("GET", `${this.room}/mutes`);
      this.mutes = body.mutes || [];
      this.feed.muted = new Set(this.mutes.map((m) => m.viewer_id));
    } catch {
      return; // an older server without the list: mute still works
    }
    this.renderMutes();
    this.render();
  }

  async loadFilter() {
    try {
      const body = await api("GET", `${this.room}/chat/filter`);
      if (document.activeElement !== this.els.filterWords) {
        this.els.filterWords.value = (body.words || []).join("\n");
      }
    } catch {
      // Shown as empty; saving reports what went wrong.
    }
  }

  render() {
    const messages = [...this.feed.chat].reverse(); // newest first
    this.els.empty.hidden = messages.length > 0;
    syncList(this.els.list, messages, {
      key: (m) => m.message_id,
      sig: (m) => [this.feed.muted.has(m.viewer_id), this.isPinned(m), language()].join("|"),
      build: (m) => this.item(m),
    });
    this.renderPinned();
  }

  isPinned(m) {
    const p = this.feed.pinnedMessage;
    return Boolean(p && p.message_id === m.message_id);
  }

  renderPinned() {
    const p = this.feed.pinnedMessage;
    const box = this.els.pinned;
    box.hidden = !p;
    if (!p) return;
    const unpin = el("button", { type: "button" }, t("studio.chat.unpin"));
    unpin.addEventListener("click", () => busy(unpin, this.els.msg, async () => {
      await api("DELETE", `${this.room}/chat/pin`);
      this.feed.apply({ type: "chat_unpinned" });
      say(this.els.msg, "studio.chat.unpinned", {}, "ok");
    }));
    box.replaceChildren(el("span", { className: "badge pinned" }, t("studio.chat.pinnedLabel")),
      el("p", {}, p.text), unpin);
  }

  item(m) {
    const muted = this.feed.muted.has(m.viewer_id);
    const host = m.role === "host";
    const name = m.name || t(host ? "studio.chat.host" : "studio.chat.anonymous");
    const button = (focus, label, text, handler, props = {}) => {
      const b = el("button", { type: "button", dataset: { focus }, "aria-label": label, ...props },
        text);
      b.addEventListener("click", () => busy(b, this.els.msg, handler));
      return b;
    };
    const del = button("delete", t("studio.chat.deleteNamed", { name, text: m.text }),
      t("studio.chat.delete"), async () => {
        await api("DELETE", `${this.room}/chat/${encodeURIComponent(m.message_id)}`);
        this.feed.apply({ type: "chat_deleted", message_id: m.message_id });
        say(this.els.msg, "studio.chat.deleted", {}, "ok");
      });
    const pin = this.isPinned(m) ? null : button("pin",
      t("studio.chat.pinNamed", { name }), t("studio.chat.pin"), async () => {
        const body = await api("PUT", `${this.room}/chat/pin`, { message_id: m.message_id });
        this.feed.pinnedMessage = (body && body.message) || m;
        this.render();
        say(this.els.msg, "studio.chat.pinnedNow", {}, "ok");
      });
    const mute = muted
      ? button("mute", t("studio.chat.unmuteNamed", { name }), t("studio.chat.unmute"),
        () => this.unmute(m.viewer_id, name))
      : button("mute", t("studio.chat.muteNamed", { name }), t("studio.chat.mute"), async () => {
        await api("POST", `${this.room}/mutes`, { viewer_id: m.viewer_id });
        this.feed.apply({ type: "viewer_muted", viewer_id: m.viewer_id });
        say(this.els.msg, "studio.chat.mutedNow", { name }, "ok");
        this.loadMutes();
      });
    return el("li", { dataset: { messageId: m.message_id, viewerId: m.viewer_id || "",
      role: m.role || "viewer" } },
    el("div", { className: "item-main" },
      el("div", {}, el("strong", {}, name), " ",
        host ? el("span", { className: "badge host" }, t("studio.chat.hostBadge")) : null, " ",
        el("span", { className: "muted" }, timeOfDay(m.ts, language())),
        muted ? el("span", { className: "badge bad" }, t("studio.chat.muted")) : null),
      el("p", { className: "chat-text" }, m.text)),
    el("div", { className: "item-actions" }, pin, del, m.viewer_id && !host ? mute : null));
  }

  async unmute(viewerId, name) {
    await api("DELETE", `${this.room}/mutes/${encodeURIComponent(viewerId)}`);
    this.feed.apply({ type: "viewer_unmuted", viewer_id: viewerId });
    this.mutes = this.mutes.filter((x) => x.viewer_id !== viewerId);
    say(this.els.msg, "studio.chat.unmutedNow", { name }, "ok");
    this.renderMutes();
    this.render();
  }

  renderMutes() {
    this.els.mutesEmpty.hidden = this.mutes.length > 0;
    syncList(this.els.mutes, this.mutes, {
      key: (x) => x.viewer_id,
      sig: (x) => [x.name, x.until, language()].join("|"),
      build: (x) => {
        const name = x.name || t("studio.chat.anonymous");
        const b = el("button", { type: "button", dataset: { focus: "unmute" },
          "aria-label": t("studio.chat.unmuteNamed", { name }) }, t("studio.chat.unmute"));
        b.addEventListener("click", () => busy(b, this.els.msg, () => this.unmute(x.viewer_id,
          name)));
        return el("li", { dataset: { viewerId: x.viewer_id } },
          el("div", { className: "item-main" }, el("strong", {}, name),
            x.until ? el("div", { className: "muted" },
              t("studio.chat.mutedUntil", { time: timeOfDay(x.until, language()) })) : null),
          el("div", { className: "item-actions" }, b));
      },
    });
  }

  async post() {
    const text = this.els.text.value.trim();
    if (!text) return;
    await busy(this.els.send, this.els.msg, async () => {
      const message = await api("POST", `${this.room}/chat`, { text });
      this.els.text.value = "";
      if (message && message.message_id) this.feed.apply({ type: "chat", message });
    });
  }

  async saveFilter() {
    const words = this.els.filterWords.value.split(/[\n,，、]+/).map((w) => w.trim())
      .filter(Boolean);
    await busy(this.els.filterSave, this.els.msg, async () => {
      const body = await api("PUT", `${this.room}/chat/filter`, { words });
      this.els.filterWords.value = ((body && body.words) || words).join("\n");
      say(this.els.msg, "studio.chat.filterSaved", { n: words.length }, "ok");
    });
  }
}
