// After the stream: this room's broadcasts (GET /api/sessions), the packaging progress of each
// recording (GET /api/sessions/{id} every 2 s while it is being packaged), and turning a
// finished recording into a class sold at /classes/{class_id}.

import { language, t } from "../shared/i18n.js";
import {
  CURRENCIES, api, busy, clock, el, every, say, syncList, timeOfDay, toMinor,
} from "./studio-api.js";

const POLL_MS = 2000;
const LIST_EVERY = 3; // the whole list every third poll; packaging sessions every poll
const CLASSES_KEY = "stallcast.studioClasses"; // session id -> class id, made in this browser

function madeClasses() {
  try {
    return JSON.parse(localStorage.getItem(CLASSES_KEY) || "{}");
  } catch {
    return {};
  }
}

export class SessionsPanel {
  constructor(els, { roomId }) {
    this.els = els;
    this.roomId = roomId;
    this.sessions = [];
    this.polls = 0;
  }

  start() {
    this.poll = every(POLL_MS, () => this.load());
  }

  /** Look again soon (the host just ended a broadcast). */
  soon() {
    this.polls = 0;
    setTimeout(() => this.poll && this.poll.now(), 300);
  }

  async load() {
    if (this.polls++ % LIST_EVERY === 0) {
      const body = await api("GET", "/api/sessions");
      const mine = (body.sessions || []).filter((s) => s.room_id === this.roomId);
      this.sessions = mine.sort((a, b) => b.started_at - a.started_at);
    } else {
      const busyOnes = this.sessions.filter((s) => s.status === "packaging" || s.status === "live");
      for (const s of busyOnes) {
        const fresh = await api("GET", `/api/sessions/${encodeURIComponent(s.session_id)}`);
        this.sessions = this.sessions.map((x) => (x.session_id === fresh.session_id ? fresh : x));
      }
    }
    this.render();
  }

  render() {
    const classes = madeClasses();
    this.els.empty.hidden = this.sessions.length > 0;
    syncList(this.els.list, this.sessions, {
      key: (s) => s.session_id,
      sig: (s) => [s.status, s.ended_at || "", classes[s.session_id] || "", language()].join("|"),
      build: (s) => this.item(s, classes[s.session_id]),
    });
    for (const s of this.sessions) {
      const node = this.els.list.querySelector(`li[data-key="${CSS.escape(s.session_id)}"]`);
      const bar = node && node.querySelector("progress");
      if (bar) {
        const pct = Math.round((s.progress || 0) * 100);
        bar.value = pct;
        node.querySelector(".progress-text").textContent = t("studio.sessions.progress", { pct });
      }
    }
  }

  item(s, classId) {
    const badge = { live: "bad", packaging: "warn", ready: "ok", failed: "bad" }[s.status] ?? "";
    const lang = language();
    const length = s.ended_at ? clock(s.ended_at - s.started_at) : "";
    const parts = [
      el("div", { className: "item-title" }, s.title, " ",
        el("span", { className: `badge ${badge} session-status` },
          t(`studio.sessions.status.${s.status}`) || s.status)),
      el("div", { className: "muted" }, timeOfDay(s.started_at, lang),
        length ? ` · ${t("studio.sessions.length", { time: length })}` : ""),
    ];
    if (s.status === "packaging") {
      const pct = Math.round((s.progress || 0) * 100);
      parts.push(el("progress", { max: 100, value: pct,
        "aria-label": t("studio.sessions.packaging") }),
      el("div", { className: "progress-text" }, t("studio.sessions.progress", { pct })));
    }
    if (s.status === "failed") {
      parts.push(el("div", { className: "muted" }, t("studio.sessions.failedHelp")));
    }
    const li = el("li", { dataset: { sessionId: s.session_id, status: s.status } },
      el("div", { className: "item-main" }, parts));
    if (classId) {
      li.append(el("div", { className: "item-actions" },
        el("a", { className: "button", href: `/classes/${encodeURIComponent(classId)}` },
          t("studio.sessions.openClass"))));
    } else if (s.status === "packaging" || s.status === "ready") {
      li.append(this.classForm(s));
    }
    return li;
  }

  classForm(s) {
    const id = (name) => `${name}-${s.session_id}`;
    const title = el("input", { id: id("ct"), value: s.title, maxLength: 200, required: true });
    const price = el("input", { id: id("cp"), inputmode: "decimal", required: true,
      value: "9.90" });
    const currency = el("select", { id: id("cc") },
      CURRENCIES.map((c) => el("option", { value: c }, c)));
    const preview = el("input", { id: id("cv"), type: "number", min: 0, max: 3600, step: 1,
      value: 60, required: true });
    const submit = el("button", { type: "submit", className: "primary",
      "aria-label": t("studio.sessions.makeClassNamed", { title: s.title }) },
    t("studio.sessions.makeClass"));
    const field = (labelKey, control) => el("div", { className: "field" },
      el("label", { for: control.id }, t(labelKey)), control);
    const form = el("form", { className: "inline-form" },
      el("fieldset", { className: "inline-form" },
        el("legend", {}, t("studio.sessions.classLegend")),
        field("studio.sessions.classTitle", title), field("studio.sessions.classPrice", price),
        field("studio.products.currency", currency),
        field("studio.sessions.classPreview", preview), submit));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const minor = toMinor(price.value, currency.value);
      if (minor === null) {
        say(this.els.msg, "studio.products.badPrice", { currency: currency.value }, "error");
        price.focus();
        return;
      }
      busy(submit, this.els.msg, async () => {
        const cls = await api("POST", `/api/sessions/${encodeURIComponent(s.session_id)}/class`,
          { title: title.value.trim(), price: minor, currency: currency.value,
            preview_seconds: Number(preview.value) });
        const made = madeClasses();
        made[s.session_id] = cls.class_id;
        localStorage.setItem(CLASSES_KEY, JSON.stringify(made));
        say(this.els.msg, "studio.sessions.classMade", { title: cls.title }, "ok");
        this.render();
      });
    });
    return form;
  }
}
