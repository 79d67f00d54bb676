import "./style.css";
import { $, h } from "./dom";
import { lang, setLang, t, type Key, type Lang } from "./i18n";
import { mountVerify } from "./pages/verify";
import { mountOperator } from "./pages/operator";
import { mountSubject } from "./pages/subject";
import { mountAuditor } from "./pages/auditor";

const PAGES = ["verify", "operator", "subject", "auditor"] as const;
type Page = (typeof PAGES)[number];

const mounted: Partial<Record<Page, () => void>> = {};

function pageFromHash(): Page {
  const p = location.hash.replace(/^#\/?/, "");
  return (PAGES as readonly string[]).includes(p) ? (p as Page) : "verify";
}

function render(): void {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  const nav = $("nav");
  nav.setAttribute("aria-label", t("nav_label"));
  nav.replaceChildren(
    ...PAGES.map((p) =>
      h(
        "a",
        { href: `#${p}`, id: `nav-${p}`, ...(pageFromHash() === p ? { "aria-current": "page" } : {}) },
        t(`nav_${p}` as Key),
      ),
    ),
  );
  const sw = $("lang");
  sw.textContent = t("lang_switch");
  sw.setAttribute("aria-label", t("lang_switch_label"));
  const page = pageFromHash();
  for (const p of PAGES) $(`page-${p}`).hidden = p !== page;
  // each page re-renders its labels in the current language
  for (const p of PAGES) mounted[p]?.();
}

function start(): void {
  const saved = localStorage.getItem("creditchain.lang");
  const initial: Lang = saved === "en" || saved === "zh" ? saved : navigator.language.startsWith("zh") ? "zh" : "en";
  setLang(initial);
  $("lang").addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    localStorage.setItem("creditchain.lang", lang());
    render();
  });
  mounted.verify = mountVerify($("page-verify"));
  mounted.operator = mountOperator($("page-operator"));
  mounted.subject = mountSubject($("page-subject"));
  mounted.auditor = mountAuditor($("page-auditor"));
  window.addEventListener("hashchange", () => {
    render();
    $(`page-${pageFromHash()}`).querySelector("h2")?.focus();
  });
  render();
}

start();
