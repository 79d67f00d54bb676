// The trust a page checks against: a manifest the user chooses (file, paste, or the gateway's
// offer, labelled as such) and a chain endpoint. Used by the subject and auditor pages.
import { h } from "../dom";
import { t } from "../i18n";
import { parseManifest, RpcChainView, type Manifest } from "../chain";
import { fetchOffer, readFile } from "./common";

export interface TrustPanel {
  el: HTMLElement;
  manifest(): Manifest | null;
  rpc(): string;
  view(): RpcChainView;
  refresh(): void;
  /** Take the gateway's offer (labelled as the gateway's) unless the user chose already. */
  useOffer(): Promise<void>;
}

export function trustPanel(prefix: string): TrustPanel {
  const area = h("textarea", { id: `${prefix}-manifest`, rows: "3", spellcheck: "false", autocomplete: "off" }) as HTMLTextAreaElement;
  const file = h("input", { id: `${prefix}-manifest-file`, type: "file", accept: ".json,application/json" }) as HTMLInputElement;
  const rpc = h("input", { id: `${prefix}-rpc`, type: "url", autocomplete: "off", placeholder: "http://127.0.0.1:8545" }) as HTMLInputElement;
  const note = h("p", { class: "note", id: `${prefix}-manifest-source` });
  const line = h("p", { class: "mono small", id: `${prefix}-manifest-trust` });
  let offeredBy: string | null = null;
  const legend = h("legend", { "data-i18n": "manifest_h" }, t("manifest_h"));
  const l1 = h("label", { for: area.id, "data-i18n": "manifest_label" }, t("manifest_label"));
  const l2 = h("label", { for: file.id, "data-i18n": "manifest_file" }, t("manifest_file"));
  const l3 = h("label", { for: rpc.id, "data-i18n": "rpc_label" }, t("rpc_label"));
  const use = h("button", { type: "button", class: "secondary", id: `${prefix}-use-gateway`, "data-i18n": "manifest_use_gateway" }, t("manifest_use_gateway"));
  const manifest = (): Manifest | null => {
    try {
      return parseManifest(JSON.parse(area.value));
    } catch {
      return null;
    }
  };
  const refresh = (): void => {
    note.textContent = offeredBy ? t("manifest_offered_by", { origin: offeredBy }) : "";
    const m = manifest();
    line.textContent = m
      ? t("manifest_chosen", { chain: m.trust.chainId, membership: m.trust.membership, log: m.trust.checkpointLog, status: m.trust.recordStatus ?? "—" })
      : "";
  };
  const useOffer = async (): Promise<void> => {
    try {
      const offer = await fetchOffer();
      area.value = JSON.stringify(offer.manifest, null, 2);
      if (offer.rpc && !rpc.value) rpc.value = offer.rpc;
      offeredBy = location.origin;
    } catch (e) {
      note.textContent = t("error", { why: (e as Error).message });
      return;
    }
    refresh();
  };
  use.addEventListener("click", () => void useOffer());
  area.addEventListener("input", () => {
    offeredBy = null;
    refresh();
  });
  file.addEventListener("change", () =>
    void readFile(file).then((s) => {
      if (s !== null) {
        area.value = s;
        offeredBy = null;
        refresh();
      }
    }),
  );
  const el = h("fieldset", { class: "trust" }, legend, l1, area, l2, file, use, note, line, l3, rpc);
  return {
    el,
    manifest,
    rpc: () => rpc.value,
    view: () => {
      const m = manifest();
      if (!m) throw new Error(t("need_manifest"));
      if (!rpc.value) throw new Error(t("need_rpc"));
      return new RpcChainView(rpc.value, m.trust);
    },
    refresh,
    useOffer: async () => {
      if (!area.value.trim()) await useOffer();
    },
  };
}
