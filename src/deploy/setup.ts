/**
 * What a serving process of `tsgi serve` (the single process, or each
 * worker) sets up around `createServer` from {@link ResolvedDeploy}: the TLS
 * material read from its files, the proxy-header middleware, and the options
 * it stops with. Its stdio is stdio.ts's, its stray errors stray-errors.ts's.
 * @module
 */
import { X509Certificate } from "node:crypto";
import type { Application } from "../spec.ts";
import { proxyHeaders } from "../server/proxy.ts";
import { certificateDateWarning, devCertificate, KEY_ENCRYPTED, loadTlsFiles, type DevCertificate, type TlsConfig } from "../server/tls.ts";
import { isDescriptorPath, pipeKind } from "../server/tls-file.ts";
import { shellQuote } from "../server/shell.ts";
import { StartupError } from "./errors.ts";
import type { ResolvedDeploy } from "./options.ts";

/**
 * Read the TLS material the options name.
 * @returns the config, the development certificate when `"dev"` was asked (for printing its fingerprint),
 *   and a warning for a certificate expired or not valid yet (see `certificateDateWarning`), else `null`.
 * A file may be a pipe (`--keyfile <(sops -d key.enc)`), waited for with timers (signals are answered meanwhile).
 * @throws StartupError when a file is missing, unreadable or not PEM, a device, a pipe that ends empty or not in time, the key is encrypted (the command takes no passphrase) or does not match the certificate.
 */
export async function resolveTls(tls: ResolvedDeploy["tls"]): Promise<{ config: TlsConfig; dev: DevCertificate | null; warning: string | null } | null> {
  if (tls === null) return null;
  try {
    if (tls === "dev") {
      const dev = await devCertificate();
      return { config: { cert: dev.cert, key: dev.key }, dev, warning: null };
    }
    const config = await loadTlsFiles(tls);
    return { config, dev: null, warning: certificateDateWarning(config.cert, tls.certfile) };
  } catch (error) {
    if ((error as { code?: unknown }).code === KEY_ENCRYPTED && tls !== "dev") {
      throw new StartupError(
        `key file ${tls.keyfile} is encrypted, and tsgi serve takes no passphrase: decrypt it once (openssl pkey -in ${shellQuote(tls.keyfile)} -out key.pem) and let only the service's user read the result (chmod 600)`,
      );
    }
    throw new StartupError((error as Error).message);
  }
}

/** An IPv6 address as written (`::1`), from OpenSSL's `0:0:0:0:0:0:0:1`; as given when it does not parse. */
function ipv6Written(address: string): string {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

/** The most names {@link servedCertificate} lists before `and N more`. */
const NAMES_SHOWN = 3;

/**
 * Which certificate a serving `tsgi serve` presents, for its start line:
 * `certificate cert.pem for example.com, www.example.com until 2027-03-01`
 * (the file as given, the names clients check, from subjectAltName (DNS
 * names and IP addresses; the subject's CN when it has none), and the
 * expiry date, UTC), or `the development certificate <file>` for `--https`.
 * @param tls what {@link resolveTls} returned.
 * @param certfile the certificate file as given (`--certfile`).
 */
export function servedCertificate(tls: { config: TlsConfig; dev: DevCertificate | null }, certfile: string | undefined): string {
  if (tls.dev) return `the development certificate ${tls.dev.certfile}`;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(tls.config.cert);
  } catch {
    return `certificate ${certfile}`; // loadTls parsed it; not reached
  }
  const alt = (x509.subjectAltName ?? "")
    .split(", ")
    .map((n) => /^(DNS|IP Address):(.+)$/.exec(n))
    .filter((m): m is RegExpExecArray => !!m)
    // An IPv6 address as it is written (::1), not as OpenSSL prints it (0:0:0:0:0:0:0:1);
    // a DNS name is shown as it is, even one no URL could hold (DNS:foo:bar, which openssl makes).
    .map(([, kind, n]) => (kind === "IP Address" && n!.includes(":") ? ipv6Written(n!) : n!));
  const names = alt.length ? alt : [/(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1]].filter((n): n is string => !!n);
  const shown = names.length > NAMES_SHOWN ? `${names.slice(0, NAMES_SHOWN).join(", ")} and ${names.length - NAMES_SHOWN} more` : names.join(", ");
  return `certificate ${certfile}${shown ? ` for ${shown}` : ""} until ${new Date(x509.validTo).toISOString().slice(0, 10)}`;
}

/**
 * Why the TLS files cannot serve `--workers`: each worker reads them itself
 * (its configuration holds no key material), again at each reload
 * (`SIGHUP`), so a pipe, which gives its bytes once, or one of this
 * process's descriptors (`/dev/fd/3`, `/dev/stdin`), which a worker does not
 * have, would fail in the workers (or serve a stale key after a renewal).
 * @returns the one line for the first such file, `null` when there is none.
 */
export function tlsFilesForWorkers(tls: ResolvedDeploy["tls"]): string | null {
  if (tls === null || tls === "dev") return null;
  const roles: [string | undefined, string][] = [[tls.certfile, "certificate file"], [tls.keyfile, "key file"], [tls.caCerts, "CA certificates file"]];
  for (const [path, what] of roles) {
    if (path === undefined) continue;
    const pipe = pipeKind(path);
    if (!pipe && !isDescriptorPath(path)) continue;
    const is = pipe === "fifo" ? "a named pipe (FIFO), which gives its bytes once" : pipe ? "a pipe (<(...), a here-string), which gives its bytes once" : "a descriptor of this process, which workers do not have";
    return (
      `${what} ${path} is ${is}, and under --workers each worker reads the TLS files itself, again at each reload (SIGHUP): ` +
      "write it to a file only the service's user can read, on a tmpfs to keep it off disk (/run/app/key.pem; systemd: LoadCredential=), and give that, or run without --workers"
    );
  }
  return null;
}

/** Wrap `app` with the proxy-header middleware when the options ask for it. */
export function withDeployMiddleware(app: Application, deploy: Pick<ResolvedDeploy, "proxy">): Application {
  return deploy.proxy ? proxyHeaders(app, { forwardedAllowIps: deploy.proxy.forwardedAllowIps, header: deploy.proxy.header }) : app;
}

/** How long a stopping process's idle keep-alive connections may still bring one request (ms). */
const IDLE_GRACE_MS = 1000;

/**
 * What a serving process of `tsgi serve` (the single process, a worker)
 * passes to `server.close()` when it stops: in-flight requests get the
 * graceful timeout, and idle keep-alive connections a short grace (1 s, or
 * the graceful timeout if shorter) in which a request already on its way
 * is answered, with `Connection: close`, rather than reset (RFC 9112
 * §9.3.1): behind nginx a reset upstream POST is a 502.
 */
export function stopOptions(gracefulTimeout: number): { timeout: number; idleGrace: number } {
  return { timeout: gracefulTimeout, idleGrace: Math.min(IDLE_GRACE_MS, gracefulTimeout) };
}
