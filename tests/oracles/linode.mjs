// @linode/kubeseal-encrypt 1.0.1 behind the oracle CLI (run through the `oracle` wrapper).
//
//   seal-raw --impl linode --cert CERT.pem --label NAMESPACE   stdin: UTF-8 text -> base64, one line
//
// Quirks (read from the package's dist/index.js):
// - Its only public entry point is encryptSecretItem(spkiPem, namespace, text): the OAEP label
//   is always the namespace, so only namespace-wide sealing is possible (no strict, no
//   cluster-wide: an empty namespace is rejected by its validateNamespace).
// - The namespace must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ and be at most 63 chars.
// - The key must be a "BEGIN PUBLIC KEY" (SPKI) PEM; a certificate is converted here with
//   node's X509Certificate. ("BEGIN RSA PUBLIC KEY" passes its PEM check but is then imported
//   as SPKI and fails.)
// - The plaintext is a JS string that it UTF-8-encodes (TextEncoder), so arbitrary bytes
//   cannot be sealed: stdin is decoded as strict UTF-8 (BOM kept) and rejected otherwise.
// - Uses WebCrypto (globalThis.crypto.subtle); ESM package with a CJS build, loaded here with
//   require() so that NODE_PATH (set by the wrapper) resolves it.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';

const require = createRequire(import.meta.url);

function die(msg, code = 1) {
  process.stderr.write(`oracle: ${msg}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const [cmd, ...rest] = argv;
  const opts = {};
  for (let i = 0; i < rest.length; i++) {
    let a = rest[i];
    let v;
    if (!a.startsWith('--')) die(`unexpected argument ${a}`, 2);
    const eq = a.indexOf('=');
    if (eq >= 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    } else {
      if (i + 1 >= rest.length) die(`missing value for ${a}`, 2);
      v = rest[++i];
    }
    opts[a.slice(2)] = v;
  }
  return { cmd, opts };
}

function spkiPem(path) {
  const pem = readFileSync(path, 'utf8');
  if (pem.includes('-----BEGIN CERTIFICATE-----')) {
    return new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'pem' });
  }
  return pem;
}

async function main() {
  const { cmd, opts } = parseArgs(process.argv.slice(2));
  if (cmd !== 'seal-raw') die(`linode supports only seal-raw, not ${cmd}`, 2);
  for (const k of ['cert', 'label']) if (opts[k] === undefined) die(`--${k} is required`, 2);
  if (opts.impl !== undefined && opts.impl !== 'linode') die(`--impl must be linode here`, 2);
  for (const k of Object.keys(opts)) {
    if (!['impl', 'cert', 'label'].includes(k)) die(`unknown option --${k}`, 2);
  }
  const label = opts.label;
  if (label === '' || label.includes('/')) {
    die(`linode seals namespace-wide only: --label must be a namespace, got ${JSON.stringify(label)}`);
  }
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(readFileSync(0));
  } catch (e) {
    die(`linode needs UTF-8 plaintext: ${e.message}`);
  }
  const { encryptSecretItem } = require('@linode/kubeseal-encrypt');
  const b64 = await encryptSecretItem(spkiPem(opts.cert), label, text);
  process.stdout.write(b64 + '\n');
}

main().catch((e) => die(`seal-raw failed: ${e && e.message ? e.message : e}`));
