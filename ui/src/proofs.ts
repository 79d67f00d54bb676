// Checking an access decision the gateway listed, in the browser: its access-log entry hashes
// to a leaf that the inclusion proof places under the checkpoint, the checkpoint's root is the
// one anchored on chain (read directly), and the entry itself says this decision.
import { fromHex, leafHash, utf8, verifyInclusion } from "./bytes";
import type { RpcChainView } from "./chain";

export interface Decision {
  log_index: number;
  requester: string;
  record_id: string | null;
  purpose: string;
  decision: string;
  reason: string;
  basis: string | null;
  grant_id: string | null;
  decided_at: number;
  entry: string;
  inclusion: string[] | null;
}

export interface Listing {
  checkpoint: { size: number; root: string; block: number; tx: string } | null;
  log_id: string;
  decisions: Decision[];
}

export interface ProofOutcome {
  ok: boolean | null; // null: not anchored yet
  why: string;
}

export class AccessProofs {
  private roots = new Map<number, string | null>();
  constructor(
    private readonly view: RpcChainView,
    private readonly listing: Listing,
  ) {}

  async check(d: Decision): Promise<ProofOutcome> {
    const cp = this.listing.checkpoint;
    if (cp === null || d.inclusion === null) return { ok: null, why: "not anchored yet" };
    let onChain = this.roots.get(cp.size);
    if (onChain === undefined) {
      onChain = await this.view.checkpointRoot(this.listing.log_id, cp.size);
      this.roots.set(cp.size, onChain);
    }
    if (onChain === null) return { ok: false, why: `no checkpoint of size ${cp.size} is anchored on chain` };
    if (onChain !== cp.root) return { ok: false, why: `the chain's root of size ${cp.size} is ${onChain}, not the gateway's` };
    const leaf = await leafHash(utf8(d.entry));
    if (!(await verifyInclusion(leaf, d.log_index, cp.size, d.inclusion.map(fromHex), fromHex(cp.root))))
      return { ok: false, why: `the proof does not show entry ${d.log_index} under the anchored root` };
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(d.entry) as Record<string, unknown>;
    } catch {
      return { ok: false, why: "the entry is not JSON" };
    }
    if (String(entry["requester"]).toLowerCase() !== d.requester.toLowerCase())
      return { ok: false, why: "the entry names another requester" };
    if (entry["purpose"] !== d.purpose) return { ok: false, why: "the entry states another purpose" };
    const per = (entry["decisions"] as { record?: string; allowed?: boolean }[] | undefined) ?? [];
    if (per.length) {
      const said = per.find((x) => x.record === d.record_id);
      if (!said) return { ok: false, why: "the entry has no decision about this record" };
      if (said.allowed !== (d.decision === "allow")) return { ok: false, why: "the entry says the opposite decision" };
    } else if (entry["decision"] !== d.decision) return { ok: false, why: "the entry says another decision" };
    return { ok: true, why: `entry ${d.log_index} ⊂ checkpoint ${cp.size} anchored at block ${cp.block}` };
  }
}
