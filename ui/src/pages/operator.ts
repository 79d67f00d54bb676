// The operator page: health, both logs' sizes, what the gateway says is anchored, and what the
// chain itself holds (read directly: the gateway's claim is checked, not repeated).
import { clear, h } from "../dom";
import { t } from "../i18n";
import { fmtTime, label, relabel } from "./common";
import { trustPanel } from "./trust";
import { networkSection } from "./network";

interface LogView {
  log: string;
  log_id: string;
  size: number;
  root: string;
  anchored: { size: number; root: string; block: number; tx: string } | null;
}

export function mountOperator(root: HTMLElement): () => void {
  const out = h("div", { id: "operator-out", "aria-live": "polite" });
  const trust = trustPanel("op");
  const network = networkSection(trust);
  const refresh = label("operator_refresh", "button", { type: "button", id: "operator-refresh" });
  let data: {
    health: Record<string, unknown>;
    logs: LogView[];
    onchain: Record<string, { size: number; root: string; block: number; timestamp: number } | null> | null;
    rpc: string | null;
    error: string | null;
  } | null = null;

  refresh.addEventListener("click", () => void load());
  root.append(label("operator_h", "h2", { id: "operator-h", tabindex: "-1" }), label("op_note", "p", { class: "note" }), refresh, out, network.el, trust.el);

  async function load(): Promise<void> {
    try {
      const get = async (p: string) => {
        const r = await fetch(new URL(p, document.baseURI), { cache: "no-store" });
        if (!r.ok) throw new Error(`${p}: ${r.status}`);
        return r.json();
      };
      const health = (await get("v1/health")) as Record<string, unknown>;
      const logs = [(await get("v1/logs/records/checkpoint")) as LogView, (await get("v1/logs/access/checkpoint")) as LogView];
      let onchain: Record<string, { size: number; root: string; block: number; timestamp: number } | null> | null = null;
      let error: string | null = null;
      await trust.useOffer();
      const rpc = trust.rpc() || null;
      if (trust.manifest() && rpc) {
        try {
          const view = trust.view();
          try {
            const got: Record<string, { size: number; root: string; block: number; timestamp: number } | null> = {};
            for (const l of logs) got[l.log] = await view.latest(l.log_id);
            onchain = got;
          } finally {
            view.provider.destroy();
          }
        } catch (e) {
          error = (e as Error).message;
        }
      }
      data = { health, logs, onchain, rpc, error };
      await network.load();
    } catch (e) {
      data = { health: {}, logs: [], onchain: null, rpc: null, error: (e as Error).message };
    }
    draw();
  }

  function draw(): void {
    clear(out);
    if (!data) return;
    const hl = data.health;
    out.append(
      h(
        "dl",
        { class: "kv", id: "operator-health" },
        label("op_health", "dt"),
        h("dd", { "data-health": String(hl["status"] ?? "down") }, String(hl["status"] ?? "—")),
        label("op_chain", "dt"),
        h("dd", {}, `chain id ${String(hl["chain_id"] ?? "—")}${data.rpc ? ` · ${data.rpc}` : ""}`),
        label("op_gateway", "dt"),
        h("dd", { class: "mono small" }, String(hl["gateway"] ?? "—")),
        label("op_relays", "dt"),
        h("dd", { id: "operator-relays" }, String(hl["relay_failed"] ?? "—")),
      ),
    );
    if (data.error) out.append(h("p", { class: "verdict bad" }, t("error", { why: data.error })));
    const now = Date.now() / 1000;
    const table = h(
      "table",
      { class: "checks", id: "operator-logs" },
      h(
        "thead",
        {},
        h("tr", {}, ...(["op_log", "op_size", "op_anchored", "op_onchain", "op_lag", "op_age"] as const).map((k) => label(k, "th", { scope: "col" }))),
      ),
    );
    const body = h("tbody");
    for (const l of data.logs) {
      const chain = data.onchain ? data.onchain[l.log] : undefined; // undefined: not read
      const agree = chain !== undefined && (l.anchored === null ? chain === null : chain !== null && chain.size === l.anchored.size && chain.root === l.anchored.root);
      const onchainCell =
        chain === undefined
          ? h("td", { "data-agree": "unknown" }, t("op_not_checked"))
          : h("td", { class: agree ? "pass" : "fail" }, chain ? `${chain.size} @ block ${chain.block} ` : `${t("op_none")} `, agree ? `✓ ${t("op_agree")}` : `✗ ${t("op_disagree")}`);
      body.append(
        h(
          "tr",
          { "data-log": l.log, "data-agree": chain === undefined ? "unknown" : String(agree) },
          h("th", { scope: "row" }, l.log),
          h("td", { "data-size": String(l.size) }, t("op_entries", { n: l.size })),
          h("td", {}, l.anchored ? `${l.anchored.size} @ block ${l.anchored.block}` : t("op_none")),
          onchainCell,
          h("td", { "data-lag": String(l.size - (chain?.size ?? l.anchored?.size ?? 0)) }, t("op_entries", { n: l.size - (chain?.size ?? l.anchored?.size ?? 0) })),
          h("td", {}, chain ? `${t("op_seconds", { n: Math.max(0, Math.round(now - chain.timestamp)) })} (${fmtTime(chain.timestamp)})` : "—"),
        ),
      );
    }
    table.append(body);
    out.append(table);
  }

  let loaded = false;
  return () => {
    relabel(root);
    trust.refresh();
    if (!root.hidden && !loaded) {
      loaded = true;
      void load();
    } else {
      draw();
      network.draw();
    }
  };
}
