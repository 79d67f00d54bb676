// The chain, read directly over JSON-RPC from the endpoint the user chose, with the contract
// addresses of the manifest the user chose (gateway/verify/_chain.py NodeChainView).

import { Contract, getAddress, JsonRpcProvider, id as topicOf, zeroPadValue, toBeHex } from "ethers";
import { ChainQueryFailed, RECORD_STATUSES, type ChainView, type Lifecycle, type TrustRoot } from "./verify";
import { fromHex, sha256, toHex } from "./bytes";
import CODES from "./contracts.generated.json";

const MEMBERSHIP_ABI = [
  "function keysAt(bytes32 orgId, uint64 timestamp) view returns (tuple(address signer, uint64 validFrom, uint64 validFromBlock, bytes32 encryptionKey))",
  "function isActive(bytes32 orgId) view returns (bool)",
  "function org(bytes32 orgId) view returns (tuple(uint32 city, uint8 kind, bool active, uint64 registeredAt, uint32 keyCount))",
  "error UnknownOrg(bytes32 orgId)",
  "error NoKeyAt(bytes32 orgId, uint64 timestamp)",
];
const CHECKPOINT_LOG_ABI = [
  "function checkpointForSize(bytes32 logId, uint64 size) view returns (tuple(uint64 size, uint64 timestamp, uint64 blockNumber, bytes32 root))",
  "function latestCheckpoint(bytes32 logId) view returns (tuple(uint64 size, uint64 timestamp, uint64 blockNumber, bytes32 root))",
  "function checkpointCount(bytes32 logId) view returns (uint256)",
  "function checkpointAt(bytes32 logId, uint256 index) view returns (tuple(uint64 size, uint64 timestamp, uint64 blockNumber, bytes32 root))",
  "event CheckpointAnchored(bytes32 indexed logId, uint64 indexed size, bytes32 root, uint256 checkpointIndex)",
  "error CheckpointNotFound(bytes32 logId, uint64 size)",
  "error UnknownLog(bytes32 logId)",
];
const RECORD_STATUS_ABI = [
  "function stateOf(bytes32 recordId) view returns (tuple(bytes32 origin, bytes32 successor, bytes32 reason, bytes32 actor, bytes32 evidence, uint64 updatedAt, uint32 version, uint8 status))",
];
const ZERO32 = "0x" + "00".repeat(32);
const ORG_KINDS = ["none", "department", "financial_institution", "utility", "credit_office", "auditor", "gateway"];
const UINT64_MAX = 2n ** 64n - 1n;

export class ManifestError extends Error {}

export interface Manifest {
  trust: TrustRoot;
  network: string;
  contracts: Record<string, string>; // every contract the manifest names, EIP-55
  raw: unknown;
}

const EXPECTED = CODES as unknown as Record<string, { length: number; immutables: [number, number][]; sha256: string }>;
const MEMBERSHIP_OF = ["function membership() view returns (address)"];

/** A deployment manifest (node/_deploy.py Deployment.to_json). */
export function parseManifest(doc: unknown): Manifest {
  if (typeof doc !== "object" || doc === null) throw new ManifestError("the manifest is not a JSON object");
  const d = doc as Record<string, unknown>;
  if (d["version"] !== 1) throw new ManifestError(`unsupported manifest version ${JSON.stringify(d["version"])}`);
  const chainId = d["chain_id"];
  if (typeof chainId !== "number" || !Number.isSafeInteger(chainId)) throw new ManifestError("manifest: chain_id must be an integer");
  const contracts = d["contracts"] as Record<string, { address?: unknown }> | undefined;
  const addr = (name: string, required: boolean): string | null => {
    const a = contracts?.[name]?.address;
    if (a === undefined) {
      if (required) throw new ManifestError(`manifest has no ${name} contract`);
      return null;
    }
    try {
      return getAddress(String(a));
    } catch {
      throw new ManifestError(`manifest: ${name} address is not an address`);
    }
  };
  const all: Record<string, string> = {};
  for (const name of Object.keys(contracts ?? {})) all[name] = addr(name, true)!;
  return {
    contracts: all,
    trust: {
      chainId,
      membership: addr("Membership", true)!,
      checkpointLog: addr("CheckpointLog", true)!,
      recordStatus: addr("RecordStatus", false),
    },
    network: String(d["network"] ?? ""),
    raw: doc,
  };
}

function revertName(c: Contract, e: unknown): string | null {
  const err = e as { revert?: { name?: string }; data?: string; info?: { error?: { data?: string } } };
  if (err?.revert?.name) return err.revert.name;
  const data = err?.data ?? err?.info?.error?.data;
  if (typeof data === "string" && data.length >= 10) {
    try {
      return c.interface.parseError(data)?.name ?? null;
    } catch {
      return null;
    }
  }
  return null;
}

export class RpcChainView implements ChainView {
  readonly provider: JsonRpcProvider;
  readonly membership: Contract;
  readonly log: Contract;
  readonly status: Contract | null;

  constructor(
    readonly rpcUrl: string,
    readonly trust: TrustRoot,
  ) {
    this.provider = new JsonRpcProvider(rpcUrl, trust.chainId, { staticNetwork: true, batchMaxCount: 1 });
    this.membership = new Contract(trust.membership, MEMBERSHIP_ABI, this.provider);
    this.log = new Contract(trust.checkpointLog, CHECKPOINT_LOG_ABI, this.provider);
    this.status = trust.recordStatus ? new Contract(trust.recordStatus, RECORD_STATUS_ABI, this.provider) : null;
  }

  /** Refuse a chain that is not the manifest's (node/_deploy.py Deployment.check): its chain
   * id; at each address the contract's code from contracts/artifacts (up to immutables);
   * Grants and RecordStatus on the manifest's Membership. */
  async check(contracts: Record<string, string> = {}): Promise<void> {
    let chainId: bigint;
    try {
      chainId = BigInt(await this.provider.send("eth_chainId", []));
    } catch (e) {
      throw new ChainQueryFailed(`cannot reach the chain at ${this.rpcUrl}: ${(e as Error).message}`);
    }
    if (chainId !== BigInt(this.trust.chainId))
      throw new ChainQueryFailed(`manifest is for chain id ${this.trust.chainId}, the node reports ${chainId}`);
    const named: Record<string, string> = { ...contracts, Membership: this.trust.membership, CheckpointLog: this.trust.checkpointLog };
    if (this.trust.recordStatus) named["RecordStatus"] = this.trust.recordStatus;
    for (const [name, a] of Object.entries(named)) {
      const code = await this.provider.getCode(a);
      if (!code || code === "0x") throw new ChainQueryFailed(`${name} at ${a}: no contract on chain ${chainId}`);
      const want = EXPECTED[name];
      if (!want) throw new ChainQueryFailed(`the manifest names an unknown contract ${name}`);
      const bytes = fromHex(code.slice(2));
      for (const [start, length] of want.immutables) bytes.fill(0, start, start + length);
      if (bytes.length !== want.length || toHex(await sha256(bytes)) !== want.sha256)
        throw new ChainQueryFailed(`${name} at ${a}: different code on chain ${chainId}`);
      if (name === "Grants" || name === "RecordStatus" || name === "Directory") {
        const linked = await new Contract(a, MEMBERSHIP_OF, this.provider).getFunction("membership").staticCall();
        if (String(linked).toLowerCase() !== this.trust.membership.toLowerCase())
          throw new ChainQueryFailed(`${name} at ${a} uses Membership ${String(linked)}, the manifest says ${this.trust.membership}`);
      }
    }
    if (this.status === null)
      throw new ChainQueryFailed("the trusted manifest predates RecordStatus: a record's status cannot be known");
  }

  async keysAt(org: string, timestamp: number): Promise<string | null> {
    if (timestamp < 0 || BigInt(timestamp) > UINT64_MAX) return null;
    try {
      const epoch = await this.membership.getFunction("keysAt").staticCall(org, timestamp);
      return getAddress(epoch.signer as string);
    } catch (e) {
      const name = revertName(this.membership, e);
      if (name === "UnknownOrg" || name === "NoKeyAt") return null;
      throw new ChainQueryFailed(`cannot query Membership.keysAt: ${(e as Error).message}`);
    }
  }

  private async forSize(logId: string, size: number): Promise<{ root: string; block: number } | null> {
    try {
      const cp = await this.log.getFunction("checkpointForSize").staticCall(logId, size);
      return { root: (cp.root as string).slice(2), block: Number(cp.blockNumber) };
    } catch (e) {
      const name = revertName(this.log, e);
      if (name === "CheckpointNotFound" || name === "UnknownLog") return null;
      throw new ChainQueryFailed(`cannot query CheckpointLog.checkpointForSize: ${(e as Error).message}`);
    }
  }

  async checkpointRoot(logId: string, size: number): Promise<string | null> {
    return (await this.forSize(logId, size))?.root ?? null;
  }

  async anchor(logId: string, size: number): Promise<{ block: number; tx: string } | null> {
    const cp = await this.forSize(logId, size);
    if (cp === null) return null;
    let logs;
    try {
      logs = await this.provider.getLogs({
        address: this.trust.checkpointLog,
        topics: [topicOf("CheckpointAnchored(bytes32,uint64,bytes32,uint256)"), logId, zeroPadValue(toBeHex(size), 32)],
        fromBlock: cp.block,
        toBlock: cp.block,
      });
    } catch (e) {
      throw new ChainQueryFailed(`cannot query CheckpointLog events: ${(e as Error).message}`);
    }
    const matching = logs.filter((l) => l.topics[1] === logId && BigInt(l.topics[2]!) === BigInt(size));
    return matching.length === 1 ? { block: cp.block, tx: matching[0]!.transactionHash } : null;
  }

  async recordStatus(recordId: string): Promise<Lifecycle> {
    if (this.status === null) throw new ChainQueryFailed("no RecordStatus in the trusted manifest");
    let s;
    try {
      s = await this.status.getFunction("stateOf").staticCall("0x" + recordId);
    } catch (e) {
      throw new ChainQueryFailed(`cannot query RecordStatus.stateOf: ${(e as Error).message}`);
    }
    const nz = (x: string): string | null => (x === ZERO32 ? null : x);
    const code = Number(s.status);
    return {
      status: RECORD_STATUSES[code] ?? `unknown(${code})`,
      successor: nz(s.successor)?.slice(2) ?? null,
      origin: nz(s.origin),
      actor: nz(s.actor),
      updatedAt: Number(s.updatedAt),
      version: Number(s.version),
    };
  }

  /** The org's kind as Membership holds it (department, auditor, …), or null if unknown. */
  async orgKind(orgId: string): Promise<string | null> {
    try {
      const o = await this.membership.getFunction("org").staticCall(orgId);
      return ORG_KINDS[Number(o.kind)] ?? `kind-${Number(o.kind)}`;
    } catch (e) {
      if (revertName(this.membership, e) === "UnknownOrg") return null;
      throw new ChainQueryFailed(`cannot query Membership.org: ${(e as Error).message}`);
    }
  }

  /** Every checkpoint anchored for a log, oldest first. */
  async checkpoints(logId: string): Promise<{ size: number; root: string; block: number; timestamp: number }[]> {
    try {
      const n = Number(await this.log.getFunction("checkpointCount").staticCall(logId));
      const out = [];
      for (let i = 0; i < n; i++) {
        const cp = await this.log.getFunction("checkpointAt").staticCall(logId, i);
        out.push({ size: Number(cp.size), root: (cp.root as string).slice(2), block: Number(cp.blockNumber), timestamp: Number(cp.timestamp) });
      }
      return out;
    } catch (e) {
      if (revertName(this.log, e) === "UnknownLog") return [];
      throw new ChainQueryFailed(`cannot list CheckpointLog checkpoints: ${(e as Error).message}`);
    }
  }

  /** Newest anchored checkpoint of a log, or null. */
  async latest(logId: string): Promise<{ size: number; root: string; block: number; timestamp: number } | null> {
    try {
      const cp = await this.log.getFunction("latestCheckpoint").staticCall(logId);
      return { size: Number(cp.size), root: (cp.root as string).slice(2), block: Number(cp.blockNumber), timestamp: Number(cp.timestamp) };
    } catch (e) {
      const name = revertName(this.log, e);
      if (name === "CheckpointNotFound" || name === "UnknownLog") return null;
      throw new ChainQueryFailed(`cannot query CheckpointLog.latestCheckpoint: ${(e as Error).message}`);
    }
  }
}
