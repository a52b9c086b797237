// The sealing page: seals in the browser with WebCrypto (RSA-OAEP SHA-256 with a label, and
// AES-256-GCM), in the sealed-secrets format, so that no plaintext ever leaves the page. The only
// requests it makes go to the controller that served it: the certificate and /v1/verify.
"use strict";

(() => {
  const MAX_SECRET_BYTES = 1024 * 1024; // what the API server accepts for a whole Secret
  const NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide";
  const CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide";
  const LAST_APPLIED = ["kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration"];
  const enc = new TextEncoder();
  const $ = (id) => document.getElementById(id);

  // ---- Pure helpers ----

  function toBase64(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  // Standard padded base64, strictly (as Kubernetes reads `data`); null when invalid.
  function fromBase64(text) {
    const t = String(text).replace(/\s+/g, "");
    if (t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) return null;
    const bin = atob(t);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // Text when bytes are UTF-8 a person would type; null for binary.
  function asText(bytes) {
    try {
      const s = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(s) ? null : s;
    } catch (_) {
      return null;
    }
  }

  const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

  function nameProblem(name) {
    if (name === "") return "A name is required.";
    if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
      return "Use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters).";
    }
    return null;
  }

  function namespaceProblem(ns, scope) {
    if (ns === "") {
      return scope === "cluster-wide" ? null
        : `A namespace is required for the ${scope} scope.`;
    }
    if (ns.length > 63 || !DNS1123_LABEL.test(ns)) {
      return "Use lower-case letters, digits and '-', starting and ending with a letter or digit (at most 63 characters).";
    }
    return null;
  }

  function keyProblem(key) {
    if (key === "") return "Every value needs a key.";
    if (key.length > 253 || !DATA_KEY.test(key) || key === "." || key === "..") {
      return `Key "${key}" may only hold letters, digits, '-', '_' and '.'.`;
    }
    return null;
  }

  function label(scope, namespace, name) {
    if (scope === "strict") return `${namespace}/${name}`;
    if (scope === "namespace-wide") return namespace;
    return "";
  }

  function scopeOf(annotations) {
    const a = annotations || {};
    if (a[CLUSTER_WIDE] === "true") return "cluster-wide";
    if (a[NAMESPACE_WIDE] === "true") return "namespace-wide";
    return "strict";
  }

  function scopeAnnotations(scope) {
    if (scope === "cluster-wide") return { [CLUSTER_WIDE]: "true" };
    if (scope === "namespace-wide") return { [NAMESPACE_WIDE]: "true" };
    return {};
  }

  function nonEmpty(obj) {
    return obj && Object.keys(obj).length > 0 ? obj : undefined;
  }

  function withoutUndefined(obj) {
    const out = {};
    for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
    return out;
  }

  // The SealedSecret kubeseal makes from a Secret: {name, namespace, scope, type, immutable,
  // labels, annotations, finalizers, generateName} and sealed values {key: base64}.
  function sealedSecretObject(s, encryptedData) {
    const annotations = Object.assign({}, s.annotations || {});
    LAST_APPLIED.forEach((a) => delete annotations[a]);
    delete annotations[NAMESPACE_WIDE];
    delete annotations[CLUSTER_WIDE];
    Object.assign(annotations, scopeAnnotations(s.scope));
    const ns = s.namespace || undefined;
    return {
      apiVersion: "bitnami.com/v1alpha1",
      kind: "SealedSecret",
      metadata: withoutUndefined({
        annotations: nonEmpty(scopeAnnotations(s.scope)),
        creationTimestamp: null,
        name: s.name,
        namespace: ns,
      }),
      spec: {
        encryptedData,
        template: withoutUndefined({
          immutable: s.immutable,
          metadata: withoutUndefined({
            annotations: nonEmpty(annotations),
            creationTimestamp: null,
            finalizers: s.finalizers,
            generateName: s.generateName,
            labels: nonEmpty(s.labels),
            name: s.name,
            namespace: ns,
          }),
          type: s.type || undefined,
        }),
      },
    };
  }

  // ---- Certificate (X.509 DER, read only as far as needed) ----

  function tlv(der, pos) {
    if (pos + 2 > der.length) throw new Error("truncated DER");
    const tag = der[pos];
    let len = der[pos + 1];
    let start = pos + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || start + n > der.length) throw new Error("bad DER length");
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
      start += n;
    }
    const end = start + len;
    if (end > der.length) throw new Error("truncated DER");
    return { tag, start, end, pos };
  }

  function children(der, node) {
    const out = [];
    for (let p = node.start; p < node.end;) {
      const c = tlv(der, p);
      out.push(c);
      p = c.end;
    }
    return out;
  }

  const OID_RSA = "2a864886f70d010101";
  const NAME_OIDS = { "550403": "CN", "55040a": "O", "55040b": "OU", "550406": "C" };

  function hexOf(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function rdnText(der, name) {
    const parts = [];
    for (const set of children(der, name)) {
      for (const atv of children(der, set)) {
        const [oid, value] = children(der, atv);
        const short = NAME_OIDS[hexOf(der.subarray(oid.start, oid.end))];
        const raw = der.subarray(value.start, value.end);
        const text = value.tag === 0x1e
          ? String.fromCharCode(...Array.from({ length: raw.length / 2 }, (_, i) => raw[2 * i] * 256 + raw[2 * i + 1]))
          : new TextDecoder().decode(raw);
        if (short) parts.push({ short, text });
      }
    }
    return parts;
  }

  function derTime(der, node) {
    const s = new TextDecoder().decode(der.subarray(node.start, node.end));
    const m = node.tag === 0x17
      ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z$/.exec(s)
      : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?(?:\.\d+)?Z$/.exec(s);
    if (!m) throw new Error("unsupported certificate time " + s);
    let year = Number(m[1]);
    if (node.tag === 0x17) year += year < 50 ? 2000 : 1900;
    return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] || 0)));
  }

  function spkiInfo(der, spki) {
    const [alg, bits] = children(der, spki);
    const [oid] = children(der, alg);
    const rsa = hexOf(der.subarray(oid.start, oid.end)) === OID_RSA;
    let size = 0;
    if (rsa) {
      const key = tlv(der, bits.start + 1);
      const [n] = children(der, key);
      let i = n.start;
      while (i < n.end && der[i] === 0) i++;
      size = (n.end - i) * 8 - (i < n.end ? Math.clz32(der[i]) - 24 : 0);
    }
    return { rsa, size, spki: der.slice(spki.pos, spki.end) };
  }

  // {spki, rsa, size, subject, notAfter, der} from one PEM (certificate or public key).
  function parsePem(text) {
    const m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
    if (!m) throw new Error("no PEM block (-----BEGIN CERTIFICATE-----) found");
    const der = fromBase64(m[2]);
    if (!der || der.length === 0) throw new Error("the PEM block is not valid base64");
    if (m[1] === "PUBLIC KEY") {
      return Object.assign(spkiInfo(der, tlv(der, 0)), { der, subject: [], notAfter: null });
    }
    if (m[1] !== "CERTIFICATE") throw new Error(`a ${m[1]} is not a certificate`);
    const cert = tlv(der, 0);
    const tbs = children(der, cert)[0];
    let fields = children(der, tbs);
    if (fields[0].tag === 0xa0) fields = fields.slice(1);
    const [, , , validity, subject, spki] = fields;
    if (!spki) throw new Error("the certificate is incomplete");
    const [, notAfter] = children(der, validity);
    return Object.assign(spkiInfo(der, spki), {
      der, subject: rdnText(der, subject), notAfter: derTime(der, notAfter),
    });
  }

  // ---- Sealing ----

  async function importKey(spki) {
    return crypto.subtle.importKey("spki", spki, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["encrypt"]);
  }

  // base64(u16be(len(rsa)) || RSA-OAEP(label, session key) || AES-256-GCM(zero nonce, value))
  async function sealValue(publicKey, labelText, plaintext) {
    const sessionKey = crypto.getRandomValues(new Uint8Array(32));
    try {
      const rsa = new Uint8Array(await crypto.subtle.encrypt(
        { name: "RSA-OAEP", label: enc.encode(labelText) }, publicKey, sessionKey));
      const aesKey = await crypto.subtle.importKey("raw", sessionKey, "AES-GCM", false, ["encrypt"]);
      const aes = new Uint8Array(await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: new Uint8Array(12), tagLength: 128 }, aesKey, plaintext));
      const out = new Uint8Array(2 + rsa.length + aes.length);
      out[0] = rsa.length >> 8;
      out[1] = rsa.length & 0xff;
      out.set(rsa, 2);
      out.set(aes, 2 + rsa.length);
      return toBase64(out);
    } finally {
      sessionKey.fill(0);
    }
  }

  // ---- Page state ----

  const state = {
    cert: null, // parsePem result plus {key}
    manifestMeta: {}, // labels, annotations, ... of a loaded manifest
    output: "",
    outputName: "sealed-secret.yaml",
  };

  function show(el, text) {
    el.textContent = text || "";
    el.hidden = !text;
  }

  // ---- Certificate UI ----

  async function useCertificate(text, source) {
    const status = $("cert-status");
    const warning = $("cert-warning");
    show(warning, "");
    let parsed;
    try {
      parsed = parsePem(text);
    } catch (e) {
      state.cert = null;
      $("cert-details").hidden = true;
      status.textContent = `Certificate from ${source} not usable: ${e.message}.`;
      status.className = "problem";
      return;
    }
    state.cert = null;
    $("cert-details").hidden = false;
    const subject = parsed.subject.map((p) => `${p.short}=${p.text}`).join(", ");
    $("cert-subject").textContent = subject ||
      (parsed.notAfter ? "(empty: the controller runs without --my-cn)" : "(a bare public key: no subject)");
    $("cert-expiry").textContent = parsed.notAfter ? parsed.notAfter.toISOString().replace(".000Z", "Z") : "(not stated)";
    $("cert-key").textContent = parsed.rsa ? `RSA, ${parsed.size} bits` : "not RSA";
    $("cert-fingerprint").textContent = "";
    if (crypto.subtle) {
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", parsed.der));
      $("cert-fingerprint").textContent = Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
    }
    if (!parsed.rsa) {
      status.textContent = `The certificate from ${source} does not hold an RSA key: sealed-secrets seals only with RSA, so it cannot be used.`;
      status.className = "problem";
      return;
    }
    try {
      parsed.key = crypto.subtle ? await importKey(parsed.spki) : null;
    } catch (e) {
      status.textContent = `The browser refused the certificate's key: ${e.message}.`;
      status.className = "problem";
      return;
    }
    state.cert = parsed;
    status.textContent = `Using the certificate from ${source}.`;
    status.className = "";
    if (parsed.notAfter && parsed.notAfter < new Date()) {
      show(warning, `Warning: this certificate expired on ${$("cert-expiry").textContent}. Values are sealed anyway (the controller still opens them), but it may hold an old key: fetch a fresh one.`);
    }
  }

  async function fetchCertificate() {
    const url = $("cert-url").value.trim() || "v1/cert.pem";
    const status = $("cert-status");
    status.textContent = `Fetching ${url} ...`;
    status.className = "";
    let text;
    try {
      const resp = await fetch(url, { cache: "no-store", credentials: "same-origin", redirect: "error" });
      text = await resp.text();
      if (!resp.ok) throw new Error(`the server answered ${resp.status} ${resp.statusText}`.trim());
    } catch (e) {
      state.cert = null;
      $("cert-details").hidden = true;
      status.textContent = `Cannot fetch the certificate from ${url}: ${e.message}. The page may only contact the controller that served it; otherwise load or paste the certificate.`;
      status.className = "problem";
      return;
    }
    await useCertificate(text, url);
  }

  // ---- Key/value rows ----

  let rowCounter = 0;

  // A row: key, and either typed text or bytes (from a file or a manifest).
  function addRow(key = "", value = "") {
    const n = ++rowCounter;
    const row = document.createElement("div");
    row.className = "kv-row";
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", `Value ${n}`);
    row.innerHTML = `
      <div class="row"><label for="kv-key-${n}">Key</label>
        <input id="kv-key-${n}" class="kv-key" type="text" autocomplete="off" spellcheck="false"></div>
      <div class="row"><label for="kv-value-${n}">Value</label>
        <textarea id="kv-value-${n}" class="kv-value" rows="2" spellcheck="false" autocomplete="off"></textarea></div>
      <div class="row"><label for="kv-file-${n}">Or value from a file</label>
        <input id="kv-file-${n}" class="kv-file" type="file">
        <span class="kv-file-note" role="status"></span>
        <button type="button" class="kv-remove">Remove this value</button></div>
      <p class="problem kv-error" hidden></p>`;
    row.querySelector(".kv-key").value = key;
    const textarea = row.querySelector(".kv-value");
    if (value instanceof Uint8Array) setRowBytes(row, value, "from the manifest");
    else textarea.value = value;
    row.querySelector(".kv-file").addEventListener("change", (ev) => readRowFile(row, ev.target));
    row.querySelector(".kv-remove").addEventListener("click", () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      (next ? next.querySelector(".kv-key") : $("add-row")).focus();
    });
    $("rows").appendChild(row);
    return row;
  }

  function setRowBytes(row, bytes, where) {
    row.bytes = bytes;
    const textarea = row.querySelector(".kv-value");
    textarea.value = "";
    textarea.disabled = true;
    row.querySelector(".kv-file-note").textContent = `${bytes.length} bytes ${where}; the file's exact bytes are sealed.`;
  }

  async function readRowFile(row, input) {
    const err = row.querySelector(".kv-error");
    show(err, "");
    const file = input.files && input.files[0];
    if (!file) return;
    if (file.size > MAX_SECRET_BYTES) {
      input.value = "";
      show(err, `${file.name} is ${(file.size / 1048576).toFixed(1)} MiB: a Secret holds at most 1 MiB in all, so it was not loaded.`);
      return;
    }
    try {
      setRowBytes(row, new Uint8Array(await file.arrayBuffer()), `from ${file.name}`);
      const key = row.querySelector(".kv-key");
      if (key.value === "") key.value = file.name.replace(/[^-._a-zA-Z0-9]/g, "_");
    } catch (e) {
      show(err, `Cannot read ${file.name}: ${e.message}.`);
    }
  }

  function clearRows() {
    $("rows").textContent = "";
  }

  // ---- Manifests ----

  function parseOne(text, what) {
    let docs;
    try {
      docs = SealYaml.parseAll(text);
    } catch (e) {
      throw new Error(`${what}: ${e.message}`);
    }
    if (docs.length !== 1) throw new Error(`${what}: expected one document, found ${docs.length}.`);
    const doc = docs[0];
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
      throw new Error(`${what}: not a Kubernetes object.`);
    }
    return doc;
  }

  // A Secret manifest as form values; throws with a message naming the problem.
  function secretFromManifest(text) {
    const doc = parseOne(text, "The manifest");
    if (doc.kind !== "Secret" || (doc.apiVersion !== undefined && doc.apiVersion !== "v1")) {
      throw new Error(`The manifest is a ${doc.kind || "document without a kind"}${doc.apiVersion ? ` (${doc.apiVersion})` : ""}, not a Secret (apiVersion v1, kind Secret).`);
    }
    const meta = doc.metadata || {};
    const values = new Map();
    for (const [k, v] of Object.entries(doc.data || {})) {
      const bytes = fromBase64(v === null ? "" : v);
      if (bytes === null) throw new Error(`data.${k} is not valid base64.`);
      values.set(k, bytes);
    }
    for (const [k, v] of Object.entries(doc.stringData || {})) {
      values.set(k, enc.encode(v === null ? "" : String(v)));
    }
    return {
      name: meta.name || "",
      namespace: meta.namespace || "",
      scope: scopeOf(meta.annotations),
      type: doc.type === undefined ? "" : String(doc.type),
      values,
      meta: {
        labels: meta.labels, annotations: meta.annotations, finalizers: meta.finalizers,
        generateName: meta.generateName, immutable: doc.immutable,
      },
    };
  }

  function loadManifest() {
    const err = $("manifest-error");
    show(err, "");
    let s;
    try {
      s = secretFromManifest($("manifest-input").value);
    } catch (e) {
      show(err, e.message);
      $("manifest-input").setAttribute("aria-invalid", "true");
      return;
    }
    $("manifest-input").removeAttribute("aria-invalid");
    $("name").value = s.name;
    $("namespace").value = s.namespace;
    $(`scope-${s.scope}`).checked = true;
    $("type").value = s.type;
    state.manifestMeta = s.meta;
    clearRows();
    for (const [k, bytes] of s.values) {
      const text = asText(bytes);
      addRow(k, text === null ? bytes : text);
    }
    if (s.values.size === 0) addRow();
    $("name").focus();
  }

  function sealedSecretFromText(text) {
    const doc = parseOne(text, "The SealedSecret");
    if (doc.kind !== "SealedSecret" || doc.apiVersion !== "bitnami.com/v1alpha1") {
      throw new Error(`The pasted document is a ${doc.kind || "document without a kind"}, not a SealedSecret (bitnami.com/v1alpha1).`);
    }
    if (!doc.metadata || !doc.metadata.name) throw new Error("The SealedSecret has no metadata.name.");
    return doc;
  }

  // ---- Validation and sealing ----

  function selected(name) {
    return document.querySelector(`input[name="${name}"]:checked`).value;
  }

  function fieldError(id, message, errors) {
    const input = $(id);
    const el = $(`${id}-error`);
    if (el) show(el, message);
    if (message) {
      input.setAttribute("aria-invalid", "true");
      errors.push({ id, message });
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  // The rows as [{key, bytes}], with problems recorded next to each row.
  function collectRows(errors, allowEmpty) {
    const seen = new Set();
    const values = [];
    let total = 0;
    for (const row of $("rows").querySelectorAll(".kv-row")) {
      const keyInput = row.querySelector(".kv-key");
      const key = keyInput.value.trim();
      const bytes = row.bytes || enc.encode(row.querySelector(".kv-value").value);
      let problem = keyProblem(key);
      if (!problem && seen.has(key)) problem = `Key "${key}" is used twice.`;
      if (!problem && bytes.length === 0 && !allowEmpty) {
        problem = `The value of "${key}" is empty (tick "Allow empty values" to seal it anyway).`;
      }
      seen.add(key);
      total += bytes.length;
      show(row.querySelector(".kv-error"), problem);
      if (problem) {
        keyInput.setAttribute("aria-invalid", "true");
        errors.push({ id: keyInput.id, message: problem });
      } else {
        keyInput.removeAttribute("aria-invalid");
      }
      values.push({ key, bytes });
    }
    if (total > MAX_SECRET_BYTES) {
      errors.push({ id: "add-row", message: `The values add up to ${total} bytes; a Secret holds at most 1 MiB.` });
    }
    return values;
  }

  function showErrors(errors) {
    const box = $("errors");
    box.textContent = "";
    if (errors.length === 0) {
      box.hidden = true;
      return;
    }
    const p = document.createElement("p");
    p.textContent = errors.length === 1 ? "Nothing was sealed: fix this first." : `Nothing was sealed: fix these ${errors.length} problems first.`;
    const ul = document.createElement("ul");
    for (const e of errors) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `#${e.id}`;
      a.textContent = e.message;
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        $(e.id).focus();
      });
      li.appendChild(a);
      ul.appendChild(li);
    }
    box.append(p, ul);
    box.hidden = false;
    box.focus();
  }

  function setOutput(text, fileName) {
    state.output = text;
    state.outputName = fileName;
    $("output").value = text;
    $("copy").disabled = !text;
    $("download").disabled = !text;
    $("copy-status").textContent = "";
  }

  // What to seal, from the form (and the pasted SealedSecret in merge mode); errors listed.
  function readForm(errors) {
    const mode = selected("mode");
    const s = Object.assign({}, state.manifestMeta, {
      name: $("name").value.trim(),
      namespace: $("namespace").value.trim(),
      scope: selected("scope"),
      type: $("type").value.trim(),
    });
    let target = null;
    if (mode === "merge") {
      try {
        target = sealedSecretFromText($("merge-input").value);
        $("merge-input").removeAttribute("aria-invalid");
        show($("merge-error"), "");
        s.name = target.metadata.name;
        s.namespace = target.metadata.namespace || "";
        const template = (target.spec && target.spec.template && target.spec.template.metadata) || {};
        s.scope = scopeOf(Object.assign({}, template.annotations, target.metadata.annotations));
      } catch (e) {
        fieldError("merge-input", e.message, errors);
      }
    } else {
      fieldError("name", s.scope === "strict" || mode === "yaml" ? nameProblem(s.name)
        : (s.name ? nameProblem(s.name) : null), errors);
      fieldError("namespace", namespaceProblem(s.namespace, s.scope), errors);
    }
    const values = collectRows(errors, $("allow-empty").checked);
    if (values.length === 0 && !(mode === "yaml" && $("allow-empty").checked)) {
      errors.push({ id: "add-row", message: "Add at least one value." });
    }
    if (mode === "raw" && values.length > 1) {
      errors.push({ id: "add-row", message: `Raw mode seals exactly one value; there are ${values.length}.` });
    }
    if (!crypto.subtle) errors.push({ id: "cert-url", message: "This browser offers no WebCrypto here (see the top of the page)." });
    else if (!state.cert) errors.push({ id: "cert-url", message: "Load the controller's certificate first." });
    return { mode, s, values, target };
  }

  async function seal() {
    setOutput("", "");
    $("verify-result").textContent = "";
    const errors = [];
    const { mode, s, values, target } = readForm(errors);
    showErrors(errors);
    if (errors.length) return;
    const lbl = label(s.scope, s.namespace, s.name);
    let sealed;
    try {
      sealed = await Promise.all(values.map((v) => sealValue(state.cert.key, lbl, v.bytes)));
    } catch (e) {
      showErrors([{ id: "seal", message: `Sealing failed in the browser: ${e.message}` }]);
      return;
    }
    const encryptedData = {};
    values.forEach((v, i) => { encryptedData[v.key] = sealed[i]; });
    if (mode === "raw") {
      setOutput(sealed[0], "sealed-value.txt");
    } else if (mode === "merge") {
      setOutput(mergeInto(target, encryptedData), `${s.name}.yaml`);
    } else {
      setOutput("---\n" + SealYaml.emit(sealedSecretObject(s, encryptedData)), `${s.name}.yaml`);
    }
    $("output").focus();
  }

  // The pasted SealedSecret with the new values added or replaced, in kubeseal's YAML shape.
  function mergeInto(target, encryptedData) {
    const doc = JSON.parse(JSON.stringify(target));
    doc.metadata.creationTimestamp = doc.metadata.creationTimestamp || null;
    doc.spec = doc.spec || {};
    doc.spec.encryptedData = Object.assign({}, doc.spec.encryptedData || {}, encryptedData);
    doc.spec.template = doc.spec.template || {};
    doc.spec.template.metadata = doc.spec.template.metadata || {};
    const tm = doc.spec.template.metadata;
    tm.creationTimestamp = tm.creationTimestamp || null;
    delete doc.status;
    return "---\n" + SealYaml.emit(doc);
  }

  // ---- Copy, download, verify ----

  async function copyOutput() {
    const status = $("copy-status");
    try {
      await navigator.clipboard.writeText(state.output);
      status.textContent = "Copied.";
    } catch (_) {
      $("output").select();
      status.textContent = document.execCommand("copy") ? "Copied." : "Select the text and copy it yourself.";
    }
  }

  function downloadOutput() {
    const blob = new Blob([state.output], { type: "application/yaml" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = state.outputName || "sealed-secret.yaml";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  async function verify(text) {
    const result = $("verify-result");
    if (location.protocol === "file:") {
      result.textContent = "Verify needs the page served by the controller; opened from disk it cannot reach one.";
      result.className = "problem";
      return;
    }
    let doc;
    try {
      doc = sealedSecretFromText(text);
    } catch (e) {
      result.textContent = e.message;
      result.className = "problem";
      return;
    }
    result.textContent = "Asking the controller ...";
    result.className = "";
    let resp;
    try {
      resp = await fetch("v1/verify", {
        method: "POST", body: JSON.stringify(doc), headers: { "Content-Type": "application/json" },
        cache: "no-store", redirect: "error",
      });
    } catch (e) {
      result.textContent = `Cannot reach the controller: ${e.message}.`;
      result.className = "problem";
      return;
    }
    const messages = {
      200: ["The controller can open this SealedSecret.", ""],
      409: ["The controller cannot open this SealedSecret: it was sealed with another key, or for another name, namespace or scope.", "problem"],
      429: ["The controller limits verify requests: wait a second and try again.", "warning"],
    };
    const [text2, cls] = messages[resp.status] ||
      [`The controller answered ${resp.status}: ${(await resp.text()).trim()}`, "problem"];
    result.textContent = text2;
    result.className = cls;
  }

  // ---- Wiring ----

  function init() {
    if (!window.crypto || !crypto.subtle) $("crypto-missing").hidden = false;
    const fromDisk = location.protocol === "file:";
    if (fromDisk) $("single-file-note").hidden = true;
    $("fetch-cert").addEventListener("click", fetchCertificate);
    $("use-cert").addEventListener("click", () => useCertificate($("cert-pem").value, "the pasted text"));
    $("cert-file").addEventListener("change", async (ev) => {
      const file = ev.target.files && ev.target.files[0];
      if (!file) return;
      if (file.size > 1024 * 1024) {
        $("cert-status").textContent = `${file.name} is too large to be a certificate.`;
        $("cert-status").className = "problem";
        return;
      }
      await useCertificate(await file.text(), file.name);
    });
    $("add-row").addEventListener("click", () => addRow().querySelector(".kv-key").focus());
    $("load-manifest").addEventListener("click", loadManifest);
    for (const r of document.querySelectorAll('input[name="mode"]')) {
      r.addEventListener("change", () => { $("merge-box").hidden = selected("mode") !== "merge"; });
    }
    $("seal").addEventListener("click", () => {
      seal().catch((e) => showErrors([{ id: "seal", message: `Unexpected problem: ${e.message}` }]));
    });
    $("copy").addEventListener("click", copyOutput);
    $("download").addEventListener("click", downloadOutput);
    $("verify").addEventListener("click", () => verify($("verify-input").value));
    $("verify-output").addEventListener("click", () => verify(state.output));
    addRow();
    document.body.dataset.ready = "true";
    if (fromDisk) {
      $("cert-url").value = "";
      $("cert-status").textContent = "Opened from disk: load or paste the controller's certificate (kubeseal --fetch-cert > cert.pem).";
    } else {
      fetchCertificate();
    }
  }

  init();
})();
