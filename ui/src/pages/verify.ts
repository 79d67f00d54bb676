// The verify page: every check in the browser, against the chain the user chose.
import { clear, h } from "../dom";
import { t, has, type Key } from "../i18n";
import { JsonError, parseStrict } from "../json";
import { ManifestError, parseManifest, RpcChainView, type Manifest } from "../chain";
import { ChainQueryFailed, CHECKS, parseBundle, verifyBundle, VerificationError, type CheckName, type Result, type Row } from "../verify";
import { fetchOffer, fmtTime, label, readFile, relabel } from "./common";

type Verdict =
  | { kind: "valid"; result: Result }
  | { kind: "invalid"; check: CheckName; detail: string }
  | { kind: "none"; why: string }
  | { kind: "running" };

export function mountVerify(root: HTMLElement): () => void {
  const bundleArea = h("textarea", { id: "bundle", rows: "8", spellcheck: "false", autocomplete: "off" }) as HTMLTextAreaElement;
  const bundleFile = h("input", { id: "bundle-file", type: "file", accept: ".json,application/json" }) as HTMLInputElement;
  const manifestArea = h("textarea", { id: "manifest", rows: "5", spellcheck: "false", autocomplete: "off" }) as HTMLTextAreaElement;
  const manifestFile = h("input", { id: "manifest-file", type: "file", accept: ".json,application/json" }) as HTMLInputElement;
  const rpc = h("input", { id: "rpc", type: "url", inputmode: "url", autocomplete: "off", placeholder: "http://127.0.0.1:8545" }) as HTMLInputElement;
  const offerNote = h("p", { id: "manifest-source", class: "note", "aria-live": "polite" });
  const trustLine = h("p", { id: "manifest-trust", class: "mono small" });
  const verdict = h("div", { id: "verdict", role: "status", "aria-live": "polite" });
  const rowsBody = h("tbody", { id: "checks" });
  const statusBox = h("div", { id: "status" });
  let offeredBy: string | null = null;
  let rows: Row[] = [];
  let state: Verdict | null = null;
  let runs = 0; // data-run on the verdict: how many verdicts were reached (tests wait on it)

  const drop = h(
    "div",
    { class: "drop", id: "bundle-drop" },
    label("bundle_drop", "p"),
    h("label", { for: "bundle", "data-i18n": "bundle_label" }, t("bundle_label")),
    bundleArea,
    h("label", { for: "bundle-file", "data-i18n": "bundle_file" }, t("bundle_file")),
    bundleFile,
  );
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = (e as DragEvent).dataTransfer?.files?.[0];
    if (f)
      void f.arrayBuffer().then((b) => {
        try {
          bundleArea.value = new TextDecoder("utf-8", { fatal: true }).decode(b);
        } catch {
          bundleArea.value = "(not UTF-8)";
        }
      });
  });
  bundleFile.addEventListener("change", () => void readFile(bundleFile).then((s) => s !== null && (bundleArea.value = s)));
  manifestFile.addEventListener("change", () =>
    void readFile(manifestFile).then((s) => {
      if (s === null) return;
      manifestArea.value = s;
      offeredBy = null;
      showTrust();
    }),
  );
  manifestArea.addEventListener("input", () => {
    offeredBy = null;
    showTrust();
  });

  const useGateway = label("manifest_use_gateway", "button", { type: "button", id: "use-gateway-manifest", class: "secondary" });
  useGateway.addEventListener("click", async () => {
    try {
      const offer = await fetchOffer();
      manifestArea.value = JSON.stringify(offer.manifest, null, 2);
      if (offer.rpc && !rpc.value) rpc.value = offer.rpc;
      offeredBy = location.origin;
    } catch (e) {
      offeredBy = null;
      offerNote.textContent = t("error", { why: (e as Error).message });
      return;
    }
    showTrust();
  });

  function manifest(): Manifest | null {
    try {
      return parseManifest(JSON.parse(manifestArea.value));
    } catch {
      return null;
    }
  }

  function showTrust(): void {
    offerNote.textContent = offeredBy ? t("manifest_offered_by", { origin: offeredBy }) : "";
    const m = manifest();
    trustLine.textContent = m
      ? t("manifest_chosen", { chain: m.trust.chainId, membership: m.trust.membership, log: m.trust.checkpointLog, status: m.trust.recordStatus ?? "—" })
      : "";
  }

  const button = label("verify_button", "button", { type: "submit", id: "verify-button" });
  const form = h(
    "form",
    { id: "verify-form", novalidate: true },
    drop,
    h(
      "fieldset",
      {},
      h("legend", { "data-i18n": "manifest_h" }, t("manifest_h")),
      h("label", { for: "manifest", "data-i18n": "manifest_label" }, t("manifest_label")),
      manifestArea,
      h("label", { for: "manifest-file", "data-i18n": "manifest_file" }, t("manifest_file")),
      manifestFile,
      useGateway,
      offerNote,
      trustLine,
      h("label", { for: "rpc", "data-i18n": "rpc_label" }, t("rpc_label")),
      rpc,
    ),
    button,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void run();
  });

  root.append(
    label("verify_h", "h2", { id: "verify-h", tabindex: "-1" }),
    label("trust_note", "p", { class: "note" }),
    form,
    verdict,
    h(
      "table",
      { class: "checks" },
      h("thead", {}, h("tr", {}, label("col_check", "th", { scope: "col" }), label("col_result", "th", { scope: "col" }), label("col_why", "th", { scope: "col" }))),
      rowsBody,
    ),
    statusBox,
  );

  async function run(): Promise<void> {
    rows = [];
    state = { kind: "running" };
    draw();
    try {
      state = await decide();
    } catch (e) {
      state = { kind: "none", why: (e as Error).message };
    }
    runs += 1;
    draw();
  }

  async function decide(): Promise<Verdict> {
    // 1. the bundle: refused as malformed before anything is asked of the chain (as the CLI)
    let doc;
    try {
      doc = parseStrict(bundleArea.value);
      await parseBundle(doc);
    } catch (e) {
      if (e instanceof JsonError) return invalidAt("malformed", `not JSON: ${e.message}`);
      if (e instanceof VerificationError) return invalidAt(e.check, e.detail);
      throw e;
    }
    // 2. the trusted manifest and the chain it names
    let m: Manifest;
    try {
      m = parseManifest(JSON.parse(manifestArea.value));
    } catch (e) {
      return { kind: "none", why: e instanceof ManifestError ? e.message : `manifest: ${(e as Error).message}` };
    }
    if (!rpc.value) return { kind: "none", why: "no chain endpoint" };
    const view = new RpcChainView(rpc.value, m.trust);
    try {
      await view.check(m.contracts);
      const result = await verifyBundle(doc, view, m.trust, (r) => rows.push(r));
      return { kind: "valid", result };
    } catch (e) {
      if (e instanceof VerificationError) return { kind: "invalid", check: e.check, detail: e.detail };
      if (e instanceof ChainQueryFailed) return { kind: "none", why: e.message };
      return { kind: "none", why: (e as Error).message };
    } finally {
      view.provider.destroy();
    }
  }

  function invalidAt(check: CheckName, detail: string): Verdict {
    rows.push({ check, outcome: "fail", detail });
    return { kind: "invalid", check, detail };
  }

  function draw(): void {
    clear(verdict);
    clear(rowsBody);
    clear(statusBox);
    if (state === null) return;
    verdict.dataset["verdict"] = state.kind;
    verdict.dataset["run"] = String(runs);
    delete verdict.dataset["check"];
    if (state.kind === "running") {
      verdict.className = "verdict running";
      verdict.textContent = t("verifying");
      return;
    }
    if (state.kind === "valid") {
      verdict.className = "verdict ok";
      verdict.textContent = t("verdict_valid");
    } else if (state.kind === "invalid") {
      verdict.className = "verdict bad";
      verdict.dataset["check"] = state.check;
      verdict.textContent = t("verdict_invalid", { check: `${checkLabel(state.check)} (${state.check})` });
    } else {
      verdict.className = "verdict none";
      verdict.textContent = t("verdict_none", { why: state.why });
    }
    const shown = new Set(rows.map((r) => r.check));
    const all: Row[] = [...rows];
    for (const c of CHECKS) if (!shown.has(c) && state.kind !== "valid") all.push({ check: c, outcome: "not-run", detail: "" });
    for (const r of all) {
      const mark = { pass: t("pass"), fail: t("fail"), skip: t("skip"), "not-run": t("not_run") }[r.outcome];
      rowsBody.append(
        h(
          "tr",
          { "data-check": r.check, "data-outcome": r.outcome, class: r.outcome },
          h("th", { scope: "row" }, checkLabel(r.check), h("span", { class: "mono small" }, ` ${r.check}`)),
          h("td", {}, mark),
          h("td", { class: "why" }, r.detail),
        ),
      );
    }
    if (state.kind === "valid") {
      const r = state.result;
      const parts: (string | Node)[] = [h("strong", { id: "record-status", "data-status": r.status }, statusLabel(r.status))];
      if (r.successor) parts.push(" — ", t("status_successor", { id: r.successor }));
      if (r.statusUpdatedAt !== null) parts.push(" (", t("status_since", { time: fmtTime(r.statusUpdatedAt) }), ")");
      if (r.statusActor) parts.push(", ", t("status_actor", { org: r.statusActor }));
      statusBox.append(label("status_h", "h3"), h("p", {}, ...parts), h("p", { class: "mono small" }, `record ${r.recordId}`));
    }
  }

  function checkLabel(c: CheckName): string {
    const k = `check.${c}`;
    return has(k) ? t(k as Key) : c;
  }
  function statusLabel(s: string): string {
    const k = `status.${s}`;
    return has(k) ? t(k as Key) : s;
  }

  return () => {
    relabel(root);
    showTrust();
    draw();
  };
}
