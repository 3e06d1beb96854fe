/**
 * Environ keys for a TLS connection, read once after its handshake, with
 * mod_ssl's names as cheroot's SSL adapters set them: the protocol and
 * cipher, and, when the client presented a certificate, whether it was
 * verified and who it names.
 * @module
 */
import type { Socket } from "bun";
import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";

/** mod_ssl's short names for distinguished-name attributes (cheroot's map). */
const DN_KEYS: Record<string, string> = {
  C: "C",
  ST: "ST",
  L: "L",
  O: "O",
  OU: "OU",
  CN: "CN",
  emailAddress: "Email",
  UID: "UID",
  serialNumber: "serialNumber",
};

/**
 * The keys a TLS connection sets on each of its requests' environ:
 * - `SSL_PROTOCOL` (`TLSv1.3`) and `SSL_CIPHER` (`TLS_AES_256_GCM_SHA384`);
 * - `SSL_CLIENT_VERIFY`: `NONE` (no client certificate), `SUCCESS`, or
 *   `FAILED:<reason>` (possible only with `rejectUnauthorized: false`);
 * - with a client certificate: `SSL_CLIENT_S_DN` and `SSL_CLIENT_I_DN`
 *   (subject and issuer as `/C=../O=../CN=..`, in the certificate's order),
 *   `SSL_CLIENT_S_DN_<attr>` and `SSL_CLIENT_I_DN_<attr>` per attribute
 *   (`CN`, `O`, `OU`, `C`, `ST`, `L`, `Email`, `UID`; a repeated one as
 *   `_OU`, `_OU_1`, ... as mod_ssl), `SSL_CLIENT_M_SERIAL` (hex),
 *   `SSL_CLIENT_V_START`, `SSL_CLIENT_V_END` and `SSL_CLIENT_CERT` (PEM).
 * A key whose value Bun cannot give is left out. The names' values are
 * byte strings: their UTF-8 bytes, one latin-1 char each, as mod_ssl gives
 * UTF-8 (an application decodes them as it decodes `HTTP_*` values).
 */
export function tlsEnviron(socket: Socket<unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  const protocol = socket.getTLSVersion?.();
  if (protocol) env["SSL_PROTOCOL"] = protocol;
  const cipher = socket.getCipher?.();
  if (cipher?.name) env["SSL_CIPHER"] = cipher.name;
  const cert = socket.getPeerCertificate?.() as PeerCertificate | undefined;
  if (!cert || !cert.raw || Object.keys(cert).length === 0) {
    env["SSL_CLIENT_VERIFY"] = "NONE";
    return env;
  }
  const failure = socket.authorized ? null : socket.getAuthorizationError?.();
  env["SSL_CLIENT_VERIFY"] = failure ? `FAILED:${failure.message}` : "SUCCESS";
  let ordered: X509Certificate | null = null;
  try {
    ordered = new X509Certificate(cert.raw);
  } catch {
    // the DN strings then come from the attributes, grouped by name
  }
  Object.assign(
    env,
    distinguishedName("SSL_CLIENT_S_DN", cert.subject, ordered?.subject),
    distinguishedName("SSL_CLIENT_I_DN", cert.issuer, ordered?.issuer),
  );
  if (cert.serialNumber) env["SSL_CLIENT_M_SERIAL"] = cert.serialNumber;
  if (cert.valid_from) env["SSL_CLIENT_V_START"] = cert.valid_from;
  if (cert.valid_to) env["SSL_CLIENT_V_END"] = cert.valid_to;
  const b64 = Buffer.from(cert.raw).toString("base64").replace(/(.{64})/g, "$1\n");
  env["SSL_CLIENT_CERT"] = `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
  return env;
}

/**
 * `prefix` (the whole DN: `lines`, Node's one attribute per line in the
 * certificate's order, else the attributes grouped by name) and
 * `prefix_<attr>`, `prefix_<attr>_1`, ... per attribute.
 */
function distinguishedName(prefix: string, name: Record<string, string | string[] | undefined> | undefined, lines: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (!name) return env;
  let grouped = "";
  for (const [attr, value] of Object.entries(name)) {
    if (value === undefined) continue;
    const values = (Array.isArray(value) ? value : [value]).map(utf8Bytes);
    if (!lines) for (const v of values) grouped += `/${attr}=${v}`;
    const short = DN_KEYS[attr];
    if (short) values.forEach((v, i) => (env[i === 0 ? `${prefix}_${short}` : `${prefix}_${short}_${i}`] = v));
  }
  env[prefix] = lines ? utf8Bytes(`/${lines.split("\n").join("/")}`) : grouped;
  return env;
}

/**
 * A name the runtime decoded from the certificate, as its UTF-8 bytes in a
 * latin-1 string (one char per byte): environ values are byte strings
 * (spec.md "A note on string types", PEP 3333 "Unicode Issues"), and mod_ssl
 * gives these keys as UTF-8. `"Jürgen"` becomes `"J\u00c3\u00bcrgen"`; ASCII
 * is unchanged.
 */
function utf8Bytes(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(s) ? s : Buffer.from(s, "utf8").toString("latin1");
}
