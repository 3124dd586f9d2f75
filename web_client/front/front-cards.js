// A show as a card on the front door and on channel pages: live ones open the watch page,
// upcoming scheduled ones their show page (countdown, remind me, calendar file).
import { language, t } from "../shared/i18n.js";

function locale() {
  const lang = language();
  return lang === "zh" ? "zh-CN" : lang === "ja" ? "ja-JP" : "en";
}

// "Today 19:30", "Tomorrow 08:00" or "Sat 14 Dec 19:30", in the page's language.
export function when(seconds, now = Date.now()) {
  const at = new Date(seconds * 1000);
  const time = new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(at);
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(at) - day(new Date(now))) / 86400000);
  if (days === 0) return t("front.when.today", { time });
  if (days === 1) return t("front.when.tomorrow", { time });
  const date = new Intl.DateTimeFormat(locale(), { weekday: "short", month: "short", day: "numeric" })
    .format(at);
  return t("front.when.later", { date, time });
}

function span(className, children = []) {
  const node = document.createElement("span");
  node.className = className;
  node.append(...children);
  return node;
}

// <li class="show"><a class="show-link"><span class="thumb"><img><span class="initial">
// </span></span><span class="badge live-badge"></span><span class="show-body">title, host,
// meta</span></a></li>
function skeleton() {
  const img = document.createElement("img");
  Object.assign(img, { alt: "", loading: "lazy", decoding: "async", hidden: true });
  const initial = span("initial");
  initial.setAttribute("aria-hidden", "true");
  const link = document.createElement("a");
  link.className = "show-link";
  link.append(span("thumb", [img, initial]), span("badge live-badge"), span("show-body", [
    span("show-title"), span("show-host muted"), span("show-meta")]));
  const node = document.createElement("li");
  node.className = "show";
  node.append(link);
  return node;
}

export function card(show) {
  const node = skeleton();
  const link = node.querySelector(".show-link");
  // Only our own pages: a watch_url is built by the server, but keep to its path.
  const target = !show.live && show.show_url ? show.show_url : show.watch_url;
  link.href = new URL(target, location.href).pathname;
  node.dataset.room = show.room_id;
  if (show.show_id) node.dataset.show = show.show_id;
  const img = node.querySelector("img");
  if (show.thumb) {
    img.src = show.thumb;
    img.hidden = false;
    img.addEventListener("error", () => { img.hidden = true; }, { once: true });
  }
  node.querySelector(".initial").textContent = (show.title || "?").trim().charAt(0).toUpperCase();
  node.querySelector(".live-badge").hidden = !show.live;
  node.querySelector(".live-badge").textContent = t("front.badge.live");
  node.querySelector(".show-title").textContent = show.title;
  node.querySelector(".show-host").textContent = show.host_name
    ? t("front.show.by", { name: show.host_name }) : "";
  const meta = node.querySelector(".show-meta");
  if (show.live) {
    meta.textContent = t("front.show.viewers", { n: show.viewers });
    meta.classList.add("viewers");
  } else if (show.starts_at) {
    const late = show.starts_at * 1000 < Date.now();
    meta.textContent = late ? t("front.show.soon") : when(show.starts_at);
  }
  link.setAttribute("aria-label", show.live
    ? t("front.show.watch_live", { title: show.title, n: show.viewers })
    : t("front.show.upcoming_label", { title: show.title, when: meta.textContent }));
  return node;
}
