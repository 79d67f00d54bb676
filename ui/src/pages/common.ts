import { h } from "../dom";
import { t, has, type Key } from "../i18n";

/** Re-label every element of `root` carrying data-i18n (text) or data-i18n-aria (aria-label). */
export function relabel(root: HTMLElement): void {
  root.querySelectorAll<HTMLElement>("[data-i18n]").forEach((el) => {
    const k = el.dataset["i18n"]!;
    if (has(k)) el.textContent = t(k);
  });
}

export function label(key: Key, tag: "span" | "h2" | "h3" | "p" | "label" | "button" | "th" | "dt" = "span", attrs: Record<string, string> = {}): HTMLElement {
  return h(tag, { "data-i18n": key, ...attrs }, t(key));
}

/** The gateway's offer: its own manifest and chain endpoint, as defaults the user may take. */
export interface Offer {
  gateway: string;
  chain_id: number;
  rpc: string | null;
  manifest: unknown;
}

export async function fetchOffer(): Promise<Offer> {
  const r = await fetch(new URL("ui/offer.json", document.baseURI), { cache: "no-store" });
  if (!r.ok) throw new Error(`the gateway answered ${r.status}`);
  return (await r.json()) as Offer;
}

export async function readFile(input: HTMLInputElement): Promise<string | null> {
  const f = input.files?.[0];
  if (!f) return null;
  return new TextDecoder("utf-8", { fatal: true }).decode(await f.arrayBuffer());
}

export function fmtTime(unix: number): string {
  return new Date(unix * 1000).toISOString().replace(".000Z", "Z");
}
