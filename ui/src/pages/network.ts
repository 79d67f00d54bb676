// The operator page's network section: every city's gateway as the on-chain Directory lists it
// (read in the browser from the chain, with the manifest the user chose), each gateway's health
// and log sizes fetched from the gateway itself (public GETs it allows cross-origin), and each
// log's latest anchored checkpoint read from CheckpointLog, so the lag is the chain's, not a claim.
import { Contract } from "ethers";
import { clear, h } from "../dom";
import { has, t } from "../i18n";
import { sha256, toHex, utf8 } from "../bytes";
import type { RpcChainView } from "../chain";
import { label } from "./common";
import type { TrustPanel } from "./trust";

const DIRECTORY_ABI = [
  "function cities() view returns (uint32[])",
  "function gatewayOfCity(uint32 city) view returns (tuple(bytes32 gatewayOrg, uint32 city, uint64 updatedAt, string url))",
  "error NoGatewayForCity(uint32 city)",
  "error GatewayNotActive(bytes32 orgId)",
];
const LOGS = ["records", "access"] as const;
const TIMEOUT_MS = 4000;

type Anchor = { size: number; block: number; timestamp: number } | null;

export interface CityRow {
  city: number;
  org: string | null; // null: the city's gateway is not active in Membership
  url: string | null;
  health: string; // "ok", or "down"
  sizes: Record<string, number> | null;
  anchored: Record<string, Anchor>;
}

/** A gateway log's id (gateway/domain/records.py log_id). */
export async function logId(gatewayOrg: string, name: string): Promise<string> {
  const org = gatewayOrg.toLowerCase().replace(/^0x/, "");
  return "0x" + toHex(await sha256(utf8(`creditchain/log/v1:${org}:${name}`)));
}

/** The city's name in the current language (GB/T 2260 code), or the bare code. */
export function cityName(code: number): string {
  const k = `city_${code}`;
  return has(k) ? `${t(k)} (${code})` : String(code);
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url, { cache: "no-store", signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return (await r.json()) as Record<string, unknown>;
}

async function readCity(view: RpcChainView, directory: Contract, city: number): Promise<CityRow> {
  const row: CityRow = { city, org: null, url: null, health: "down", sizes: null, anchored: {} };
  let entry;
  try {
    entry = await directory.getFunction("gatewayOfCity").staticCall(city);
  } catch (e) {
    const name = (e as { revert?: { name?: string } }).revert?.name;
    if (name === "GatewayNotActive" || name === "NoGatewayForCity") return row;
    throw e;
  }
  row.org = String(entry.gatewayOrg);
  row.url = String(entry.url);
  for (const l of LOGS) {
    const cp = await view.latest(await logId(row.org, l));
    row.anchored[l] = cp ? { size: cp.size, block: cp.block, timestamp: cp.timestamp } : null;
  }
  const base = row.url.endsWith("/") ? row.url : row.url + "/";
  try {
    const health = await getJson(new URL("v1/health", base).href);
    row.health = health["status"] === "ok" && String(health["gateway"]).toLowerCase() === row.org.toLowerCase() ? "ok" : "down";
    const sizes: Record<string, number> = {};
    for (const l of LOGS) sizes[l] = Number((await getJson(new URL(`v1/logs/${l}/checkpoint`, base).href))["size"]);
    row.sizes = sizes;
  } catch {
    row.health = "down";
  }
  return row;
}

export function networkSection(trust: TrustPanel): { el: HTMLElement; load(): Promise<void>; draw(): void } {
  const out = h("div", { id: "network-out", "aria-live": "polite" });
  const el = h("section", { id: "network", "aria-labelledby": "network-h" }, label("net_h", "h3", { id: "network-h" }), label("net_note", "p", { class: "note" }), out);
  let rows: CityRow[] | null = null;
  let error: string | null = null;
  let noDirectory = false;
  let loads = 0; // completed loads, on #network-out as data-loads (a refresh is done when it grows)

  async function load(): Promise<void> {
    rows = null;
    error = null;
    noDirectory = false;
    const m = trust.manifest();
    const address = m?.contracts["Directory"];
    if (m && !address) noDirectory = true;
    if (!m || !address || !trust.rpc()) {
      draw();
      out.dataset["loads"] = String(++loads);
      return;
    }
    let view: RpcChainView | null = null;
    try {
      view = trust.view();
      await view.check({ Directory: address });
      const directory = new Contract(address, DIRECTORY_ABI, view.provider);
      const cities = ((await directory.getFunction("cities").staticCall()) as bigint[]).map(Number);
      const got: CityRow[] = [];
      for (const c of cities) got.push(await readCity(view, directory, c));
      rows = got;
    } catch (e) {
      error = (e as Error).message;
    } finally {
      view?.provider.destroy();
    }
    draw();
    out.dataset["loads"] = String(++loads);
  }

  function draw(): void {
    clear(out);
    if (noDirectory) {
      out.append(h("p", { class: "note", id: "network-none" }, t("net_no_directory")));
      return;
    }
    if (error) out.append(h("p", { class: "verdict bad" }, t("error", { why: error })));
    if (rows === null) {
      if (!error) out.append(h("p", { class: "note" }, t("op_not_checked")));
      return;
    }
    const now = Date.now() / 1000;
    const head = (["net_city", "net_org", "net_url", "net_health", "net_logs", "net_anchored", "net_lag"] as const).map((k) => label(k, "th", { scope: "col" }));
    const body = h("tbody");
    for (const r of rows) {
      const pair = (f: (l: (typeof LOGS)[number]) => string): string => LOGS.map(f).join(" / ");
      const anchored = pair((l) => {
        const a = r.anchored[l];
        return a ? `${a.size} @ ${a.block} (${t("op_seconds", { n: Math.max(0, Math.round(now - a.timestamp)) })})` : t("op_none");
      });
      const lag = r.sizes ? pair((l) => String(r.sizes![l]! - (r.anchored[l]?.size ?? 0))) : "—";
      const health = r.org === null ? t("net_inactive") : r.health === "ok" ? `✓ ${t("net_up")}` : `✗ ${t("net_down")}`;
      body.append(
        h(
          "tr",
          { "data-city": String(r.city), "data-health": r.org === null ? "inactive" : r.health },
          h("th", { scope: "row" }, cityName(r.city)),
          h("td", { class: "mono small" }, r.org ?? "—"),
          h("td", { class: "mono small" }, r.url ?? "—"),
          h("td", { class: r.health === "ok" ? "pass" : "fail", "data-col": "health" }, health),
          h("td", { "data-col": "sizes" }, r.sizes ? pair((l) => String(r.sizes![l])) : "—"),
          h("td", { "data-col": "anchored" }, anchored),
          h("td", { "data-col": "lag" }, lag),
        ),
      );
    }
    const table = h("table", { class: "checks", id: "network-cities" }, h("thead", {}, h("tr", {}, ...head)), body);
    out.append(h("div", { class: "scroll" }, table));
  }

  return { el, load, draw };
}
