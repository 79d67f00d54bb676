// Proof-bundle verification in the browser (docs/formats.md §7–8), check for check the same as
// gateway/verify/_checks.py: the same names, the same order, stopping at the first failure.
// Trusted: only the manifest the user chose (chain id, Membership, CheckpointLog, RecordStatus)
// and the chain endpoint the user chose. Everything in the bundle is data to be checked.

import { getAddress, recoverAddress, TypedDataEncoder, Signature } from "ethers";
import { concat, equal, fromHex, leafHash, sha256, toHex, utf8, verifyInclusion } from "./bytes";
import { canonicalize, CanonicalError, isObject, JsonFloat, type Json, type JsonObject } from "./json";

export const CHECKS = [
  "trust-root",
  "record-commitment",
  "department-signature",
  "leaf-hash",
  "inclusion",
  "checkpoint-on-chain",
  "receipt-signature",
  "status",
] as const;
export type CheckName = (typeof CHECKS)[number] | "malformed";

export const STATUS_SOURCE = "RecordStatus contract";
export const RECORD_STATUSES = ["active", "objected", "corrected", "repaired", "withdrawn", "erased"];
const UINT64_MAX = 2n ** 64n - 1n;
const UINT32_MAX = 2 ** 32 - 1;
const SAFE = Number.MAX_SAFE_INTEGER;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

export class VerificationError extends Error {
  passed: CheckName[] = [];
  constructor(
    readonly check: CheckName,
    readonly detail: string,
  ) {
    super(`${check}: ${detail}`);
  }
}
export class Malformed extends VerificationError {
  constructor(detail: string) {
    super("malformed", detail);
  }
}
/** The chain could not answer: no verdict. */
export class ChainQueryFailed extends Error {}

export interface TrustRoot {
  chainId: number;
  membership: string; // EIP-55
  checkpointLog: string;
  recordStatus: string | null;
}

export interface Lifecycle {
  status: string;
  successor: string | null; // hex, no 0x
  origin: string | null; // 0x-hex
  actor: string | null;
  updatedAt: number;
  version: number;
}

export interface ChainView {
  keysAt(org: string, timestamp: number): Promise<string | null>;
  checkpointRoot(logId: string, size: number): Promise<string | null>; // hex, no 0x
  anchor(logId: string, size: number): Promise<{ block: number; tx: string } | null>;
  recordStatus(recordId: string): Promise<Lifecycle>;
}

// ---------------------------------------------------------------------------------------
// Parsing (gateway/domain/records.py parse_leaf_entry/parse_receipt, _checks.parse_bundle)

type Ptr = string;
const HEX = /^[0-9a-f]*$/;

function members(v: Json | undefined, where: Ptr, names: string[], optional: string[] = []): JsonObject {
  if (!isObject(v)) throw new Malformed(`${where || "(root)"} must be a JSON object`);
  const keys = Object.keys(v);
  const missing = names.filter((n) => !keys.includes(n)).sort();
  const extra = keys.filter((k) => !names.includes(k) && !optional.includes(k)).sort();
  if (missing.length || extra.length)
    throw new Malformed(`${where || "(root)"}: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}`);
  return v;
}

function uint(v: Json | undefined, where: Ptr, max: number = SAFE): number {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new Malformed(`${where} must be an integer`);
  if (v < 0 || v > Math.min(max, SAFE)) throw new Malformed(`${where} must be between 0 and ${Math.min(max, SAFE)}`);
  return v === 0 ? 0 : v; // -0 is 0
}

function hex(v: Json | undefined, where: Ptr, size: number | null, prefixed: boolean): string {
  if (typeof v !== "string") throw new Malformed(`${where}: must be a hex string`);
  let t = v;
  if (prefixed) {
    if (!t.startsWith("0x")) throw new Malformed(`${where}: must start with 0x`);
    t = t.slice(2);
  } else if (t.startsWith("0x")) throw new Malformed(`${where}: must be hex without a 0x prefix`);
  if (!HEX.test(t) || t.length % 2) throw new Malformed(`${where}: must be an even number of lowercase hex digits`);
  if (size !== null && t.length !== 2 * size)
    throw new Malformed(`${where}: must encode exactly ${size} bytes, got ${t.length / 2}`);
  return t;
}

function text(v: Json | undefined, where: Ptr): string {
  if (typeof v !== "string" || !v) throw new Malformed(`${where}: must be a non-empty string`);
  return v;
}

function object(v: Json | undefined, where: Ptr, required: string[], optional: string[] = []): JsonObject {
  if (!isObject(v)) throw new Malformed(`${where}: must be a JSON object`);
  for (const k of Object.keys(v))
    if (!required.includes(k) && !optional.includes(k)) throw new Malformed(`${where}/${k}: unexpected member`);
  for (const k of required) if (!(k in v)) throw new Malformed(`${where}/${k}: required member is missing`);
  return v;
}

interface Batch {
  root: string;
  count: number;
  index: number;
  path: string[];
}
interface DeptSig {
  type: "CreditRecord" | "CreditRecordBatch";
  signedAt: number;
  nonce: string;
  value: string;
  batch: Batch | null;
}
export interface Leaf {
  v: number;
  org: string; // 0x-hex
  category: string;
  subject: string;
  commitment: string;
  sig: DeptSig;
  receivedAt: number;
}
export interface Receipt {
  logId: string;
  index: number;
  leafHash: string;
  receivedAt: number;
  anchorBy: number;
  gateway: string;
  signature: string;
}
export interface Bundle {
  record: JsonObject | null;
  recordJcs: Uint8Array | null;
  salt: string | null;
  leaf: Leaf;
  leafJcs: Uint8Array;
  receipt: Receipt;
  log: { id: string; index: number; inclusion: string[]; size: number; root: string };
  chain: { chainId: number; checkpointLog: string; membership: string; anchorTx: string; anchorBlock: number };
  statusSource: string;
  recordId: string;
}

function parseLeaf(obj: Json | undefined): Leaf {
  const version = isObject(obj) ? obj["v"] : undefined;
  const subjectMember = typeof version === "number" && version === 1 ? "subject" : "subject_tag";
  const p = "/leaf";
  const doc = object(obj, p, ["v", "kind", "org", "category", subjectMember, "commitment", "sig", "received_at"]);
  if (typeof doc["v"] !== "number" || (doc["v"] !== 1 && doc["v"] !== 2))
    throw new Malformed(`${p}/v: unsupported leaf entry version (expected (1, 2))`);
  if (doc["kind"] !== "record") throw new Malformed(`${p}/kind: must be 'record'`);
  const org = hex(doc["org"], `${p}/org`, 32, true);
  const category = text(doc["category"], `${p}/category`);
  const subject = hex(doc[subjectMember], `${p}/${subjectMember}`, 32, false);
  const commitment = hex(doc["commitment"], `${p}/commitment`, 32, false);
  const sp = `${p}/sig`;
  const s = object(doc["sig"], sp, ["scheme", "type", "signed_at", "nonce", "value"], ["batch"]);
  if (s["scheme"] !== "eip712-v1") throw new Malformed(`${sp}/scheme: must be 'eip712-v1'`);
  const type = s["type"];
  if (type !== "CreditRecord" && type !== "CreditRecordBatch")
    throw new Malformed(`${sp}/type: must be 'CreditRecord' or 'CreditRecordBatch'`);
  const signedAt = uint(s["signed_at"], `${sp}/signed_at`);
  const nonce = hex(s["nonce"], `${sp}/nonce`, 32, true);
  const value = hex(s["value"], `${sp}/value`, null, true);
  let batch: Batch | null = null;
  if (type === "CreditRecordBatch") {
    if (!("batch" in s)) throw new Malformed(`${sp}/batch: required for CreditRecordBatch`);
    const bp = `${sp}/batch`;
    const b = object(s["batch"], bp, ["root", "count", "index", "path"]);
    const root = hex(b["root"], `${bp}/root`, 32, false);
    const count = uint(b["count"], `${bp}/count`, UINT32_MAX);
    if (count < 1) throw new Malformed(`${bp}/count: must be at least 1`);
    const index = uint(b["index"], `${bp}/index`, UINT32_MAX);
    if (index >= count) throw new Malformed(`${bp}/index: must be less than count`);
    const raw = b["path"];
    if (!Array.isArray(raw) || raw.length > 64) throw new Malformed(`${bp}/path: must be an array of at most 64 hashes`);
    batch = { root, count, index, path: raw.map((x, k) => hex(x, `${bp}/path/${k}`, 32, false)) };
  } else if ("batch" in s) throw new Malformed(`${sp}/batch: only allowed for CreditRecordBatch`);
  const receivedAt = uint(doc["received_at"], `${p}/received_at`);
  return { v: doc["v"], org: "0x" + org, category, subject, commitment, sig: { type, signedAt, nonce, value, batch }, receivedAt };
}

function parseReceipt(obj: Json | undefined): Receipt {
  const p = "/receipt";
  const d = object(obj, p, ["log_id", "index", "leaf_hash", "received_at", "anchor_by", "gateway", "signature"]);
  return {
    logId: hex(d["log_id"], `${p}/log_id`, 32, true),
    index: uint(d["index"], `${p}/index`),
    leafHash: hex(d["leaf_hash"], `${p}/leaf_hash`, 32, false),
    receivedAt: uint(d["received_at"], `${p}/received_at`),
    anchorBy: uint(d["anchor_by"], `${p}/anchor_by`),
    gateway: hex(d["gateway"], `${p}/gateway`, 32, true),
    signature: hex(d["signature"], `${p}/signature`, null, true),
  };
}

function address(v: Json | undefined, where: Ptr): string {
  if (typeof v !== "string" || v.length !== 42 || !v.startsWith("0x") || !/^[0-9a-fA-F]{40}$/.test(v.slice(2)))
    throw new Malformed(`${where} must be a 20-byte 0x-hex address`);
  return v;
}

export async function parseBundle(obj: Json): Promise<Bundle> {
  const doc = members(obj, "", ["v", "leaf", "receipt", "log", "chain", "status"], ["record", "salt"]);
  if (typeof doc["v"] !== "number" || doc["v"] !== 1) throw new Malformed("/v: unsupported bundle version (expected 1)");
  if ("record" in doc !== "salt" in doc) throw new Malformed("/record and /salt go together (both, or neither)");
  let record: JsonObject | null = null;
  let recordJcs: Uint8Array | null = null;
  let salt: string | null = null;
  let leafJcs: Uint8Array;
  try {
    if ("record" in doc) {
      const r = doc["record"];
      if (!isObject(r)) throw new Malformed("/record must be a JSON object");
      if (typeof r["org"] !== "string" || typeof r["category"] !== "string")
        throw new Malformed("/record must have string members 'org' and 'category'");
      record = r;
      recordJcs = canonicalize(r);
      salt = hex(doc["salt"], "/salt", 32, false);
    }
    leafJcs = canonicalize(doc["leaf"] as Json);
  } catch (e) {
    if (e instanceof CanonicalError) throw new Malformed(e.message);
    throw e;
  }
  const leaf = parseLeaf(doc["leaf"]);
  const receipt = parseReceipt(doc["receipt"]);
  const log = members(doc["log"], "/log", ["id", "index", "inclusion", "checkpoint"]);
  const cp = members(log["checkpoint"], "/log/checkpoint", ["size", "root"]);
  const inc = log["inclusion"];
  if (!Array.isArray(inc) || inc.length > 64) throw new Malformed("/log/inclusion must be an array of at most 64 hashes");
  const logProof = {
    id: hex(log["id"], "/log/id", 32, true),
    index: uint(log["index"], "/log/index"),
    inclusion: inc.map((h, k) => hex(h, `/log/inclusion/${k}`, 32, false)),
    size: uint(cp["size"], "/log/checkpoint/size"),
    root: hex(cp["root"], "/log/checkpoint/root", 32, false),
  };
  const ch = members(doc["chain"], "/chain", ["chain_id", "checkpoint_log", "membership", "anchor_tx", "anchor_block"]);
  const chain = {
    chainId: uint(ch["chain_id"], "/chain/chain_id"),
    checkpointLog: address(ch["checkpoint_log"], "/chain/checkpoint_log"),
    membership: address(ch["membership"], "/chain/membership"),
    anchorTx: hex(ch["anchor_tx"], "/chain/anchor_tx", 32, true),
    anchorBlock: uint(ch["anchor_block"], "/chain/anchor_block"),
  };
  const st = members(doc["status"], "/status", ["source", "record_id"]);
  if (typeof st["source"] !== "string") throw new Malformed("/status/source must be a string");
  return {
    record,
    recordJcs,
    salt,
    leaf,
    leafJcs: leafJcs!,
    receipt,
    log: logProof,
    chain,
    statusSource: st["source"],
    recordId: hex(st["record_id"], "/status/record_id", 32, false),
  };
}

// ---------------------------------------------------------------------------------------
// EIP-712 (gateway/domain/signing.py; docs/formats.md §3)

export const TYPES: Record<string, { name: string; type: string }[]> = {
  CreditRecord: [
    { name: "org", type: "bytes32" },
    { name: "category", type: "string" },
    { name: "commitment", type: "bytes32" },
    { name: "signedAt", type: "uint64" },
    { name: "nonce", type: "bytes32" },
  ],
  CreditRecordBatch: [
    { name: "org", type: "bytes32" },
    { name: "root", type: "bytes32" },
    { name: "count", type: "uint32" },
    { name: "signedAt", type: "uint64" },
    { name: "nonce", type: "bytes32" },
  ],
  Receipt: [
    { name: "logId", type: "bytes32" },
    { name: "index", type: "uint64" },
    { name: "leafHash", type: "bytes32" },
    { name: "receivedAt", type: "uint64" },
    { name: "anchorBy", type: "uint64" },
  ],
};

export class BadSignature extends Error {}

/** The one accepted encoding: 65 bytes r‖s‖v, v ∈ {27, 28}, 0 < r < n, 0 < s ≤ n/2 (EIP-2). */
export function checkSignatureEncoding(sigHex: string): void {
  if (sigHex.length !== 130) throw new BadSignature(`signature must be 65 bytes, got ${sigHex.length / 2}`);
  const r = BigInt("0x" + sigHex.slice(0, 64));
  const s = BigInt("0x" + sigHex.slice(64, 128));
  const v = parseInt(sigHex.slice(128), 16);
  if (v !== 27 && v !== 28) throw new BadSignature(`signature v must be 27 or 28, got ${v}`);
  if (!(r > 0n && r < N)) throw new BadSignature("signature r is out of range");
  if (!(s > 0n && s <= N / 2n)) throw new BadSignature("signature s is not in the lower half of the curve order (EIP-2)");
}

export function recoverTyped(
  domain: { name: string; version: string; chainId: number; verifyingContract: string },
  type: string,
  message: Record<string, unknown>,
  sigHex: string,
): string {
  checkSignatureEncoding(sigHex);
  const digest = TypedDataEncoder.hash(domain, { [type]: TYPES[type]! }, message);
  try {
    return getAddress(recoverAddress(digest, Signature.from("0x" + sigHex)));
  } catch (e) {
    throw new BadSignature(`signature does not recover to a public key: ${(e as Error).message}`);
  }
}

export async function logIdOf(gatewayOrgHex0x: string, name: "records" | "access"): Promise<string> {
  return toHex(await sha256(utf8(`creditchain/log/v1:${gatewayOrgHex0x.slice(2)}:${name}`)));
}

// ---------------------------------------------------------------------------------------
// The checks

export interface Result {
  valid: true;
  recordId: string;
  status: string;
  successor: string | null;
  statusUpdatedAt: number | null;
  statusActor: string | null;
  checks: CheckName[];
  skipped: CheckName[];
  recordIncluded: boolean;
  org: string;
  category: string;
  departmentSigner: string;
  gateway: string;
  gatewaySigner: string;
  index: number;
  checkpointSize: number;
  anchorBlock: number;
}

/** What a page shows per check: passed, failed (with why), skipped or not run. */
export interface Row {
  check: CheckName;
  outcome: "pass" | "fail" | "skip" | "not-run";
  detail: string;
}

export async function verifyBundle(obj: Json, chain: ChainView, trusted: TrustRoot, onRow?: (row: Row) => void): Promise<Result> {
  const b = await parseBundle(obj);
  const domain = { name: "creditchain", version: "1", chainId: trusted.chainId, verifyingContract: trusted.membership };
  const findings: Record<string, string> = {};
  const skipped: CheckName[] = [];
  const passed: CheckName[] = [];
  const fail = (check: CheckName, detail: string): never => {
    throw new VerificationError(check, detail);
  };

  const steps: Record<(typeof CHECKS)[number], () => Promise<string>> = {
    "trust-root": async () => {
      const c = b.chain;
      if (c.chainId !== trusted.chainId) fail("trust-root", `bundle names chain id ${c.chainId}, the trusted chain is ${trusted.chainId}`);
      if (c.membership !== trusted.membership) fail("trust-root", `bundle names Membership ${c.membership}, trusted is ${trusted.membership}`);
      if (c.checkpointLog !== trusted.checkpointLog)
        fail("trust-root", `bundle names CheckpointLog ${c.checkpointLog}, trusted is ${trusted.checkpointLog}`);
      return `chain ${c.chainId}, Membership ${c.membership}, CheckpointLog ${c.checkpointLog}`;
    },
    "record-commitment": async () => {
      if (b.record === null || b.salt === null || b.recordJcs === null) {
        skipped.push("record-commitment");
        return "commitment-only bundle: nothing to open";
      }
      const c = toHex(await sha256(concat(fromHex(b.salt), b.recordJcs)));
      if (c !== b.leaf.commitment) fail("record-commitment", "SHA-256(salt || JCS(record)) differs from leaf.commitment");
      if (b.record["org"] !== b.leaf.org) fail("record-commitment", "record.org differs from leaf.org");
      if (b.record["category"] !== b.leaf.category) fail("record-commitment", "record.category differs from leaf.category");
      return `SHA-256(salt ‖ JCS(record)) = ${c}`;
    },
    "department-signature": async () => {
      const l = b.leaf;
      let signer: string;
      try {
        if (l.sig.batch) {
          const bt = l.sig.batch;
          const ok = await verifyInclusion(
            await leafHash(fromHex(l.commitment)),
            bt.index,
            bt.count,
            bt.path.map(fromHex),
            fromHex(bt.root),
          );
          if (!ok) throw new BadSignature("the batch path does not lead from the commitment to the root");
          signer = recoverTyped(domain, "CreditRecordBatch", { org: l.org, root: "0x" + bt.root, count: bt.count, signedAt: l.sig.signedAt, nonce: "0x" + l.sig.nonce }, l.sig.value);
        } else {
          signer = recoverTyped(domain, "CreditRecord", { org: l.org, category: l.category, commitment: "0x" + l.commitment, signedAt: l.sig.signedAt, nonce: "0x" + l.sig.nonce }, l.sig.value);
        }
      } catch (e) {
        if (e instanceof BadSignature) fail("department-signature", e.message);
        throw e;
      }
      const expected = await chain.keysAt(l.org, l.sig.signedAt);
      if (expected === null) fail("department-signature", `org ${l.org} had no registered signing key at ${l.sig.signedAt}`);
      if (signer! !== expected) fail("department-signature", `signature recovers to ${signer!}, the org's signer at ${l.sig.signedAt} is ${expected}`);
      findings["department_signer"] = signer!;
      return `${l.sig.type} signed by ${signer!} = Membership.keysAt(${l.org.slice(0, 10)}…, ${l.sig.signedAt})`;
    },
    "leaf-hash": async () => {
      const h = toHex(await leafHash(b.leafJcs));
      if (h !== b.receipt.leafHash) fail("leaf-hash", "SHA-256(0x00 || JCS(leaf)) differs from receipt.leaf_hash");
      if (h !== b.recordId) fail("leaf-hash", "SHA-256(0x00 || JCS(leaf)) differs from status.record_id");
      return `record id ${h}`;
    },
    inclusion: async () => {
      const log = b.log;
      if (!(log.index < log.size)) fail("inclusion", `index ${log.index} is outside a checkpoint of size ${log.size}`);
      const ok = await verifyInclusion(await leafHash(b.leafJcs), log.index, log.size, log.inclusion.map(fromHex), fromHex(log.root));
      if (!ok) fail("inclusion", `the proof does not show the leaf at index ${log.index} under the root of size ${log.size}`);
      return `leaf ${log.index} of ${log.size}, ${log.inclusion.length} nodes (RFC 9162)`;
    },
    "checkpoint-on-chain": async () => {
      const log = b.log;
      const c = b.chain;
      const root = await chain.checkpointRoot("0x" + log.id, log.size);
      if (root === null) fail("checkpoint-on-chain", `no checkpoint of size ${log.size} is anchored for log 0x${log.id}`);
      if (root !== log.root) fail("checkpoint-on-chain", `the anchored root of size ${log.size} is ${root}, not ${log.root}`);
      const anchor = await chain.anchor("0x" + log.id, log.size);
      if (anchor === null) fail("checkpoint-on-chain", "the anchoring transaction cannot be found on chain");
      if (anchor!.block !== c.anchorBlock) fail("checkpoint-on-chain", `anchored in block ${anchor!.block}, the bundle says ${c.anchorBlock}`);
      if (anchor!.tx !== "0x" + c.anchorTx) fail("checkpoint-on-chain", `anchored by tx ${anchor!.tx}, the bundle says 0x${c.anchorTx}`);
      return `CheckpointLog.checkpointForSize(size ${log.size}) = ${root}, block ${anchor!.block}`;
    },
    "receipt-signature": async () => {
      const r = b.receipt;
      if (r.logId !== b.log.id) fail("receipt-signature", "receipt.log_id differs from log.id");
      if (r.index !== b.log.index) fail("receipt-signature", "receipt.index differs from log.index");
      if (r.receivedAt !== b.leaf.receivedAt) fail("receipt-signature", "receipt.received_at differs from leaf.received_at");
      if (r.logId !== (await logIdOf("0x" + r.gateway, "records")))
        fail("receipt-signature", `log 0x${r.logId} is not the records log of gateway 0x${r.gateway}`);
      let signer: string;
      try {
        signer = recoverTyped(
          domain,
          "Receipt",
          { logId: "0x" + r.logId, index: r.index, leafHash: "0x" + r.leafHash, receivedAt: r.receivedAt, anchorBy: r.anchorBy },
          r.signature,
        );
      } catch (e) {
        if (e instanceof BadSignature) fail("receipt-signature", e.message);
        throw e;
      }
      const expected = await chain.keysAt("0x" + r.gateway, r.receivedAt);
      if (expected === null) fail("receipt-signature", `gateway 0x${r.gateway} had no registered signing key at ${r.receivedAt}`);
      if (signer! !== expected) fail("receipt-signature", `receipt signature recovers to ${signer!}, the gateway's signer at ${r.receivedAt} is ${expected}`);
      findings["gateway_signer"] = signer!;
      return `signed by gateway 0x${r.gateway.slice(0, 8)}… key ${signer!}`;
    },
    status: async () => {
      if (b.statusSource !== STATUS_SOURCE) fail("status", `unknown status source ${JSON.stringify(b.statusSource)}`);
      const st = await chain.recordStatus(b.recordId);
      if (!RECORD_STATUSES.includes(st.status)) fail("status", `the chain reports an unknown status ${JSON.stringify(st.status)}`);
      if (st.origin !== null && st.origin !== b.leaf.org)
        fail("status", `status set for another origin: the chain pins origin ${st.origin}, the record's department is ${b.leaf.org}`);
      if (st.status === "corrected") {
        if (st.successor === null) fail("status", "the chain reports the record corrected but names no successor");
        findings["successor"] = st.successor!;
      }
      findings["status"] = st.status;
      if (st.version > 0) {
        findings["status_updated_at"] = String(st.updatedAt);
        if (st.actor !== null) findings["status_actor"] = st.actor;
      }
      return `RecordStatus.stateOf = ${st.status}`;
    },
  };

  for (const name of CHECKS) {
    let detail: string;
    try {
      detail = await steps[name]();
    } catch (e) {
      if (e instanceof VerificationError) {
        e.passed = [...passed];
        onRow?.({ check: name, outcome: "fail", detail: e.detail });
      }
      throw e;
    }
    if (skipped.includes(name)) onRow?.({ check: name, outcome: "skip", detail });
    else {
      passed.push(name);
      onRow?.({ check: name, outcome: "pass", detail });
    }
  }
  const up = findings["status_updated_at"];
  return {
    valid: true,
    recordId: b.recordId,
    status: findings["status"] ?? "unknown",
    successor: findings["successor"] ?? null,
    statusUpdatedAt: up === undefined ? null : Number(up),
    statusActor: findings["status_actor"] ?? null,
    checks: passed,
    skipped,
    recordIncluded: b.record !== null,
    org: b.leaf.org,
    category: b.leaf.category,
    departmentSigner: findings["department_signer"] ?? "",
    gateway: "0x" + b.receipt.gateway,
    gatewaySigner: findings["gateway_signer"] ?? "",
    index: b.log.index,
    checkpointSize: b.log.size,
    anchorBlock: b.chain.anchorBlock,
  };
}

export { JsonFloat, UINT64_MAX, equal };
