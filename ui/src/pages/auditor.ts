// The auditor's page: a keystore unlocked here (never sent), traces by subject, requester,
// record, purpose and time; a paged table with CSV export, each row's inclusion proof checked
// in the page against the chain; charts of accesses over time by requester kind and by
// purpose with denials highlighted; and `audit verify`: every anchored checkpoint read from
// the chain and the consistency between consecutive ones checked here.
import { clear, h } from "../dom";
import { t } from "../i18n";
import { fromHex, verifyConsistency } from "../bytes";
import type { RpcChainView } from "../chain";
import type { Json } from "../json";
import { AccessProofs, type Decision, type Listing, type ProofOutcome } from "../proofs";
import { auditQuery, parseSubject, post, unlockKeystore, type Key } from "../sign";
import { fmtTime, label, readFile, relabel } from "./common";
import { trustPanel } from "./trust";

const PAGE = 20;
const SVG = "http://www.w3.org/2000/svg";
const KIND_COLOURS: Record<string, string> = {
  financial_institution: "#0b5394",
  department: "#38761d",
  credit_office: "#7f6000",
  auditor: "#674ea7",
  utility: "#45818e",
  gateway: "#666666",
};

function svg(tag: string, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? "" : String(v);
  // a leading = + - @ would be a formula in a spreadsheet: quote it as text
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r']/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function mountAuditor(root: HTMLElement): () => void {
  const trust = trustPanel("aud");
  const keystoreFile = h("input", { id: "aud-keystore-file", type: "file", accept: ".json,application/json" }) as HTMLInputElement;
  const password = h("input", { id: "aud-password", type: "password", autocomplete: "off" }) as HTMLInputElement;
  const orgIn = h("input", { id: "aud-org", type: "text", autocomplete: "off", placeholder: "0x…" }) as HTMLInputElement;
  const who = h("p", { id: "aud-who", role: "status", "aria-live": "polite" });
  const f = {
    subject: h("input", { id: "aud-f-subject", type: "text", placeholder: "uscc:…" }) as HTMLInputElement,
    requester: h("input", { id: "aud-f-requester", type: "text", placeholder: "0x…" }) as HTMLInputElement,
    record: h("input", { id: "aud-f-record", type: "text" }) as HTMLInputElement,
    purpose: h("input", { id: "aud-f-purpose", type: "text", placeholder: "loan_approval" }) as HTMLInputElement,
    since: h("input", { id: "aud-f-since", type: "datetime-local" }) as HTMLInputElement,
    until: h("input", { id: "aud-f-until", type: "datetime-local" }) as HTMLInputElement,
    deniedOnly: h("input", { id: "aud-f-denied", type: "checkbox" }) as HTMLInputElement,
  };
  const out = h("div", { id: "aud-out", "aria-live": "polite" });
  const verifyOut = h("div", { id: "aud-verify-out", "aria-live": "polite" });
  let key: Key | null = null;
  let auditor = "";
  let rows: Decision[] = [];
  let listing: Listing | null = null;
  let page = 0;
  const kinds = new Map<string, string>();
  const proofs = new WeakMap<Decision, ProofOutcome>();

  const unlock = label("sign_in", "button", { type: "button", id: "aud-unlock" });
  unlock.addEventListener("click", async () => {
    who.textContent = "…";
    try {
      const ks = await readFile(keystoreFile);
      if (ks === null) throw new Error(t("need_key"));
      if (!/^0x[0-9a-f]{64}$/.test(orgIn.value.trim())) throw new Error(t("need_org"));
      key = await unlockKeystore(ks, password.value);
      auditor = orgIn.value.trim();
      password.value = "";
      who.dataset["signedIn"] = "true";
      who.textContent = t("signed_in_as", { who: auditor, key: key.address });
    } catch (e) {
      key = null;
      who.dataset["signedIn"] = "false";
      who.textContent = t("error", { why: (e as Error).message });
    }
  });

  const traceBtn = label("trace", "button", { type: "submit", id: "aud-trace" });
  const filters = h(
    "form",
    { id: "aud-filters", class: "grid" },
    ...(
      [
        ["subject", "filter_subject"],
        ["requester", "filter_requester"],
        ["record", "filter_record"],
        ["purpose", "filter_purpose"],
        ["since", "filter_since"],
        ["until", "filter_until"],
      ] as const
    ).map(([k, l]) => h("div", {}, h("label", { for: f[k].id, "data-i18n": l }, t(l)), f[k])),
    h("div", { class: "check" }, f.deniedOnly, h("label", { for: f.deniedOnly.id, "data-i18n": "filter_denied" }, t("filter_denied"))),
    traceBtn,
  );
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    void trace();
  });
  const verifyBtn = label("audit_verify", "button", { type: "button", id: "aud-verify", class: "secondary" });
  verifyBtn.addEventListener("click", () => void auditVerify());

  root.append(
    label("auditor_h", "h2", { id: "auditor-h", tabindex: "-1" }),
    label("key_stays", "p", { class: "note" }),
    h(
      "fieldset",
      {},
      h("legend", { "data-i18n": "sign_in_h" }, t("sign_in_h")),
      h("label", { for: keystoreFile.id, "data-i18n": "keystore_file" }, t("keystore_file")),
      keystoreFile,
      h("label", { for: password.id, "data-i18n": "password" }, t("password")),
      password,
      h("label", { for: orgIn.id, "data-i18n": "auditor_org" }, t("auditor_org")),
      orgIn,
      unlock,
      who,
    ),
    trust.el,
    filters,
    out,
    h("h3", { "data-i18n": "audit_verify_h" }, t("audit_verify_h")),
    verifyBtn,
    verifyOut,
  );

  const unix = (v: string): number | null => (v ? Math.floor(new Date(v).getTime() / 1000) : null);

  async function trace(): Promise<void> {
    try {
      if (!key) throw new Error(t("need_sign_in"));
      const m = trust.manifest();
      if (!m) throw new Error(t("need_manifest"));
      const query: Record<string, Json> = {};
      if (f.subject.value.trim()) {
        const s = parseSubject(f.subject.value.trim());
        query["subject"] = { kind: s.kind, id: s.id };
      }
      if (f.requester.value.trim()) query["requester"] = f.requester.value.trim().toLowerCase();
      if (f.record.value.trim()) query["record"] = f.record.value.trim().toLowerCase().replace(/^0x/, "");
      const since = unix(f.since.value);
      const until = unix(f.until.value);
      if (since !== null) query["since"] = since;
      if (until !== null) query["until"] = until;
      const domain = { name: "creditchain", version: "1", chainId: m.trust.chainId, verifyingContract: m.trust.membership };
      listing = (await post("v1/audit/trace", await auditQuery(key, auditor, domain, query))) as unknown as Listing;
      const purpose = f.purpose.value.trim();
      rows = listing.decisions.filter((d) => (!purpose || d.purpose === purpose) && (!f.deniedOnly.checked || d.decision !== "allow"));
      page = 0;
      const view = trust.view();
      try {
        for (const r of new Set(rows.map((d) => d.requester))) if (!kinds.has(r)) kinds.set(r, (await view.orgKind(r)) ?? "unknown");
      } finally {
        view.provider.destroy();
      }
      draw();
    } catch (e) {
      clear(out);
      out.append(h("p", { class: "verdict bad", id: "aud-error" }, t("error", { why: (e as Error).message })));
    }
  }

  function draw(): void {
    clear(out);
    if (!listing) return;
    const denied = rows.filter((d) => d.decision !== "allow").length;
    out.dataset["count"] = String(rows.length);
    out.dataset["denied"] = String(denied);
    out.append(h("p", { id: "aud-summary" }, t("trace_summary", { n: rows.length, denied })));
    out.append(chartOverTime(), chartByPurpose());
    const body = h("tbody");
    const start = page * PAGE;
    for (const d of rows.slice(start, start + PAGE)) {
      const p = proofs.get(d);
      const check = h("button", { type: "button", class: "secondary small-btn" }, t("check_proof"));
      const cell = h("td", { class: "why" }, p ? `${p.ok === null ? "…" : p.ok ? "✓" : "✗"} ${p.why}` : check);
      if (p) cell.dataset["proof"] = p.ok === null ? "pending" : String(p.ok);
      check.addEventListener("click", () => void checkRows([d]));
      body.append(
        h(
          "tr",
          { class: d.decision !== "allow" ? "fail" : "", "data-decision": d.decision, "data-reason": d.reason },
          h("td", {}, fmtTime(d.decided_at)),
          h("td", { class: "mono small" }, d.requester, h("br"), kinds.get(d.requester) ?? ""),
          h("td", { class: "mono small" }, d.record_id ?? "—"),
          h("td", {}, d.purpose),
          h("td", {}, d.decision === "allow" ? `✓ ${t("allowed")}` : `✗ ${t("denied")} (${d.reason})`),
          cell,
        ),
      );
    }
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    const prev = h("button", { type: "button", class: "secondary", id: "aud-prev", ...(page === 0 ? { disabled: true } : {}) }, t("prev"));
    const next = h("button", { type: "button", class: "secondary", id: "aud-next", ...(page >= pages - 1 ? { disabled: true } : {}) }, t("next"));
    prev.addEventListener("click", () => {
      page -= 1;
      draw();
    });
    next.addEventListener("click", () => {
      page += 1;
      draw();
    });
    const csv = h("button", { type: "button", class: "secondary", id: "aud-csv" }, t("export_csv"));
    csv.addEventListener("click", exportCsv);
    const all = h("button", { type: "button", id: "aud-check-page" }, t("check_page_proofs"));
    all.addEventListener("click", () => void checkRows(rows.slice(start, start + PAGE)));
    out.append(
      h(
        "table",
        { class: "checks", id: "aud-table" },
        h("thead", {}, h("tr", {}, ...(["col_time", "col_requester", "col_record", "col_purpose", "col_decision", "col_proof"] as const).map((k) => label(k, "th", { scope: "col" })))),
        body,
      ),
      h("p", { class: "pager" }, prev, h("span", { id: "aud-page" }, ` ${page + 1} / ${pages} `), next, csv, all),
    );
  }

  async function checkRows(which: Decision[]): Promise<void> {
    if (!listing) return;
    try {
      const view: RpcChainView = trust.view();
      const checker = new AccessProofs(view, listing);
      try {
        for (const d of which) proofs.set(d, await checker.check(d));
      } finally {
        view.provider.destroy();
      }
    } catch (e) {
      for (const d of which) proofs.set(d, { ok: false, why: (e as Error).message });
    }
    draw();
  }

  function exportCsv(): void {
    const head = ["log_index", "decided_at", "requester", "requester_kind", "record_id", "purpose", "decision", "reason", "basis", "grant_id"];
    const lines = [head.join(",")];
    for (const d of rows)
      lines.push(
        [d.log_index, fmtTime(d.decided_at), d.requester, kinds.get(d.requester) ?? "", d.record_id, d.purpose, d.decision, d.reason, d.basis, d.grant_id]
          .map(csvCell)
          .join(","),
      );
    const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    const a = h("a", { href: URL.createObjectURL(blob), download: "creditchain-audit-trace.csv", id: "aud-csv-link" });
    document.body.append(a);
    a.click();
    setTimeout(() => {
      URL.revokeObjectURL(a.href);
      a.remove();
    }, 1000);
  }

  function chartOverTime(): HTMLElement {
    // accesses per time bucket, stacked by requester kind; denials as a red bar beside
    const W = 640;
    const H = 160;
    if (!rows.length) return h("div");
    const t0 = Math.min(...rows.map((d) => d.decided_at));
    const t1 = Math.max(...rows.map((d) => d.decided_at)) + 1;
    const n = 24;
    const step = Math.max(1, Math.ceil((t1 - t0) / n));
    const buckets = Array.from({ length: n }, () => ({ kinds: new Map<string, number>(), denied: 0 }));
    for (const d of rows) {
      const b = buckets[Math.min(n - 1, Math.floor((d.decided_at - t0) / step))]!;
      const k = kinds.get(d.requester) ?? "unknown";
      b.kinds.set(k, (b.kinds.get(k) ?? 0) + 1);
      if (d.decision !== "allow") b.denied += 1;
    }
    const max = Math.max(1, ...buckets.map((b) => [...b.kinds.values()].reduce((x, y) => x + y, 0)));
    const bw = (W - 40) / n;
    const g = svg("svg", { viewBox: `0 0 ${W} ${H + 40}`, role: "img", class: "chart", id: "aud-chart-time" });
    g.append(svg("title", {}, t("chart_time")));
    buckets.forEach((b, i) => {
      let y = H;
      for (const [k, c] of b.kinds) {
        const hgt = (c / max) * (H - 10);
        y -= hgt;
        g.append(svg("rect", { x: 30 + i * bw, y, width: bw * 0.6, height: hgt, fill: KIND_COLOURS[k] ?? "#999999" }, svg("title", {}, `${k}: ${c}`)));
      }
      if (b.denied) {
        const hgt = (b.denied / max) * (H - 10);
        g.append(svg("rect", { x: 30 + i * bw + bw * 0.6, y: H - hgt, width: bw * 0.35, height: hgt, fill: "#a50e0e", "data-denied": b.denied }, svg("title", {}, `${t("denied")}: ${b.denied}`)));
      }
    });
    g.append(svg("line", { x1: 30, y1: H, x2: W - 10, y2: H, stroke: "#1a1a1a" }));
    g.append(svg("text", { x: 30, y: H + 16, "font-size": 11, fill: "#1a1a1a" }, fmtTime(t0)));
    g.append(svg("text", { x: W - 10, y: H + 16, "font-size": 11, "text-anchor": "end", fill: "#1a1a1a" }, fmtTime(t1)));
    const legend = h("p", { class: "legend small" }, ...[...new Set(rows.map((d) => kinds.get(d.requester) ?? "unknown"))].map((k) => h("span", { class: `key key-${k}` }, `■ ${k} `)), h("span", { class: "key key-denied" }, `■ ${t("denied")}`));
    return h("figure", {}, h("figcaption", {}, t("chart_time")), g, legend);
  }

  function chartByPurpose(): HTMLElement {
    const by = new Map<string, { allow: number; deny: number }>();
    for (const d of rows) {
      const e = by.get(d.purpose) ?? { allow: 0, deny: 0 };
      if (d.decision === "allow") e.allow += 1;
      else e.deny += 1;
      by.set(d.purpose, e);
    }
    const W = 640;
    const rowH = 22;
    const max = Math.max(1, ...[...by.values()].map((e) => e.allow + e.deny));
    const g = svg("svg", { viewBox: `0 0 ${W} ${by.size * rowH + 10}`, role: "img", class: "chart", id: "aud-chart-purpose" });
    g.append(svg("title", {}, t("chart_purpose")));
    [...by.entries()].forEach(([p, e], i) => {
      const y = 5 + i * rowH;
      const wa = (e.allow / max) * (W - 280);
      const wd = (e.deny / max) * (W - 280);
      g.append(svg("text", { x: 0, y: y + 14, "font-size": 12, fill: "#1a1a1a" }, p));
      g.append(svg("rect", { x: 200, y, width: wa, height: rowH - 6, fill: "#0a6b2b" }, svg("title", {}, `${t("allowed")}: ${e.allow}`)));
      g.append(svg("rect", { x: 200 + wa, y, width: wd, height: rowH - 6, fill: "#a50e0e", "data-denied": e.deny }, svg("title", {}, `${t("denied")}: ${e.deny}`)));
      g.append(svg("text", { x: 205 + wa + wd, y: y + 14, "font-size": 12, fill: "#1a1a1a" }, `${e.allow} / ${e.deny}`));
    });
    return h("figure", {}, h("figcaption", {}, t("chart_purpose")), g);
  }

  async function auditVerify(): Promise<void> {
    clear(verifyOut);
    const list = h("ul", { id: "aud-verify-list" });
    verifyOut.append(list);
    let failures = 0;
    const note = (ok: boolean, text: string) => {
      if (!ok) failures += 1;
      list.append(h("li", { class: ok ? "pass" : "fail", "data-ok": String(ok) }, `${ok ? "✓" : "✗"} ${text}`));
    };
    let view: RpcChainView;
    try {
      view = trust.view();
    } catch (e) {
      note(false, (e as Error).message);
      return;
    }
    try {
      for (const log of ["records", "access"] as const) {
        const head = (await (await fetch(new URL(`v1/logs/${log}/checkpoint`, document.baseURI))).json()) as { log_id: string; size: number; root: string };
        const cps = await view.checkpoints(head.log_id);
        note(true, t("verify_checkpoints", { log, n: cps.length }));
        const chain = [...cps];
        if (!chain.length || chain[chain.length - 1]!.size !== head.size) chain.push({ size: head.size, root: head.root, block: -1, timestamp: 0 });
        for (let i = 1; i < chain.length; i++) {
          const a = chain[i - 1]!;
          const b = chain[i]!;
          const what = b.block < 0 ? t("verify_head", { log, a: a.size, b: b.size }) : t("verify_pair", { log, a: a.size, b: b.size });
          if (b.size === a.size) {
            note(a.root === b.root, what);
            continue;
          }
          const r = await fetch(new URL(`v1/logs/${log}/consistency?first=${a.size}&second=${b.size}`, document.baseURI));
          if (!r.ok) {
            note(false, `${what}: ${r.status}`);
            continue;
          }
          const proof = ((await r.json()) as { proof: string[] }).proof.map(fromHex);
          note(await verifyConsistency(a.size, b.size, fromHex(a.root), fromHex(b.root), proof), what);
        }
      }
    } catch (e) {
      note(false, (e as Error).message);
    } finally {
      view.provider.destroy();
    }
    verifyOut.dataset["result"] = failures ? "fail" : "ok";
    verifyOut.prepend(h("p", { class: failures ? "verdict bad" : "verdict ok", id: "aud-verify-verdict" }, failures ? t("audit_verify_bad", { n: failures }) : t("audit_verify_ok")));
  }

  return () => {
    relabel(root);
    trust.refresh();
    draw();
  };
}
