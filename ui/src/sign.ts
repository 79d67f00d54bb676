// Keys unlocked in the browser (a keystore with its password, or a credit-office session file)
// and the EIP-712 requests they sign (docs/formats.md §3; gateway/client.py builds the same).
// The key never leaves the page: only signatures are sent.

import { hexlify, keccak256, randomBytes, toUtf8Bytes, Wallet, type HDNodeWallet } from "ethers";
import { concat, sha256, toHex, utf8 } from "./bytes";
import { canonicalize, type Json } from "./json";

export type Key = Wallet | HDNodeWallet;

export const REQUEST_TYPES: Record<string, { name: string; type: string }[]> = {
  SubjectQuery: [
    { name: "subjectDigest", type: "bytes32" },
    { name: "action", type: "string" },
    { name: "signedAt", type: "uint64" },
    { name: "nonce", type: "bytes32" },
  ],
  AuditQuery: [
    { name: "auditor", type: "bytes32" },
    { name: "queryHash", type: "bytes32" },
    { name: "signedAt", type: "uint64" },
    { name: "nonce", type: "bytes32" },
  ],
  SubjectRequest: [
    { name: "subjectDigest", type: "bytes32" },
    { name: "recordId", type: "bytes32" },
    { name: "action", type: "string" },
    { name: "detailsHash", type: "bytes32" },
    { name: "signedAt", type: "uint64" },
    { name: "nonce", type: "bytes32" },
  ],
};

export interface Domain {
  name: string;
  version: string;
  chainId: number;
  verifyingContract: string;
}

export interface Subject {
  kind: string;
  id: string;
}

export interface SubjectAuth {
  key: Key;
  subject: Subject;
  session: Record<string, unknown> | null;
}

export class KeyError extends Error {}

export async function unlockKeystore(json: string, password: string): Promise<Key> {
  try {
    return await Wallet.fromEncryptedJson(json, password);
  } catch (e) {
    throw new KeyError(`cannot unlock the keystore: ${(e as Error).message}`);
  }
}

/** A session file from `creditchain subject session`: {subject, session, session_private_key}. */
export function sessionFromFile(text: string): SubjectAuth {
  let doc: { subject?: Subject; session?: Record<string, unknown>; session_private_key?: string };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyError("the session file is not JSON");
  }
  if (!doc.subject || !doc.session || typeof doc.session_private_key !== "string")
    throw new KeyError("not a session file with its private key (subject, session, session_private_key)");
  return { key: new Wallet(doc.session_private_key), subject: doc.subject, session: doc.session };
}

export function parseSubject(text: string): Subject {
  const at = text.indexOf(":");
  if (at <= 0 || at === text.length - 1) throw new KeyError("a subject is KIND:ID, e.g. uscc:91610800MA0000001X");
  return { kind: text.slice(0, at), id: text.slice(at + 1) };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const nonce = (): string => hexlify(randomBytes(32));

async function subjectDigest(salt: Uint8Array, s: Subject): Promise<string> {
  return "0x" + toHex(await sha256(concat(salt, utf8(`${s.kind}:${s.id}`))));
}

export async function subjectQuery(auth: SubjectAuth, domain: Domain, action: "accesses" | "records"): Promise<Record<string, unknown>> {
  const salt = randomBytes(32);
  const signedAt = nowSeconds();
  const n = nonce();
  const signature = await auth.key.signTypedData(domain, { SubjectQuery: REQUEST_TYPES["SubjectQuery"]! }, {
    subjectDigest: await subjectDigest(salt, auth.subject),
    action,
    signedAt,
    nonce: n,
  });
  const body: Record<string, unknown> = { subject: auth.subject, subject_salt: toHex(salt), signed_at: signedAt, nonce: n, signature };
  if (auth.session) body["session"] = auth.session;
  return body;
}

export async function subjectRequest(
  auth: SubjectAuth,
  domain: Domain,
  recordId: string,
  action: "objection" | "repair",
  details: Record<string, Json>,
): Promise<Record<string, unknown>> {
  const salt = randomBytes(32);
  const signedAt = nowSeconds();
  const n = nonce();
  const signature = await auth.key.signTypedData(domain, { SubjectRequest: REQUEST_TYPES["SubjectRequest"]! }, {
    subjectDigest: await subjectDigest(salt, auth.subject),
    recordId: "0x" + recordId,
    action,
    detailsHash: "0x" + toHex(await sha256(canonicalize(details))),
    signedAt,
    nonce: n,
  });
  const body: Record<string, unknown> = { subject: auth.subject, subject_salt: toHex(salt), details, signed_at: signedAt, nonce: n, signature };
  if (auth.session) body["session"] = auth.session;
  return body;
}

export async function auditQuery(key: Key, auditor: string, domain: Domain, query: Record<string, Json>): Promise<Record<string, unknown>> {
  const signedAt = nowSeconds();
  const n = nonce();
  const signature = await key.signTypedData(domain, { AuditQuery: REQUEST_TYPES["AuditQuery"]! }, {
    auditor,
    queryHash: "0x" + toHex(await sha256(canonicalize(query))),
    signedAt,
    nonce: n,
  });
  return { auditor, query, signed_at: signedAt, nonce: n, signature };
}

export const purposeCode = (purpose: string): string => keccak256(toUtf8Bytes(purpose));

/** POST a signed request; an RFC 9457 problem becomes an Error with its title and detail. */
export async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(new URL(path, document.baseURI), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const doc = (await r.json().catch(() => ({}))) as Record<string, unknown>;
  if (!r.ok) throw new Error(`${String(doc["title"] ?? r.status)}${doc["detail"] ? `: ${String(doc["detail"])}` : ""}${doc["reason"] ? ` (${String(doc["reason"])})` : ""}`);
  return doc;
}
