// The subject's page: a credit-office session file or the subject's own keystore, unlocked
// here; "who read my file" with each decision's proof checked in the page against the chain;
// "my records" with the status read from RecordStatus; and filing an objection.
import { clear, h } from "../dom";
import { t, has, type Key } from "../i18n";
import { sha256, toHex } from "../bytes";
import { AccessProofs, type Listing } from "../proofs";
import { parseSubject, post, sessionFromFile, subjectQuery, subjectRequest, unlockKeystore, type SubjectAuth } from "../sign";
import { fmtTime, label, readFile, relabel } from "./common";
import { trustPanel } from "./trust";

interface FileRecord {
  record_id: string;
  category: string;
  org: string;
  status: string;
  successor: string | null;
  received_at: number;
}

export function mountSubject(root: HTMLElement): () => void {
  const trust = trustPanel("sub");
  const sessionFile = h("input", { id: "sub-session-file", type: "file", accept: ".json,application/json" }) as HTMLInputElement;
  const keystoreFile = h("input", { id: "sub-keystore-file", type: "file", accept: ".json,application/json" }) as HTMLInputElement;
  const password = h("input", { id: "sub-password", type: "password", autocomplete: "off" }) as HTMLInputElement;
  const subjectIn = h("input", { id: "sub-subject", type: "text", autocomplete: "off", placeholder: "uscc:91610800MA0000001X" }) as HTMLInputElement;
  const who = h("p", { id: "sub-who", role: "status", "aria-live": "polite" });
  const out = h("div", { id: "sub-out", "aria-live": "polite" });
  let auth: SubjectAuth | null = null;

  const unlock = label("sign_in", "button", { type: "button", id: "sub-unlock" });
  unlock.addEventListener("click", async () => {
    who.textContent = "…";
    try {
      const session = await readFile(sessionFile);
      if (session !== null) auth = sessionFromFile(session);
      else {
        const ks = await readFile(keystoreFile);
        if (ks === null) throw new Error(t("need_key"));
        auth = { key: await unlockKeystore(ks, password.value), subject: parseSubject(subjectIn.value.trim()), session: null };
      }
      password.value = "";
      who.dataset["signedIn"] = "true";
      const until = auth.session ? ` · ${t("session_until", { time: fmtTime(Number(auth.session["expires_at"])) })}` : "";
      who.textContent = t("signed_in_as", { who: `${auth.subject.kind}:${auth.subject.id}`, key: auth.key.address }) + until;
    } catch (e) {
      auth = null;
      who.dataset["signedIn"] = "false";
      who.textContent = t("error", { why: (e as Error).message });
    }
  });

  const domain = () => {
    const m = trust.manifest();
    if (!m) throw new Error(t("need_manifest"));
    return { name: "creditchain", version: "1", chainId: m.trust.chainId, verifyingContract: m.trust.membership };
  };

  const accessesBtn = label("who_read", "button", { type: "button", id: "sub-accesses" });
  const recordsBtn = label("my_records", "button", { type: "button", id: "sub-records" });
  accessesBtn.addEventListener("click", () => void showAccesses());
  recordsBtn.addEventListener("click", () => void showRecords());

  root.append(
    label("subject_h", "h2", { id: "subject-h", tabindex: "-1" }),
    label("key_stays", "p", { class: "note" }),
    h(
      "fieldset",
      {},
      h("legend", { "data-i18n": "sign_in_h" }, t("sign_in_h")),
      h("label", { for: sessionFile.id, "data-i18n": "session_file" }, t("session_file")),
      sessionFile,
      label("or_keystore", "p", { class: "note" }),
      h("label", { for: keystoreFile.id, "data-i18n": "keystore_file" }, t("keystore_file")),
      keystoreFile,
      h("label", { for: password.id, "data-i18n": "password" }, t("password")),
      password,
      h("label", { for: subjectIn.id, "data-i18n": "subject_id" }, t("subject_id")),
      subjectIn,
      unlock,
      who,
    ),
    trust.el,
    accessesBtn,
    recordsBtn,
    out,
  );

  function fail(e: unknown): void {
    clear(out);
    out.append(h("p", { class: "verdict bad", id: "sub-error" }, t("error", { why: (e as Error).message })));
  }

  async function showAccesses(): Promise<void> {
    try {
      if (!auth) throw new Error(t("need_sign_in"));
      const view = trust.view();
      const listing = (await post("v1/subjects/accesses", await subjectQuery(auth, domain(), "accesses"))) as unknown as Listing;
      const proofs = new AccessProofs(view, listing);
      clear(out);
      const body = h("tbody");
      out.append(
        label("who_read", "h3"),
        h(
          "table",
          { class: "checks", id: "sub-access-table" },
          h("thead", {}, h("tr", {}, ...(["col_time", "col_requester", "col_purpose", "col_basis", "col_decision", "col_proof"] as const).map((k) => label(k, "th", { scope: "col" })))),
          body,
        ),
      );
      for (const d of [...listing.decisions].reverse()) {
        const proofCell = h("td", { class: "why" }, "…");
        const denied = d.decision !== "allow";
        body.append(
          h(
            "tr",
            { "data-decision": d.decision, "data-log-index": String(d.log_index), class: denied ? "fail" : "" },
            h("td", {}, fmtTime(d.decided_at)),
            h("td", { class: "mono small" }, d.requester),
            h("td", {}, d.purpose),
            h("td", {}, d.basis ?? "—"),
            h("td", {}, denied ? `✗ ${t("denied")} (${d.reason})` : `✓ ${t("allowed")}`),
            proofCell,
          ),
        );
        const p = await proofs.check(d);
        proofCell.dataset["proof"] = p.ok === null ? "pending" : String(p.ok);
        proofCell.textContent = `${p.ok === null ? "…" : p.ok ? "✓" : "✗"} ${p.why}`;
      }
      view.provider.destroy();
      out.dataset["loaded"] = "accesses";
    } catch (e) {
      fail(e);
    }
  }

  async function showRecords(): Promise<void> {
    try {
      if (!auth) throw new Error(t("need_sign_in"));
      const view = trust.view();
      const doc = await post("v1/subjects/records", await subjectQuery(auth, domain(), "records"));
      const records = (doc["records"] as FileRecord[]) ?? [];
      clear(out);
      const body = h("tbody");
      out.append(
        label("my_records", "h3"),
        h(
          "table",
          { class: "checks", id: "sub-record-table" },
          h("thead", {}, h("tr", {}, ...(["col_record", "col_category", "col_status_chain", "col_action"] as const).map((k) => label(k, "th", { scope: "col" })))),
          body,
        ),
      );
      for (const r of records) {
        const chain = await view.recordStatus(r.record_id);
        const objectBtn = h("button", { type: "button", class: "secondary", "data-record": r.record_id }, t("object"));
        objectBtn.addEventListener("click", () => objectionForm(r.record_id));
        body.append(
          h(
            "tr",
            { "data-record": r.record_id, "data-status": chain.status },
            h("td", { class: "mono small" }, r.record_id),
            h("td", {}, r.category),
            h("td", {}, statusLabel(chain.status), chain.status !== r.status ? ` ✗ ${t("gateway_says", { status: r.status })}` : ""),
            h("td", {}, chain.status === "active" ? objectBtn : ""),
          ),
        );
      }
      view.provider.destroy();
      out.dataset["loaded"] = "records";
    } catch (e) {
      fail(e);
    }
  }

  function objectionForm(recordId: string): void {
    const reason = h("textarea", { id: "sub-objection-reason", rows: "3" }) as HTMLTextAreaElement;
    const evidence = h("input", { id: "sub-objection-evidence", type: "file" }) as HTMLInputElement;
    const result = h("p", { id: "sub-objection-result", role: "status", "aria-live": "polite" });
    const send = h("button", { type: "submit", id: "sub-objection-send" }, t("send_objection"));
    const form = h(
      "form",
      { id: "sub-objection" },
      h("h3", {}, t("objection_h"), h("span", { class: "mono small" }, ` ${recordId}`)),
      h("label", { for: reason.id }, t("objection_reason")),
      reason,
      h("label", { for: evidence.id }, t("objection_evidence")),
      evidence,
      send,
      result,
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        if (!auth) throw new Error(t("need_sign_in"));
        const f = evidence.files?.[0];
        const bytes = f ? new Uint8Array(await f.arrayBuffer()) : new Uint8Array();
        const evidenceHash = toHex(await sha256(bytes)); // the evidence stays here: only its hash goes
        const body = await subjectRequest(auth, domain(), recordId, "objection", { reason: reason.value, evidence_hash: evidenceHash });
        const answer = await post(`v1/records/${recordId}/objections`, body);
        result.dataset["ok"] = "true";
        result.textContent = t("objection_filed", { status: String(answer["status"] ?? "objected") });
      } catch (err) {
        result.dataset["ok"] = "false";
        result.textContent = t("error", { why: (err as Error).message });
      }
    });
    out.append(form);
    reason.focus();
  }

  function statusLabel(s: string): string {
    const k = `status.${s}`;
    return has(k) ? t(k as Key) : s;
  }

  return () => {
    relabel(root);
    trust.refresh();
  };
}
