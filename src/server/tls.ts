/**
 * TLS for the server: reading certificate files (`--certfile`, `--keyfile`,
 * `--ca-certs`) and a self-signed development certificate for localhost,
 * generated once with `selfsigned` and cached under the user's cache
 * directory (`$XDG_CACHE_HOME/tsgi` or `~/.cache/tsgi`).
 * @module
 */
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { shellQuote } from "./shell.ts";
import { readTlsFile, readTlsFileSync } from "./tls-file.ts";

/**
 * What the server hands to `Bun.listen({ tls })`: PEM text. The subset of
 * Bun's `TLSOptions` that tsgi sets. An optional property given as
 * `undefined` (read from an unset flag) is absent: it is left out of what
 * Bun is given.
 */
export interface TlsConfig {
  /** Certificate chain, PEM (leaf first). */
  cert: string;
  /** Private key, PEM. */
  key: string;
  /** Passphrase of an encrypted `key`. Default none (the key is not encrypted). */
  passphrase?: string | undefined;
  /**
   * CA certificates (PEM) that client certificates are verified against.
   * Alone it asks clients for nothing: set `requestCert` too ({@link loadTls}
   * sets both for `caCerts`). Default none.
   */
  ca?: string | undefined;
  /** Ask clients for a certificate. Default false, even with `ca` ({@link loadTls} sets it for `caCerts`). */
  requestCert?: boolean | undefined;
  /**
   * With `requestCert`, refuse the handshake of a client without a valid
   * certificate (logged once per reason as a warning). `false` lets it in,
   * with `SSL_CLIENT_VERIFY` `NONE` (no certificate) or `FAILED:<reason>`.
   * Default true, Bun's (as Node's `tls.createServer`); {@link loadTls} sets
   * it from `requireClientCert` (gunicorn `cert_reqs` CERT_REQUIRED is the
   * useful setting for `--ca-certs`).
   */
  rejectUnauthorized?: boolean | undefined;
}

/** Files for {@link loadTls} (gunicorn's `certfile`, `keyfile`, `ca_certs`). */
export interface TlsFiles {
  /** PEM certificate (chain) file. */
  certfile: string;
  /** PEM private key file. */
  keyfile: string;
  /** PEM file of CA certificates for client certificates; turns on client authentication. */
  caCerts?: string | undefined;
  /** Passphrase of an encrypted key. */
  passphrase?: string | undefined;
  /** With `caCerts`: refuse clients without a valid certificate. Default true. */
  requireClientCert?: boolean | undefined;
}

/**
 * The `code` of {@link loadTls}'s error for an encrypted key file given no
 * passphrase, for a caller that cannot give one (`tsgi serve`) to say what
 * to do instead.
 */
export const KEY_ENCRYPTED = "ERR_TSGI_KEY_ENCRYPTED";

/** The PEM blocks {@link readPem} looks for: their `-----BEGIN` label, and what the message calls them. */
const PEM_KINDS = {
  certificate: { label: /-----BEGIN [A-Z ]*CERTIFICATE-----/, holds: "a certificate" },
  key: { label: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, holds: "a private key" },
} as const;

/**
 * Read a PEM file that must hold a block of `kind`, without the byte order
 * marks that start its lines (UTF-8 BOM, which OpenSSL does not skip: one
 * saved file's, or several files' joined with `cat`).
 * @param read reads the file's bytes (`tls-file.ts`: a regular file, or a pipe within its caps).
 * @param swappable the file is the certificate or the key file, whose
 *   mix-up gets a hint when it holds the other kind.
 * @throws Error naming the file when it cannot be read (a directory given: said so), is over 1 MiB, is a device or a socket
 *   (refused before it is opened, as reading it would block or never end), a pipe that ends empty, gives over
 *   1 MiB or no end of file within 30 s, or a named pipe nothing writes to, is DER (binary:
 *   the conversion command given), holds no PEM block,
 *   has two blocks on one line (joined from a file without a final newline),
 *   a block without its `-----END` line or its `-----BEGIN` line (cut short),
 *   holds PEM blocks of another kind only (say a private key given as
 *   the certificate: the two files swapped), or a certificate that does not parse.
 */
function readPem(path: string, what: string, kind: keyof typeof PEM_KINDS, read: ReadTlsFile, swappable = false): string {
  let bytes: Buffer;
  try {
    bytes = read(path, what);
  } catch (error) {
    if (!(error as { code?: string }).code) throw error;
    const code = (error as { code?: string }).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? `it is a directory; give the PEM file in it (certbot's live/<name>/ holds fullchain.pem, the certificate chain, and privkey.pem, the key)`
            : (error as Error).message;
    throw new Error(`cannot read ${what} ${path}: ${why}`);
  }
  const der = derHint(bytes, path, kind, what.startsWith("CA") ? "ca.pem" : "cert.pem");
  if (der) throw new Error(`${what} ${path} ${der}`);
  let text = bytes.toString("utf8");
  // A byte order mark (a file saved by a Windows editor): OpenSSL takes the line it starts for text, not the
  // block's start: it refuses the certificate or the key (NO_START_LINE), or, at the start of a later block
  // (cat cert.pem chain.pem, chain.pem saved with one), drops that block without a word (the intermediate lost).
  text = text.replace(/(^|\n)\uFEFF+/g, "$1");
  // (A BOM between them too: the second file was saved with one, and it is not at the start of a line.)
  const glued = /-----END ([A-Z0-9 ]+)-----[ \t\uFEFF]*(-----BEGIN ([A-Z0-9 ]+)-----)/.exec(text);
  if (glued) {
    // OpenSSL reads such a file up to the glued line only, or not at all (BAD_END_LINE): say where and why.
    const line = text.slice(0, glued.index).split("\n").length;
    throw new Error(`${what} ${path} has "-----END ${glued[1]}-----" and the next "${glued[2]}" on one line (line ${line}): a file joined from one without a final newline; put a line break between them`);
  }
  const unpaired = unpairedMarker(text);
  if (unpaired) throw new Error(`${what} ${path} ${unpaired}`);
  const want = PEM_KINDS[kind];
  if (want.label.test(text)) {
    if (kind === "certificate") checkCertificates(text, path, what);
    return text;
  }
  const found = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
  if (found === undefined) throw new Error(`${what} ${path} is not PEM (no "-----BEGIN ...-----" block)`);
  const swapped = swappable && Object.values(PEM_KINDS).some((k) => k !== want && k.label.test(text));
  throw new Error(`${what} ${path} holds a ${found} (PEM), not ${want.holds}${swapped ? ": were the certificate and key files swapped?" : ""}`);
}

/**
 * What a binary file given for a PEM one holds, and the command that
 * converts it: a DER certificate (`.der`, `.cer`, `.crt` from Windows or
 * Java tooling), a DER private key (PKCS #8, PKCS #1 or SEC 1), an
 * encrypted one (PKCS #8), a PKCS #7 bundle of certificates (`.p7b`), or
 * another ASN.1 structure, most often a PKCS #12 bundle (`.p12`, `.pfx`). OpenSSL's
 * PEM reader says only `NO_START_LINE` for these.
 * @param certOut the PEM file the conversion command writes a certificate to (`cert.pem`, `ca.pem`).
 * @returns the message's end (after the file's name), or `null` when `bytes` is not an ASN.1 SEQUENCE (DER starts with 0x30) or is PEM text.
 */
function derHint(bytes: Buffer, path: string, kind: keyof typeof PEM_KINDS, certOut: string): string | null {
  if (bytes.length < 2 || bytes[0] !== 0x30 || bytes.includes("-----BEGIN ")) return null;
  try {
    new X509Certificate(bytes);
    const convert = `openssl x509 -inform DER -in ${shellQuote(path)} -out ${kind === "certificate" ? certOut : "cert.pem, and give that as the certificate"}`;
    return `holds a DER (binary) certificate, not PEM${kind === "key" ? " (and not a private key)" : ""}: convert it once (${convert})`;
  } catch {
    // not a certificate
  }
  for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
    try {
      createPrivateKey({ key: bytes, format: "der", type });
      const convert = `openssl pkey -inform DER -in ${shellQuote(path)} -out ${kind === "key" ? "key.pem" : "key.pem, and give that as the key"}`;
      return `holds a DER (binary) private key, not PEM${kind === "certificate" ? " (and not a certificate)" : ""}: convert it once (${convert})`;
    } catch {
      // not a key of this type
    }
  }
  const structure = derStructure(bytes);
  if (structure === "pkcs7") {
    const out = kind === "certificate" ? certOut : "cert.pem, and give that as the certificate";
    return `holds a PKCS #7 bundle of certificates (.p7b, .p7c; DER), not PEM${kind === "key" ? " (and not a private key)" : ""}: take the certificates out of it once (openssl pkcs7 -inform DER -in ${shellQuote(path)} -print_certs -out ${out})`;
  }
  if (structure === "encrypted-key") {
    const convert = `openssl pkey -inform DER -in ${shellQuote(path)} -out ${kind === "key" ? "key.pem" : "key.pem, and give that as the key"}; it asks for the passphrase`;
    return `holds an encrypted DER (binary) private key (PKCS #8), not PEM${kind === "certificate" ? " (and not a certificate)" : ""}: decrypt and convert it once (${convert})`;
  }
  return `is binary (DER), not PEM: a PKCS #12 bundle (.p12, .pfx)? Take the PEM files out of it once (openssl pkcs12 -in ${shellQuote(path)} -nokeys -out cert.pem; openssl pkcs12 -in ${shellQuote(path)} -nocerts -nodes -out key.pem)`;
}

/** DER of the OIDs {@link derStructure} tells by: PKCS #7 signedData (1.2.840.113549.1.7.2), and the PKCS #5 (1.2.840.113549.1.5) and PKCS #12 (1.2.840.113549.1.12.1) encryption schemes. */
const OID_PKCS7_SIGNED_DATA = "2a864886f70d010702";
const OID_PKCS5_PREFIX = "2a864886f70d0105";
const OID_PKCS12_PBE_PREFIX = "2a864886f70d010c01";

/** The DER element at `offset`: its tag and where its contents start and end, or null when its header runs past `bytes`. */
function derElement(bytes: Buffer, offset: number): { tag: number; start: number; end: number } | null {
  if (offset + 2 > bytes.length) return null;
  const first = bytes[offset + 1]!;
  let length = first;
  let start = offset + 2;
  if (first >= 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4 || start + n > bytes.length) return null;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[start + i]!;
    start += n;
  }
  return { tag: bytes[offset]!, start, end: start + length };
}

/**
 * What an ASN.1 SEQUENCE that is neither a certificate nor a plain key
 * holds, told by its first element (RFC 2315 §7, RFC 5958 §3, RFC 7292 §4):
 * a PKCS #7 ContentInfo of signedData (a `.p7b` of certificates, as the
 * Windows certificate export offers), an EncryptedPrivateKeyInfo (its
 * algorithm a PKCS #5 or PKCS #12 scheme), or something else (a PKCS #12
 * bundle, PFX, starts with its version, 3).
 */
function derStructure(bytes: Buffer): "pkcs7" | "encrypted-key" | "other" {
  const outer = derElement(bytes, 0);
  const first = outer && derElement(bytes, outer.start);
  if (!first || first.end > bytes.length) return "other";
  if (first.tag === 0x06 && bytes.subarray(first.start, first.end).toString("hex") === OID_PKCS7_SIGNED_DATA) return "pkcs7";
  const algorithm = first.tag === 0x30 ? derElement(bytes, first.start) : null;
  if (algorithm && algorithm.tag === 0x06 && algorithm.end <= bytes.length) {
    const oid = bytes.subarray(algorithm.start, algorithm.end).toString("hex");
    if (oid.startsWith(OID_PKCS5_PREFIX) || oid.startsWith(OID_PKCS12_PBE_PREFIX)) return "encrypted-key";
  }
  return "other";
}

/**
 * The first PEM marker of `text` without its partner: a `-----BEGIN X-----`
 * line not followed by its `-----END X-----` before the next block or the
 * end of the file (a block cut short: a truncated download or copy), or an
 * `-----END X-----` line with no `-----BEGIN X-----` before it (a block
 * whose start is missing). OpenSSL skips a block whose start is missing and
 * reads a file with a block cut short up to it, or not at all (`listen()`
 * then fails with `Invalid CA` or `BAD_END_LINE`, naming no file), so a CA
 * or an intermediate would be lost without a word. Text outside blocks
 * (comments, `openssl x509 -text` dumps) is not looked at. RFC 7468 section 2.
 * @returns what is wrong, with the line number, or `null` when every block is whole.
 */
function unpairedMarker(text: string): string | null {
  const lineOf = (index: number) => text.slice(0, index).split("\n").length;
  let open: { label: string; index: number } | null = null;
  for (const m of text.matchAll(/-----(BEGIN|END) ([A-Z0-9 ]+)-----/g)) {
    const [marker, kind, label] = m as unknown as [string, "BEGIN" | "END", string];
    if (kind === "BEGIN") {
      if (open) break;
      open = { label, index: m.index };
    } else if (open?.label === label) {
      open = null;
    } else if (open === null) {
      return `has "${marker}" (line ${lineOf(m.index)}) with no "-----BEGIN ${label}-----" before it: the start of the block is missing (a truncated copy?); copy the whole block again, from its "-----BEGIN" line`;
    } else {
      break;
    }
  }
  if (open === null) return null;
  return `has "-----BEGIN ${open.label}-----" (line ${lineOf(open.index)}) with no "-----END ${open.label}-----" after it: the block is cut short (a truncated download or copy); copy the whole block again, to its "-----END" line`;
}

/**
 * Parse each `CERTIFICATE` block of a PEM file, so that a broken one (a
 * truncated intermediate, a CA bundle edited by hand) fails at start with
 * the file's name rather than as a bind error (`Invalid CA`) at `listen()`.
 * @throws Error naming the file, the block's number and OpenSSL's reason.
 */
function checkCertificates(text: string, path: string, what: string): void {
  const blocks = text.match(CERTIFICATE_BLOCK) ?? [];
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new Error(`${what} ${path}: certificate ${i + 1} of ${blocks.length} is not valid: ${(error as Error).message}`);
    }
  });
}

/** One PEM `CERTIFICATE` block (not `TRUSTED CERTIFICATE`). */
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/** Reads a TLS file's bytes; `what` is its role, for messages. */
type ReadTlsFile = (path: string, what: string) => Buffer;

/**
 * Read certificate, key and optional CA files into a {@link TlsConfig}.
 * The certificate is parsed so that a broken file fails here, with its name,
 * rather than at the first handshake. A file may be a pipe (`/dev/fd/63` from
 * bash's `--keyfile <(sops -d key.enc)`, `/dev/stdin`, a named pipe a writer
 * fills), read once to its end within 30 s and 1 MiB (the same path given
 * twice is read once); while it waits the thread is blocked ({@link loadTlsFiles} is not).
 * A regular file over 1 MiB is refused unread.
 * @throws Error naming the file when one is missing, unreadable, not PEM,
 *   over 1 MiB, a device or a socket, a pipe that ends empty or not in time, a PEM file of the other kind (the certificate and key files swapped),
 *   when the key is encrypted and no (`code` {@link KEY_ENCRYPTED}) or the wrong passphrase was given, or
 *   when the key does not match the certificate (or matches one further down
 *   the file: the chain in the wrong order, said so).
 */
export function loadTls(files: TlsFiles): TlsConfig {
  return buildTls(files, once(new Map(), readTlsFileSync));
}

/**
 * {@link loadTls} that waits on a pipe with timers, so that the process
 * answers its signals meanwhile (`tsgi serve`: a SIGTERM while `sops` asks a
 * key service stops it at once).
 * @throws as {@link loadTls}.
 */
export async function loadTlsFiles(files: TlsFiles): Promise<TlsConfig> {
  const read = new Map<string, Buffer | Error>();
  const roles: [string | undefined, string][] = [[files.certfile, "certificate file"], [files.keyfile, "key file"], [files.caCerts, "CA certificates file"]];
  for (const [path, what] of roles) {
    if (path === undefined || read.has(path)) continue;
    try {
      read.set(path, await readTlsFile(path, what));
    } catch (error) {
      read.set(path, error as Error); // thrown, with its file's name, where loadTls reads it
      break;
    }
  }
  return buildTls(files, once(read, readTlsFileSync));
}

/** `read` with each path read once, into `read` (a pipe gives its bytes once: `--certfile /dev/stdin --keyfile /dev/stdin` for one PEM holding both). */
function once(known: Map<string, Buffer | Error>, read: ReadTlsFile): ReadTlsFile {
  return (path, what) => {
    let got = known.get(path);
    if (got === undefined) {
      try {
        got = read(path, what);
      } catch (error) {
        got = error as Error;
      }
      known.set(path, got);
    }
    if (got instanceof Error) throw got;
    return got;
  };
}

/** {@link loadTls} with the files' bytes from `read`. */
function buildTls(files: TlsFiles, read: ReadTlsFile): TlsConfig {
  const cert = readPem(files.certfile, "certificate file", "certificate", read, true);
  const key = readPem(files.keyfile, "key file", "key", read, true);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`certificate file ${files.certfile} holds no valid certificate: ${(error as Error).message}`);
  }
  // The key too, here with its file's name, rather than as a bind error at listen().
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(files.passphrase ? { key, passphrase: files.passphrase } : key);
  } catch (error) {
    const encrypted = /ENCRYPTED/.test(key);
    if (encrypted && !files.passphrase) {
      throw Object.assign(new Error(`key file ${files.keyfile} is encrypted: give its passphrase, or decrypt it (openssl pkey -in ${shellQuote(files.keyfile)} -out key.pem)`), { code: KEY_ENCRYPTED });
    }
    throw new Error(`key file ${files.keyfile} holds no usable private key${encrypted ? " (wrong passphrase?)" : ""}: ${(error as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    // The key's certificate further down: a chain written in the wrong order (the server's own must come first).
    const chain = certificatesIn(cert);
    const at = chain.findIndex((c) => c.checkPrivateKey(privateKey));
    if (at > 0) {
      const cn = (c: X509Certificate) => c.subject.split("\n").join("/");
      throw new Error(
        `certificate file ${files.certfile} has the certificate of key file ${files.keyfile} ${ORDINALS[at] ?? `number ${at + 1}`} (${cn(chain[at]!)}), after ${cn(chain[0]!)}: ` +
          "the server's own certificate must come first, then the intermediates (cat cert.pem chain.pem)",
      );
    }
    throw new Error(`key file ${files.keyfile} does not match the certificate in ${files.certfile}`);
  }
  const config: TlsConfig = { cert, key };
  if (files.passphrase) config.passphrase = files.passphrase;
  if (files.caCerts) {
    config.ca = readPem(files.caCerts, "CA certificates file", "certificate", read);
    config.requestCert = true;
    config.rejectUnauthorized = files.requireClientCert ?? true;
  }
  return config;
}

const ORDINALS = ["first", "second", "third", "fourth", "fifth"];

/** The certificates of a PEM text, in its order; a block that does not parse is skipped. */
function certificatesIn(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const block of pem.match(CERTIFICATE_BLOCK) ?? []) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      // not a certificate after all: left out
    }
  }
  return out;
}

/**
 * What a failed TLS handshake most likely means, for the server's log, from
 * the reason Bun gives: an OpenSSL (BoringSSL) reason code, a certificate
 * verification message (`certificate has expired`), or a socket message.
 * An alert the client sent (`TLSV1_ALERT_UNKNOWN_CA`, RFC 8446 section 6.2)
 * is its verdict on this server's certificate, never on its own, with or
 * without client certificates; verification messages judge the client's
 * certificate (they come only with `requestCert`).
 * @param requestCert whether the server asks clients for certificates.
 */
export function tlsFailureCause(reason: string, requestCert: boolean): string {
  if (/HTTP_REQUEST|HTTPS_PROXY_REQUEST/.test(reason)) {
    // nginx answers 400 here; Bun's TLS layer has read the bytes and closes the socket: nothing can be sent.
    return "a client spoke plain HTTP to this HTTPS port; its connection was closed with no answer (clients get an empty reply): give it an https:// URL (a load balancer's health check or a proxy_pass set to http:// for this port?)";
  }
  if (/NO_APPLICATION_PROTOCOL/.test(reason)) return "the client offered no protocol this server speaks by ALPN (it speaks http/1.1; an h2-only client)";
  if (/UNSUPPORTED_PROTOCOL|PROTOCOL_VERSION/.test(reason)) {
    return "the client offered only protocol versions this server does not speak (SSL 3.0, TLS 1.0 or 1.1; it speaks TLS 1.2 and 1.3): an outdated client or TLS library";
  }
  if (/NO_SHARED_CIPHER|NO_SHARED_GROUP|WRONG_CURVE|NO_COMMON_SIGNATURE_ALGORITHMS/.test(reason)) {
    return "the client and this server share no cipher suite (or key exchange group, or signature algorithm): an outdated client, or one limited to ciphers this server does not offer";
  }
  const alert = /ALERT_([A-Z_]+)/.exec(reason)?.[1];
  if (alert !== undefined) {
    if (alert.includes("CERTIFICATE_EXPIRED")) return "the client refused this server's certificate as expired (renew it; see the certificate's dates with openssl x509 -noout -dates)";
    if (/CERTIFICATE|UNKNOWN_CA/.test(alert)) return UNTRUSTED_SERVER;
  }
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/.test(reason)) {
    return "the client sent no certificate, and this server requires one signed by its CA certificates (--ca-certs)";
  }
  if (requestCert && alert === undefined) {
    if (/has expired/i.test(reason)) return "the client's certificate has expired";
    if (/not yet valid/i.test(reason)) return "the client's certificate is not valid yet (the clock of the machine that issued it, or of this one, is wrong?)";
    if (/CERTIFICATE|UNKNOWN_CA|issuer|self[- ]signed|verify|signature/i.test(reason)) return "the client's certificate is not signed by this server's CA certificates (--ca-certs)";
  }
  if (/CERTIFICATE|UNKNOWN_CA/i.test(reason)) return UNTRUSTED_SERVER;
  if (/disconnected before secure TLS/i.test(reason)) {
    return "the client closed the connection during the handshake (it may not trust this server's certificate, or it is a TCP health check)";
  }
  // BAD_PACKET_LENGTH and the like: what curl, Python and OpenSSL clients send when they reject the certificate, or garbage.
  return "the client gave up on the handshake (it may not trust this server's certificate) or does not speak TLS";
}

/**
 * What a TLS protocol error on an established connection (Bun's `EPROTO`
 * socket error) most likely means, for the server's log: a renegotiation
 * the client asked for in TLS 1.2 (refused: Bun's BoringSSL does not
 * renegotiate as a server, as nginx does not; TLS 1.3 has none), or a
 * record that does not decrypt (a client or middlebox that corrupts or
 * forges records; RFC 8446 section 5.2).
 * @param reason the error's message (an OpenSSL reason code).
 */
export function tlsProtocolErrorCause(reason: string): string {
  if (/RENEGOTIATION/.test(reason)) return "the client asked to renegotiate, which this server does not do";
  if (/DECRYPTION_FAILED|BAD_RECORD_MAC|DECRYPT/.test(reason)) return "a record from the client did not decrypt (corrupted or forged on the way)";
  return "the client broke the TLS protocol";
}

const UNTRUSTED_SERVER = "the client does not trust this server's certificate (self-signed, its CA not given to the client, or the intermediates missing from the certificate file)";

/**
 * A warning for a server certificate that clients will refuse for its dates:
 * expired, or not valid yet (a clock set wrong, or a certificate issued for
 * later); or for an intermediate of the chain that is (a stale chain.pem
 * joined to a renewed certificate, an expired cross-signed intermediate):
 * a client that builds its path through it refuses the chain (curl and
 * OpenSSL: "certificate has expired"), though the server's own certificate
 * is valid. Nothing in `loadTls` refuses such a chain (gunicorn and nginx
 * serve it too); without this the only sign is handshakes failing.
 * @param certPem the certificate chain, PEM: each certificate is checked, the server's own (the first) before the intermediates.
 * @param certfile the file's name, for the message.
 * @param now the time to check against, ms since the epoch. Default now.
 * @returns the warning's text for the first certificate out of its dates, or `null` when all are valid at `now` (or none parses).
 */
export function certificateDateWarning(certPem: string, certfile: string, now: number = Date.now()): string | null {
  const chain = certificatesIn(certPem);
  for (const [i, x509] of chain.entries()) {
    const name = x509.subject.split("\n").join("/");
    const from = new Date(x509.validFrom);
    const to = new Date(x509.validTo);
    if (i === 0) {
      if (now > to.getTime()) {
        return `the certificate in ${certfile} (${name}) expired on ${to.toISOString()}: clients refuse it. Renew it, then restart or reload (SIGHUP with --workers)`;
      }
      if (now < from.getTime()) {
        return `the certificate in ${certfile} (${name}) is not valid before ${from.toISOString()}: clients refuse it until then. Is this machine's clock right (now ${new Date(now).toISOString()})?`;
      }
      continue;
    }
    const which = `the ${ORDINALS[i] ?? `number ${i + 1}`} certificate in ${certfile}, an intermediate (${name}),`;
    const refuse = "clients that build the chain through it refuse the server's certificate (curl and OpenSSL do)";
    if (now > to.getTime()) {
      return `${which} expired on ${to.toISOString()}: ${refuse}. Put your CA's current intermediate after the certificate (certbot: fullchain.pem), then restart or reload (SIGHUP with --workers)`;
    }
    if (now < from.getTime()) {
      return `${which} is not valid before ${from.toISOString()}: ${refuse} until then. Is this machine's clock right (now ${new Date(now).toISOString()})?`;
    }
  }
  return null;
}

/** The SHA-256 fingerprint of a PEM certificate, `AB:CD:...` (what browsers show). */
export function fingerprint256(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** The directory for tsgi's cached files: `$XDG_CACHE_HOME/tsgi`, else `~/.cache/tsgi`. */
export function cacheDir(env: Record<string, string | undefined> = process.env): string {
  const base = env["XDG_CACHE_HOME"] && env["XDG_CACHE_HOME"].startsWith("/") ? env["XDG_CACHE_HOME"] : join(env["HOME"] || homedir(), ".cache");
  return join(base, "tsgi");
}

/** A development certificate: {@link TlsConfig} plus where it is and what it is. */
export interface DevCertificate extends TlsConfig {
  /** Path of the cached certificate (give it to `curl --cacert`). */
  certfile: string;
  /** Path of the cached private key (mode 0600). */
  keyfile: string;
  /** SHA-256 fingerprint, `AB:CD:...`. */
  fingerprint: string;
  /** `true` when it was generated by this call, `false` when read from the cache. */
  created: boolean;
  /** Expiry date. */
  validTo: Date;
}

/** Names the development certificate is valid for (subjectAltName). */
export const DEV_CERT_HOSTS = ["localhost", "127.0.0.1", "::1"] as const;
/** Lifetime of a generated development certificate (days). */
export const DEV_CERT_DAYS = 365;
/** A cached certificate this close to expiry is replaced (ms). */
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

/**
 * The self-signed development certificate for localhost, 127.0.0.1 and ::1
 * (`tsgi --https` without files): read from `dir` when a valid one is cached
 * there (valid now, and for more than 7 days yet), else generated (EC P-256, SHA-256, 365 days) with `selfsigned` and
 * written as `localhost-cert.pem` and `localhost-key.pem` (key mode 0600).
 * Processes starting together on an empty cache generate one pair between
 * them (a `localhost.lock` file), so all serve the same certificate.
 * Never for production: clients trust it only when told to (`curl --cacert`).
 *
 * @param dir cache directory; default {@link cacheDir}.
 * @throws Error naming `dir`, the reason and the code when the directory cannot be created or written (`EACCES`, `EROFS`, ...).
 */
export async function devCertificate(dir: string = cacheDir()): Promise<DevCertificate> {
  const certfile = join(dir, "localhost-cert.pem");
  const keyfile = join(dir, "localhost-key.pem");
  const cached = await readCached(certfile, keyfile);
  if (cached) return cached;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // One process generates at a time (two `--https` servers started together
    // would otherwise each write their own pair, and serve different ones).
    const release = await lockFile(join(dir, "localhost.lock"));
    try {
      return (await readCached(certfile, keyfile)) ?? (await generateDevCertificate(certfile, keyfile));
    } finally {
      release();
    }
  } catch (error) {
    const e = error as { code?: string; path?: string; message?: string };
    if (!e?.code) throw error;
    // A service user's home is often missing or read-only (nobody's /nonexistent): say where, and where else.
    const why = e.code === "EACCES" || e.code === "EPERM" ? "permission denied" : e.code === "EROFS" ? "read-only file system" : e.code === "ENOTDIR" ? "a part of the path is not a directory" : (e.message ?? e.code);
    throw new Error(
      `cannot keep the development certificate in ${dir}: ${why}${e.path && e.path !== dir ? ` (${e.path})` : ""} (${e.code}); set XDG_CACHE_HOME to a directory this user can write`,
      { cause: error },
    );
  }
}

/**
 * The cached pair when both files are there, match, are valid already (not after a clock set back
 * before the certificate's notBefore: clients would refuse it as not yet valid) and are not due for
 * renewal; else `null`.
 */
async function readCached(certfile: string, keyfile: string): Promise<DevCertificate | null> {
  if (!existsSync(certfile) || !existsSync(keyfile)) return null;
  try {
    const cert = readFileSync(certfile, "utf8");
    const key = readFileSync(keyfile, "utf8");
    const x509 = new X509Certificate(cert);
    const validTo = new Date(x509.validTo);
    const now = Date.now();
    if (new Date(x509.validFrom).getTime() <= now && validTo.getTime() - now > RENEW_BEFORE_MS && x509.checkPrivateKey(createPrivateKey(key))) {
      return { cert, key, certfile, keyfile, fingerprint: x509.fingerprint256, created: false, validTo };
    }
  } catch {
    // unreadable or broken cache: a new pair is generated
  }
  return null;
}

/** How long a process waits for another one's certificate lock, ms; a lock older than this is taken as left by a dead process. */
const LOCK_WAIT_MS = 15_000;

/**
 * Take `path` as an exclusive lock (created with `O_EXCL`), waiting while
 * another process holds it; a lock older than {@link LOCK_WAIT_MS}, or one
 * this process has waited on that long (the same lock file: a lock another
 * waiter took meanwhile is waited on afresh), is stale and replaced. A
 * process that exits holding it (a stop signal while it generates) removes
 * it on the way out, so the next start does not wait.
 * @returns the function that releases it.
 */
async function lockFile(path: string): Promise<() => void> {
  // The lock waited on (its inode and mtime) and since when, on the monotonic clock: a wall clock set
  // back meanwhile would stretch the wait by as much. A lock's age compares the wall clock with its
  // file's mtime, which is wall-clock time. Processes that waited on the same stale lock all reach
  // their deadline together: the first replaces it, and the others wait on its lock, not take it too
  // (each would then generate and serve its own pair).
  let held = "";
  let since = 0;
  for (;;) {
    try {
      closeSync(openSync(path, "wx", 0o600));
      const release = () => {
        process.off("exit", release);
        rmSync(path, { force: true });
      };
      process.on("exit", release);
      return release;
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
    }
    let age = 0;
    try {
      const st = statSync(path);
      age = Date.now() - st.mtimeMs;
      const lock = `${st.ino}:${st.mtimeMs}`;
      if (lock !== held) {
        held = lock;
        since = performance.now();
      }
    } catch {
      continue; // released meanwhile
    }
    if (age > LOCK_WAIT_MS || performance.now() - since > LOCK_WAIT_MS) rmSync(path, { force: true });
    else await Bun.sleep(50);
  }
}

/** Generate a new localhost pair and write it (key, then certificate, each by rename). */
async function generateDevCertificate(certfile: string, keyfile: string): Promise<DevCertificate> {
  const { generate } = await import("selfsigned");
  const notAfter = new Date(Date.now() + DEV_CERT_DAYS * 24 * 3600 * 1000);
  const pems = await generate([{ name: "commonName", value: "localhost" }, { name: "organizationName", value: "tsgi development certificate" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(Date.now() - 60_000),
    notAfterDate: notAfter,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }] },
    ],
  });
  // Write then rename, so a concurrent reader never sees half a file. Each
  // PEM ends with a line break, so that `cat cert.pem other.pem > bundle.pem`
  // does not glue two blocks on one line (which loadTls refuses).
  const tmp = `.${process.pid}.tmp`;
  const endLine = (pem: string): string => (pem.endsWith("\n") ? pem : `${pem}\n`);
  const cert = endLine(pems.cert);
  const key = endLine(pems.private);
  writeFileSync(keyfile + tmp, key, { mode: 0o600 });
  chmodSync(keyfile + tmp, 0o600);
  writeFileSync(certfile + tmp, cert, { mode: 0o644 });
  renameSync(keyfile + tmp, keyfile);
  renameSync(certfile + tmp, certfile);
  const x509 = new X509Certificate(cert);
  return {
    cert,
    key,
    certfile,
    keyfile,
    fingerprint: x509.fingerprint256,
    created: true,
    validTo: new Date(x509.validTo),
  };
}


