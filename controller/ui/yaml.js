// YAML for the sealing page: an emitter that makes go-yaml v2's choices (the same rules as
// crds/src/yaml.rs, which kubeseal uses), and a reader for the subset of YAML that Kubernetes
// manifests use (block mappings and sequences, plain / quoted / block scalars, flow collections).
"use strict";

const SealYaml = (() => {
  // ---- Emitter ----

  function isPrintable(cp) {
    return ((cp >= 0x20 && cp <= 0x7e) || cp === 0x85 || (cp >= 0xa0 && cp <= 0xd7ff) ||
      (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000) && cp !== 0xfeff;
  }

  const WORDS = new Set(["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True",
    "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null",
    "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "<<", ""]);

  // Whether YAML 1.1 reads the plain scalar s as something other than a string.
  function resolvesToNonString(s) {
    if (WORDS.has(s)) return true;
    const unsigned = /^[+-]/.test(s) ? s.slice(1) : s;
    if ([".inf", ".Inf", ".INF"].includes(unsigned)) return true;
    const first = s[0];
    if (!("+-.".includes(first) || /[0-9]/.test(first))) return false;
    const digits = unsigned.replace(/_/g, "");
    if (digits.startsWith("0x")) return /^[0-9a-fA-F]+$/.test(digits.slice(2));
    if (digits.startsWith("0b")) return /^[01]+$/.test(digits.slice(2));
    const base60 = digits.includes(":") && digits.split(":").every((p) => /^[0-9.]+$/.test(p));
    const timestamp = new TextEncoder().encode(unsigned).length >= 8 &&
      /^[0-9]{4}-/.test(unsigned);
    const float = /^[+-]?([iI][nN][fF]([iI][nN][iI][tT][yY])?|[nN][aA][nN]|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)$/
      .test(digits);
    return float || base60 || timestamp;
  }

  function plainAllowed(s) {
    if (s.length === 0) return false;
    if (s.startsWith(" ") || s.endsWith(" ") || s.startsWith("---") || s.startsWith("...")) {
      return false;
    }
    const chars = Array.from(s);
    if ("#,[]{}&*!|>'\"%@`".includes(chars[0])) return false;
    if ("-?:".includes(chars[0]) && (chars.length < 2 || chars[1] === " ")) return false;
    return !(s.includes(": ") || s.endsWith(":") || s.includes(" #"));
  }

  function literalAllowed(s) {
    return !s.startsWith(" ") && !s.includes(" \n") && !s.includes("\n ") && !s.endsWith(" ");
  }

  function literal(s, indent) {
    const chomp = s.endsWith("\n\n") ? "+" : s.endsWith("\n") ? "" : "-";
    const body = s.endsWith("\n") ? s.slice(0, -1) : s;
    let out = "|" + chomp;
    for (const line of body.split("\n")) {
      out += "\n";
      if (line.length > 0) out += " ".repeat(indent + 2) + line;
    }
    return out;
  }

  function hex(n, width) {
    return n.toString(16).toUpperCase().padStart(width, "0");
  }

  function doubleQuoted(s) {
    let out = '"';
    for (const c of s) {
      const cp = c.codePointAt(0);
      if (c === '"') out += '\\"';
      else if (c === "\\") out += "\\\\";
      else if (c === "\n") out += "\\n";
      else if (c === "\t") out += "\\t";
      else if (c === "\r") out += "\\r";
      else if (cp === 0) out += "\\0";
      else if (isPrintable(cp)) out += c;
      else if (cp <= 0xff) out += "\\x" + hex(cp, 2);
      else if (cp <= 0xffff) out += "\\u" + hex(cp, 4);
      else out += "\\U" + hex(cp, 8);
    }
    return out + '"';
  }

  function stringText(s, indent) {
    let printable = true;
    for (const c of s) {
      if (!(isPrintable(c.codePointAt(0)) || c === "\n")) printable = false;
    }
    if (s.includes("\n") && printable && literalAllowed(s)) return literal(s, indent);
    if (!printable || s.includes("\n") || resolvesToNonString(s)) return doubleQuoted(s);
    return plainAllowed(s) ? s : "'" + s.replace(/'/g, "''") + "'";
  }

  function isObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
  }

  function scalarText(v, indent) {
    if (v === null || v === undefined) return "null";
    if (typeof v === "boolean" || typeof v === "number") return String(v);
    if (typeof v === "string") return stringText(v, indent);
    return Array.isArray(v) ? "[]" : "{}";
  }

  function sortedKeys(obj) {
    // Byte order of UTF-8 = code point order; plain < on UTF-16 differs only past the BMP.
    return Object.keys(obj).sort((a, b) => {
      const x = Array.from(a).map((c) => c.codePointAt(0));
      const y = Array.from(b).map((c) => c.codePointAt(0));
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        if (x[i] !== y[i]) return x[i] - y[i];
      }
      return x.length - y.length;
    });
  }

  function emitMapping(out, obj, indent) {
    sortedKeys(obj).forEach((key, i) => {
      if (i > 0) out.push(" ".repeat(indent));
      out.push(stringText(key, indent) + ":");
      emitAfterKey(out, obj[key], indent);
    });
  }

  function emitAfterKey(out, v, indent) {
    if (isObject(v) && Object.keys(v).length > 0) {
      out.push("\n" + " ".repeat(indent + 2));
      emitMapping(out, v, indent + 2);
    } else if (Array.isArray(v) && v.length > 0) {
      out.push("\n" + " ".repeat(indent));
      emitSequence(out, v, indent);
    } else {
      out.push(" " + scalarText(v, indent) + "\n");
    }
  }

  function emitSequence(out, items, indent) {
    items.forEach((item, i) => {
      if (i > 0) out.push(" ".repeat(indent));
      out.push("- ");
      if (isObject(item) && Object.keys(item).length > 0) emitMapping(out, item, indent + 2);
      else if (Array.isArray(item) && item.length > 0) emitSequence(out, item, indent + 2);
      else out.push(scalarText(item, indent) + "\n");
    });
  }

  // A value as one YAML document (no `---`), keys sorted at every level, ending in a newline.
  function emit(value) {
    const out = [];
    if (isObject(value) && Object.keys(value).length > 0) emitMapping(out, value, 0);
    else if (Array.isArray(value) && value.length > 0) emitSequence(out, value, 0);
    else out.push(scalarText(value, 0) + "\n");
    return out.join("");
  }

  // ---- Reader ----

  class YamlError extends Error {}

  function fail(lineNo, msg) {
    throw new YamlError(`YAML line ${lineNo + 1}: ${msg}`);
  }

  // Splits a stream into documents of {no, indent, text} lines (comments and blanks dropped,
  // except inside block scalars, which keep their raw lines).
  function splitDocuments(text) {
    const docs = [[]];
    text.replace(/\r\n?/g, "\n").split("\n").forEach((raw, no) => {
      if (/^---(\s|$)/.test(raw)) {
        docs.push([]);
        const rest = raw.slice(3).trim();
        if (rest && !rest.startsWith("#")) fail(no, "content after --- is not supported");
        return;
      }
      if (/^\.\.\.(\s|$)/.test(raw)) return;
      if (/^%/.test(raw)) return;
      docs[docs.length - 1].push({ no, raw });
    });
    return docs.filter((d) => d.some((l) => content(l.raw) !== ""));
  }

  // A line without its comment (a # at the start or after a space, outside quotes).
  function content(raw) {
    let quote = null;
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i];
      if (quote) {
        if (quote === '"' && c === "\\") i++;
        else if (c === quote) {
          if (quote === "'" && raw[i + 1] === "'") i++;
          else quote = null;
        }
      } else if (c === "#" && (i === 0 || raw[i - 1] === " " || raw[i - 1] === "\t")) {
        return raw.slice(0, i).trimEnd();
      } else if ((c === '"' || c === "'") && (i === 0 || /[\s:\[{,-]/.test(raw[i - 1]))) {
        quote = c;
      }
    }
    return raw.trimEnd();
  }

  class Reader {
    constructor(lines) {
      this.lines = lines;
      this.i = 0;
    }

    // The next meaningful line at or after i: {no, raw, text, indent}.
    peek() {
      while (this.i < this.lines.length) {
        const l = this.lines[this.i];
        const text = content(l.raw);
        if (text.trim() !== "") {
          if (/^\s*\t/.test(text)) fail(l.no, "tabs cannot indent YAML");
          return { no: l.no, raw: l.raw, text, indent: text.length - text.trimStart().length };
        }
        this.i++;
      }
      return null;
    }

    // A node whose first line is indented at least min.
    node(min) {
      const line = this.peek();
      if (!line || line.indent < min) return null;
      const body = line.text.slice(line.indent);
      if (body === "-" || body.startsWith("- ")) return this.sequence(line.indent);
      if (keyOf(body, line.no)) return this.mapping(line.indent);
      this.i++;
      return scalar(body, line.no);
    }

    sequence(indent) {
      const items = [];
      for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
        const body = line.text.slice(indent);
        if (!(body === "-" || body.startsWith("- "))) break;
        const rest = body.slice(1).trimStart();
        if (rest === "") {
          this.i++;
          items.push(this.node(indent + 1));
        } else if (/^[|>]/.test(rest)) {
          this.i++;
          items.push(this.blockScalar(rest, line, indent));
        } else {
          // The item's content starts after "- ": re-read it as a line indented that far.
          const offset = indent + body.length - rest.length;
          this.lines[this.i] = { no: line.no, raw: " ".repeat(offset) + rest };
          items.push(this.node(offset));
        }
      }
      return items;
    }

    mapping(indent) {
      const obj = {};
      for (let line = this.peek(); line && line.indent === indent; line = this.peek()) {
        const body = line.text.slice(indent);
        const kv = keyOf(body, line.no);
        if (!kv) fail(line.no, `expected "key: value", got ${JSON.stringify(body.slice(0, 40))}`);
        if (Object.prototype.hasOwnProperty.call(obj, kv.key)) {
          fail(line.no, `key ${JSON.stringify(kv.key)} appears twice`);
        }
        this.i++;
        obj[kv.key] = this.value(kv.rest, line, indent);
      }
      const next = this.peek();
      if (next && next.indent > indent) fail(next.no, "unexpected indentation");
      return obj;
    }

    // The value after "key:" on line (rest = text after the colon).
    value(rest, line, indent) {
      const r = rest.trim();
      if (r === "") {
        const next = this.peek();
        if (!next) return null;
        const body = next.text.slice(next.indent);
        // go-yaml writes a sequence under a key at the key's own indentation.
        if (next.indent === indent && (body === "-" || body.startsWith("- "))) {
          return this.sequence(indent);
        }
        return next.indent > indent ? this.node(indent + 1) : null;
      }
      if (/^[|>]/.test(r)) return this.blockScalar(r, line, indent);
      return scalar(r, line.no);
    }

    blockScalar(header, line, indent) {
      const m = /^([|>])([+-]?)([1-9]?)([+-]?)$/.exec(header);
      if (!m) fail(line.no, `unsupported block scalar header ${header}`);
      const folded = m[1] === ">";
      const chomp = m[2] || m[4];
      const lines = [];
      let blockIndent = m[3] ? indent + Number(m[3]) : null;
      while (this.i < this.lines.length) {
        const raw = this.lines[this.i].raw;
        const ind = raw.length - raw.trimStart().length;
        if (raw.trim() === "") {
          lines.push("");
          this.i++;
          continue;
        }
        if (blockIndent === null) blockIndent = ind;
        if (ind < blockIndent || ind <= indent) break;
        lines.push(raw.slice(blockIndent));
        this.i++;
      }
      // Trailing blank lines belong to the chomping, not the content.
      let trailing = 0;
      while (lines.length && lines[lines.length - 1] === "") {
        lines.pop();
        trailing++;
      }
      let text = folded ? fold(lines) : lines.join("\n");
      if (lines.length === 0) return "";
      if (chomp === "+") text += "\n".repeat(trailing + 1);
      else if (chomp !== "-") text += "\n";
      return text;
    }
  }

  function fold(lines) {
    let out = "";
    lines.forEach((l, i) => {
      if (i === 0) out = l;
      else if (l === "" || lines[i - 1] === "" || /^\s/.test(l)) out += "\n" + l;
      else out += " " + l;
    });
    return out;
  }

  // {key, rest} when body is "key: value" / "key:"; null when it is not a mapping entry.
  function keyOf(body, no) {
    if (body.startsWith('"') || body.startsWith("'")) {
      const end = quotedEnd(body, 0);
      if (end < 0) return null;
      const after = body.slice(end + 1);
      if (!(after === ":" || after.startsWith(": "))) return null;
      return { key: String(scalar(body.slice(0, end + 1), no)), rest: after.slice(1) };
    }
    if (/^[\[{]/.test(body)) return null;
    const m = /^(.*?):( |$)/.exec(body);
    if (!m) return null;
    return { key: m[1].trim(), rest: body.slice(m[1].length + 1) };
  }

  function quotedEnd(s, start) {
    const q = s[start];
    for (let i = start + 1; i < s.length; i++) {
      if (q === '"' && s[i] === "\\") i++;
      else if (s[i] === q) {
        if (q === "'" && s[i + 1] === "'") i++;
        else return i;
      }
    }
    return -1;
  }

  const ESCAPES = { "0": "\0", a: "\x07", b: "\b", t: "\t", "\t": "\t", n: "\n", v: "\v",
    f: "\f", r: "\r", e: "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", N: "\x85",
    _: "\xa0", L: "\u2028", P: "\u2029" };

  function doubleUnquote(s, no) {
    let out = "";
    for (let i = 0; i < s.length; i++) {
      if (s[i] !== "\\") {
        out += s[i];
        continue;
      }
      const e = s[++i];
      const width = { x: 2, u: 4, U: 8 }[e];
      if (width) {
        const h = s.slice(i + 1, i + 1 + width);
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(h)) fail(no, "bad escape in a string");
        out += String.fromCodePoint(parseInt(h, 16));
        i += width;
      } else if (e in ESCAPES) out += ESCAPES[e];
      else fail(no, `unknown escape \\${e}`);
    }
    return out;
  }

  // A scalar or flow collection written on one line.
  function scalar(text, no) {
    const t = text.trim();
    if (t.startsWith("[") || t.startsWith("{")) {
      const p = new FlowParser(t, no);
      const v = p.value();
      p.end();
      return v;
    }
    if (t.startsWith('"') || t.startsWith("'")) {
      const end = quotedEnd(t, 0);
      if (end !== t.length - 1) fail(no, "a quoted string must end on its line");
      const inner = t.slice(1, -1);
      return t[0] === '"' ? doubleUnquote(inner, no) : inner.replace(/''/g, "'");
    }
    if (/^[&*!]/.test(t)) fail(no, "anchors, aliases and tags are not supported");
    return resolvePlain(t);
  }

  function resolvePlain(t) {
    if (["~", "null", "Null", "NULL", ""].includes(t)) return null;
    if (["true", "True", "TRUE"].includes(t)) return true;
    if (["false", "False", "FALSE"].includes(t)) return false;
    if (/^[-+]?[0-9]+$/.test(t)) return Number(t);
    if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(t)) return Number(t);
    return t;
  }

  class FlowParser {
    constructor(s, no) {
      this.s = s;
      this.p = 0;
      this.no = no;
    }
    ws() {
      while (this.p < this.s.length && /\s/.test(this.s[this.p])) this.p++;
    }
    end() {
      this.ws();
      if (this.p !== this.s.length) fail(this.no, "unexpected text after a flow collection");
    }
    value() {
      this.ws();
      const c = this.s[this.p];
      if (c === "[") return this.seq();
      if (c === "{") return this.map();
      if (c === '"' || c === "'") {
        const end = quotedEnd(this.s, this.p);
        if (end < 0) fail(this.no, "unterminated string");
        const v = scalar(this.s.slice(this.p, end + 1), this.no);
        this.p = end + 1;
        return v;
      }
      const m = /^[^,\[\]{}]*/.exec(this.s.slice(this.p));
      let word = m[0];
      const colon = word.search(/:(\s|$)/);
      if (colon >= 0) word = word.slice(0, colon);
      this.p += word.length;
      return resolvePlain(word.trim());
    }
    seq() {
      this.p++;
      const items = [];
      for (;;) {
        this.ws();
        if (this.s[this.p] === "]") {
          this.p++;
          return items;
        }
        items.push(this.value());
        this.ws();
        if (this.s[this.p] === ",") this.p++;
        else if (this.s[this.p] !== "]") fail(this.no, "expected , or ] in a flow sequence");
      }
    }
    map() {
      this.p++;
      const obj = {};
      for (;;) {
        this.ws();
        if (this.s[this.p] === "}") {
          this.p++;
          return obj;
        }
        const key = this.value();
        this.ws();
        if (this.s[this.p] !== ":") fail(this.no, "expected : in a flow mapping");
        this.p++;
        obj[String(key)] = this.value();
        this.ws();
        if (this.s[this.p] === ",") this.p++;
        else if (this.s[this.p] !== "}") fail(this.no, "expected , or } in a flow mapping");
      }
    }
  }

  // Every document of a YAML or JSON text, as plain values.
  function parseAll(text) {
    const t = text.trim();
    if (t.startsWith("{") || t.startsWith("[")) {
      try {
        return [JSON.parse(t)];
      } catch (e) {
        throw new YamlError(`not valid JSON: ${e.message}`);
      }
    }
    return splitDocuments(text).map((lines) => {
      const r = new Reader(lines);
      const v = r.node(0);
      const left = r.peek();
      if (left) fail(left.no, "unexpected text");
      return v;
    });
  }

  return { emit, parseAll, YamlError, stringText };
})();

if (typeof module !== "undefined") module.exports = SealYaml;
