// Strict JSON reading and RFC 8785 (JCS) canonical writing, mirroring
// gateway/domain/canonical.py: duplicate member names, NaN/Infinity, integers that would be
// silently rounded, nesting deeper than 128 and ill-formed Unicode are refused. A number
// literal with a fraction or an exponent is kept as a JsonFloat, so that `3.0` is not taken
// for the integer 3 where the formats demand an integer (as Python's reader keeps a float).

export const MAX_DEPTH = 128;
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export class JsonFloat {
  constructor(readonly value: number) {}
}

export type Json = null | boolean | number | string | JsonFloat | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export class JsonError extends Error {}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof JsonFloat);
}

export function parseStrict(text: string): Json {
  let i = 0;
  const fail = (why: string): never => {
    throw new JsonError(`invalid JSON at offset ${i}: ${why}`);
  };
  const ws = () => {
    while (i < text.length) {
      const c = text[i];
      if (c === " " || c === "\t" || c === "\n" || c === "\r") i++;
      else break;
    }
  };
  const value = (depth: number): Json => {
    ws();
    const c = text[i];
    if (c === "{") {
      if (depth >= MAX_DEPTH) fail(`arrays and objects nested deeper than ${MAX_DEPTH} levels`);
      i++;
      const obj: JsonObject = Object.create(null) as JsonObject;
      ws();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a member name");
        const key = string();
        if (Object.prototype.hasOwnProperty.call(obj, key)) fail(`duplicate object member name ${JSON.stringify(key)}`);
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        obj[key] = value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      if (depth >= MAX_DEPTH) fail(`arrays and objects nested deeper than ${MAX_DEPTH} levels`);
      i++;
      const arr: Json[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    return number();
  };
  const string = (): string => {
    const start = i;
    i++;
    let out = "";
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const ch = text.charCodeAt(i);
      if (ch === 0x22) {
        i++;
        break;
      }
      if (ch < 0x20) fail("control character in string");
      if (ch === 0x5c) {
        const e = text[i + 1];
        const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
        if (e !== undefined && e in simple) {
          out += simple[e];
          i += 2;
        } else if (e === "u") {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else fail("bad escape");
      } else {
        out += text[i];
        i++;
      }
    }
    void start;
    return out;
  };
  const number = (): Json => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === "" || m[0] === "-") fail("unexpected character");
    const lit = m![0];
    i += lit.length;
    const n = Number(lit);
    if (!Number.isFinite(n)) fail(`number ${lit} is out of range`);
    if (m![2] === undefined && m![3] === undefined) {
      if (Math.abs(n) <= MAX_SAFE) return n;
      // as Python's reader: a big literal is kept only when it is the canonical form of a double
      if (numberText(n) === lit) return new JsonFloat(n);
      fail(`integer literal ${lit} is outside the safe range and is not the canonical form of an IEEE-754 double`);
    }
    return new JsonFloat(n);
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail("extra data after the JSON value");
  return v;
}

function numberText(n: number): string {
  if (Object.is(n, -0)) return "0";
  return String(n);
}

export class CanonicalError extends Error {}

function writeString(s: string, where: string): string {
  if (!s.isWellFormed()) throw new CanonicalError(`cannot canonicalize value at ${where}: string holds a surrogate code point`);
  return JSON.stringify(s);
}

function write(v: Json, where: string, depth: number): string {
  if (v === null) return "null";
  if (v === true) return "true";
  if (v === false) return "false";
  if (typeof v === "string") return writeString(v, where);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new CanonicalError(`cannot canonicalize value at ${where}: non-finite number`);
    if (Number.isInteger(v) && Math.abs(v) > MAX_SAFE) throw new CanonicalError(`cannot canonicalize value at ${where}: integer outside the safe range`);
    return numberText(v);
  }
  if (v instanceof JsonFloat) {
    if (!Number.isFinite(v.value)) throw new CanonicalError(`cannot canonicalize value at ${where}: non-finite number`);
    return numberText(v.value);
  }
  if (depth >= MAX_DEPTH) throw new CanonicalError(`nested deeper than ${MAX_DEPTH}`);
  if (Array.isArray(v)) return "[" + v.map((x, k) => write(x, `${where}/${k}`, depth + 1)).join(",") + "]";
  const keys = Object.keys(v).sort(); // UTF-16 code unit order, as RFC 8785 §3.2.3
  return (
    "{" +
    keys
      .map((k) => writeString(k, where) + ":" + write(v[k] as Json, `${where}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`, depth + 1))
      .join(",") +
    "}"
  );
}

/** RFC 8785 canonical UTF-8 bytes of `v`. */
export function canonicalize(v: Json): Uint8Array {
  return new TextEncoder().encode(write(v, "", 0));
}
