/**
 * Release binaries of `tsgi-dev`: one self-contained executable per platform,
 * cross-compiled with `bun build --compile --target=bun-<os>-<arch>` (Bun
 * fetches each target's runtime from the npm registry, `@oven/bun-<os>-<arch>`,
 * and caches it), each beside a `<file>.sha256` in `sha256sum` format, plus a
 * `SHA256SUMS` listing them all.
 *
 * ```
 * npm run build:release                              # every target, into dist/release/
 * bun scripts/build-release.ts --target linux-x64 --target darwin-arm64
 * bun scripts/build-release.ts --outdir out/
 * ```
 *
 * After building, each file is checked: its header must be the target's
 * executable format and machine (ELF x86-64/AArch64, Mach-O x86-64/arm64,
 * PE x64), and the binary for this machine, when built, must print the
 * package version for `--version`. On macOS the darwin binaries are re-signed
 * ad hoc (`codesign --force --sign -`): Apple silicon refuses to run a binary
 * whose signature no longer matches its bytes, which is the case after Bun
 * appends the app to the runtime.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };

const ROOT = resolve(import.meta.dir, "..");
const ENTRY = join(ROOT, "src/cli/dev.ts");

/** A release target: Bun's `--target`, the file's name and what its header must say. */
interface Target {
  name: string;
  bun: string;
  file: string;
  format: "elf" | "macho" | "pe";
  machine: "x64" | "arm64";
}

export const TARGETS: Target[] = [
  { name: "linux-x64", bun: "bun-linux-x64", file: "tsgi-dev-linux-x64", format: "elf", machine: "x64" },
  { name: "linux-arm64", bun: "bun-linux-arm64", file: "tsgi-dev-linux-arm64", format: "elf", machine: "arm64" },
  { name: "darwin-x64", bun: "bun-darwin-x64", file: "tsgi-dev-darwin-x64", format: "macho", machine: "x64" },
  { name: "darwin-arm64", bun: "bun-darwin-arm64", file: "tsgi-dev-darwin-arm64", format: "macho", machine: "arm64" },
  { name: "windows-x64", bun: "bun-windows-x64", file: "tsgi-dev-windows-x64.exe", format: "pe", machine: "x64" },
];

/**
 * The same flags as `npm run build`: whitespace and syntax minified but not
 * identifiers, so function and class names stay (the error page shows an
 * environ object by its class, `[RequestInput]`; Bun 1.4.5's `--keep-names`
 * does not keep them under `--minify-identifiers`, oven-sh/bun#25332),
 * source maps embedded, users' tsconfig `paths` and packages'
 * package.json (`main`, `exports`) honoured.
 */
const FLAGS = ["--compile", "--minify-whitespace", "--minify-syntax", "--keep-names", "--sourcemap", "--compile-autoload-tsconfig", "--compile-autoload-package-json"];

function parseArgs(argv: string[]): { targets: Target[]; outdir: string } {
  const names: string[] = [];
  let outdir = join(ROOT, "dist/release");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (flag: string) => (a.startsWith(`${flag}=`) ? a.slice(flag.length + 1) : argv[++i]);
    if (a === "--target" || a.startsWith("--target=")) names.push(...(value("--target") ?? "").split(",").filter(Boolean));
    else if (a === "--outdir" || a.startsWith("--outdir=")) outdir = resolve(value("--outdir") ?? outdir);
    else if (a === "-h" || a === "--help") {
      console.log(`usage: bun scripts/build-release.ts [--target ${TARGETS.map((t) => t.name).join("|")}]... [--outdir dir]`);
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}`);
      process.exit(2);
    }
  }
  const targets = names.length === 0 ? TARGETS : names.map((n) => TARGETS.find((t) => t.name === n || t.bun === n) ?? fail(`unknown target ${n}; one of ${TARGETS.map((t) => t.name).join(", ")}`));
  return { targets, outdir };
}

function fail(message: string): never {
  console.error(`build-release: ${message}`);
  process.exit(1);
}

/** What the file's header says it is, or why it is not an executable we know. */
export function identify(bytes: Uint8Array): { format: Target["format"]; machine: Target["machine"] | "other" } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64) return null;
  // ELF: e_machine at 18 (little-endian): 0x3e x86-64, 0xb7 AArch64.
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    const m = view.getUint16(18, true);
    return { format: "elf", machine: m === 0x3e ? "x64" : m === 0xb7 ? "arm64" : "other" };
  }
  // Mach-O 64-bit little-endian: magic 0xfeedfacf, cputype at 4: 0x01000007 x86-64, 0x0100000c arm64.
  if (view.getUint32(0, true) === 0xfeedfacf) {
    const cpu = view.getUint32(4, true);
    return { format: "macho", machine: cpu === 0x01000007 ? "x64" : cpu === 0x0100000c ? "arm64" : "other" };
  }
  // PE: "MZ", then at e_lfanew "PE\0\0" and the COFF machine: 0x8664 x64, 0xaa64 arm64.
  if (bytes[0] === 0x4d && bytes[1] === 0x5a) {
    const pe = view.getUint32(0x3c, true);
    if (pe + 6 <= bytes.length && view.getUint32(pe, true) === 0x00004550) {
      const m = view.getUint16(pe + 4, true);
      return { format: "pe", machine: m === 0x8664 ? "x64" : m === 0xaa64 ? "arm64" : "other" };
    }
  }
  return null;
}

/** The target this machine runs, if it is one of ours. */
function hostTarget(): Target | undefined {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const arch = process.arch === "x64" ? "x64" : process.arch === "arm64" ? "arm64" : process.arch;
  return TARGETS.find((t) => t.name === `${os}-${arch}`);
}

async function run(cmd: string[], cwd = ROOT): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn({ cmd, cwd, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: out + err };
}

async function main(): Promise<void> {
  const { targets, outdir } = parseArgs(process.argv.slice(2));
  mkdirSync(outdir, { recursive: true });
  const bun = process.execPath; // this script runs under Bun: build with the same one
  const sums: string[] = [];
  const host = hostTarget();
  let failed = 0;
  for (const t of targets) {
    const out = join(outdir, t.file);
    const started = performance.now();
    for (const stale of [out, `${out}.sha256`, `${out}.map`]) rmSync(stale, { force: true });
    const r = await run([bun, "build", ...FLAGS, `--target=${t.bun}`, ENTRY, "--outfile", out]);
    if (r.code !== 0 || !existsSync(out)) {
      console.error(`✗ ${t.name}: bun build failed (exit ${r.code})\n${r.out.trim()}`);
      if (/download|fetch|registry|network|ENOTFOUND|ECONNREFUSED|404/i.test(r.out)) {
        console.error(`  (cross-compiling fetches the ${t.bun} runtime from the npm registry; set --compile-executable-path by hand if it is unreachable)`);
      }
      failed++;
      continue;
    }
    // The source map is embedded in the executable; the file beside it is not shipped.
    rmSync(`${out}.map`, { force: true });

    if (t.format === "macho" && process.platform === "darwin") {
      await run(["codesign", "--remove-signature", out]);
      const s = await run(["codesign", "--force", "--sign", "-", out]);
      if (s.code !== 0) {
        console.error(`✗ ${t.name}: codesign failed\n${s.out.trim()}`);
        failed++;
        continue;
      }
    }

    const bytes = readFileSync(out);
    const id = identify(bytes);
    if (!id || id.format !== t.format || id.machine !== t.machine) {
      console.error(`✗ ${t.name}: the file is ${id ? `${id.format}/${id.machine}` : "not an executable"}, expected ${t.format}/${t.machine}`);
      failed++;
      continue;
    }
    if (t === host) {
      const v = await run([out, "--version"], outdir);
      if (v.code !== 0 || v.out.trim() !== pkg.version) {
        console.error(`✗ ${t.name}: \`${t.file} --version\` printed ${JSON.stringify(v.out.trim())} (exit ${v.code}), expected ${pkg.version}`);
        failed++;
        continue;
      }
    }

    const hex = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
    const line = `${hex}  ${basename(out)}\n`;
    writeFileSync(`${out}.sha256`, line);
    sums.push(line);
    const mb = (bytes.byteLength / 1024 / 1024).toFixed(1);
    console.log(`✓ ${t.file.padEnd(26)} ${mb.padStart(6)} MB  ${Math.round(performance.now() - started)} ms  sha256 ${hex.slice(0, 16)}…${t === host ? "  --version ok" : ""}`);
  }
  if (sums.length) writeFileSync(join(outdir, "SHA256SUMS"), sums.join(""));
  if (failed) fail(`${failed} of ${targets.length} target(s) failed`);
  console.log(`tsgi-dev ${pkg.version}: ${targets.length} binaries in ${outdir}`);
}

if (import.meta.main) await main();
