/**
 * tsgi-dev's dotenv parser against Bun's own loader: each case's files are
 * written to a directory where a real `bun` starts with only the case's shell
 * variables and prints `process.env`; what it added must be exactly what
 * loadDotenv gives. The reloader trusts only keys whose values match what Bun
 * loaded, so any difference is a key that silently never reloads.
 * Then the reload regression: `URL=http://${HOST}/api` follows `HOST`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dotenvFiles, dotenvMode, dotenvSource, loadDotenv } from "../src/dev/dotenv.ts";

type Case = { files: Record<string, string>; shell?: Record<string, string> };
const env = (text: string, shell?: Record<string, string>): Case => ({ files: { ".env": text }, shell });

const SHELL = { SHELLVAR: "fromshell", SHELLEMPTY: "" };
const MODES = {
  ".env": "F=env\nE=env\nR1=$L\nR2=$D\nK=env\nREFK=$K\nR5=${DL:-none}\n",
  ".env.local": "F=local\nL=local\nR3=$E\nK=$F-l\n",
  ".env.development": "F=dev\nD=dev\nR4=$L-$DL\n",
  ".env.development.local": "F=devlocal\nDL=devlocal\nFWD=$L\n",
  ".env.production": "F=prod\nP=prod\nR6=$PL\n",
  ".env.production.local": "F=prodlocal\nPL=prodlocal\n",
  ".env.test": "F=test\nT=test\nR7=$TL$L\n",
  ".env.test.local": "F=testlocal\nTL=testlocal\n",
  ".env.staging": "F=staging\nST=staging\n",
};

const CORPUS: Case[] = [
  // plain, export, empty values, whitespace around = and :
  env("A=1\nB=two words\nC=a=b=c\nD==x\nE=\nF=   \nG=a \t b"),
  env("export A=1\nexport B = 2\n  C = spaced  \nexport\nexport=3\nexportE=4\n export  F=5\nexport export G=6\nexport H\nexport I:  x\nexport\nJ=2"),
  env("A: colon\nB:nospace\nC : 3\nD :4\nE:\t5\nF:"),
  env("A\n=1\nB:\nx\nC: \ny\nD=\n\"q\"\nE=\n#c\nG=2"),
  env("A=\vx\f\nB\v=1\nC=\f\"q\"\v\n\fD=4\nE:\vx"),
  env("1A=x\nA-B=y\nA.B=z\n=nokey\n-=d\nÄ=1\n_=u"),
  env("\uFEFFA=1\nB=2"),
  env("A=ä€\nB=\"ü\\nx\"\nC=x\u00a0\nD=\u00a0y"),
  // comments
  env("# c\n  # c2\nA=1 #c\n#B=2\n;C=3\n[s]\nD=4\nE=#x\nF=a #b\nG=a#b\nH= # only"),
  env("A=1 # comment\nB=\"1 # not\" # c\nC=1#x\nD='x' trailing"),
  // quotes: single, double, backtick; text after the closing quote
  env("A='$HOME_X'\nB=\"$HOME_X\"\nC=`$HOME_X`\nHOME_X=hx"),
  env("A=\"quoted\"extra\nB='single'extra\nC=`b`x\nD=\"a\" # c\nE=\"a\"  \nF=\"a\"\t# x"),
  env("A=\"x\" B=2\nC=3\nD=\"x\"E=2\nF=\"a\"b\"c\"\nG='it's'\nH=\"say \"hi\"\""),
  env("A=\"x\" '\nB=2'\nC=3\nD=\"x\" \"y\nE=2\"\nF=4"),
  env("A = \"  padded  \"\nB=  unpadded  \nC= \"sp\"\nD=x\"y\"\nE=x 'y'"),
  env("A=\"\" \nB=''\nC=``\nD=\" \"\nE=''x\nF=2"),
  // escapes
  env("A=a\\nb\nB=\"a\\nb\"\nC='a\\nb'\nD=\"a\\tb\"\nE=\"a\\\\b\"\nF=a\\\\b\nG=\"a\\\"b\"\nH='a\\'b'\nI=\"a\\rb\"\nJ=`a\\nb`\nK=`a\\`b`"),
  env("A=\"\\\\\"\nB=\"\\\\\\\\\"\nC=\"a\\\\nb\"\nD='\\\\'\nE=\"x\\\nF=2\"\nG=3"),
  env("A=\"\\\"\nB=2\nC=\"\\\"\nD=2\""),
  // multiline quoted values, line ends
  env("A=\"multi\nline\"\nB='multi\nline2'\nC=`m\nl`\nD=\"cr\r\nlf\"\nE='lone\rcr'"),
  env("A=\"unterminated\nB=2\nC=3"),
  env("A=\"a\nB=2\nC=\""),
  env("A=1\rB=2\r\nC=3\r\nD=\"a\rb\"\rE=5\r\nF=\"x\"\rG=6"),
  env("A=\"esc\\\r\nB\"\nC=1"),
  env("A=1\n\n\n   \nB=2\n   B2=\n  \nC"),
  // $VAR, ${VAR}, defaults, alternates, escaped \$
  env("A=1\nB=$A\nC=${A}x\nD=${NOPE:-def}\nE=${A:-def}\nF=${NOPE-def}\nG=${A:+alt}\nH=${NOPE:+alt}"),
  env("Y=y\nA=$Y.z\nB=$Y-z\nC=${Y.z}\nD=${Y z}\nE=$Y$Y\nF=${Y}${Y}\nG=$_\nH=${_Y}\nI=$yy\nJ=$Yé"),
  env("A=$$\nB=$\nC=${}\nD=${A\nE=$1x\nF=${A}}\nG=$ x\nH=a$"),
  env("A=\\$X\nB=\"\\$X\"\nC=pre\\$post\nD=\\\\$X\nE=a\\$\nF=\\\\\\$Y\nG=\\x$Y\nH=\\${Y}\nI='${Y}\\$Y'\nY=1"),
  env("A=${\nB=${Y\nC=${Y:-d\nD=${:-d}\nE=${Y:-d}x\nF=${Y:}\nG=${Y:=d}\nH=${Y?e}\nI=${#Y}\nY=1"),
  env("Y=y\nA=${X:-$Y}\nB=${X:-${Y}}\nC=${X:-a}b}\nD=${X:-}\nE=${X:-x\\}y}\nF=${Y:-$Z}\nG=${X:-a b # c}\nH=${X:-\"q\"}"),
  env("Y=y\nA=${X:-${Y}z}\nB=${X:-${NOPE:-q}}\nC=${X:-{a}}\nD=${X:-$Y}}\nE=${X-$Y}\nF=${X:+$Y}\nG=${X:-a$Y\\$Yb}\nH=${X:-\\$Y}"),
  env("Y=y\nA=${X:-${Y}\nB=${X:-${Y\nC=${X:-\\}\nD=${X:-a\\\\}b}\nE=${X:-}}\nF=${X:-${X:-${X:-deep}}}"),
  env("Y=y\nA=${X-\\}}\nB=${X-{}}\nC=${X-}}\nD=a$Y${X\nE=${X $Y\nF=${X-{}$Y\nG=${X:-{}$Y\nH=${{Y}}\nI=${X-\\}$Y"),
  env("Y=y\nA=${X-${Y}$Y\nB=${X:-\\${Y}}\nC=${X:-$${Y}}\nD=${X:-a${Y:-${Z}}b}c\nE=${X:-${Y-1}}\nF=${X:-${}}\nG=${X:-$}\nH=\"${X-\\\"}\""),
  // self-reference, forward and backward references, repeated keys
  env("A=${B}\nB=late\nC=$C_SUFFIX\nC_SUFFIX=x"),
  env("A=${B}\nB=$C\nC=c"),
  env("A=$B\nB=$C\nC=$A"),
  env("A=x$A\nB=$B\nC=${C:-d}\nD=$D$D"),
  env("A=1\nA=2\nB=$A\nA=$A$A"),
  env("B=$A\nA=1\nB=x$A\nA=2"),
  // the shell: set, set but empty, unset; a file never overrides it
  env("A=$SHELLVAR/bin\nB=${SHELLVAR}\nC=${SHELLVAR:-d}\nD=${SHELLEMPTY:-d}\nE=${SHELLEMPTY-d}\nF=$SHELLEMPTY\nG=${UNSET:-d}\nH=${SHELLVAR:+alt}", SHELL),
  env("SHELLVAR=file\nA=$SHELLVAR\nSHELLEMPTY=file\nB=${SHELLEMPTY:-d}", SHELL),
  env("A=${E:-d}\nB=$E\nE=file", { E: "" }),
  env("S=$S-x\nT=$S", { S: "shell" }),
  // the files Bun reads and their precedence, by mode; references across files
  { files: MODES },
  { files: MODES, shell: { NODE_ENV: "production" } },
  { files: MODES, shell: { NODE_ENV: "test" } },
  { files: MODES, shell: { NODE_ENV: "staging" } },
  { files: MODES, shell: { NODE_ENV: "" } },
  { files: MODES, shell: { BUN_ENV: "production" } },
  { files: MODES, shell: { BUN_ENV: "", NODE_ENV: "production" } },
  { files: MODES, shell: { BUN_ENV: "test", NODE_ENV: "production" } },
  { files: MODES, shell: { F: "shell", L: "shell" } },
  { files: { ".env": "NODE_ENV=production\nA=$NODE_ENV\n", ".env.production": "P=1\n", ".env.development": "D=1\n" } },
  { files: { ".env": "A=$B\nB=env\nC=$LOCAL\n", ".env.local": "B=local\nLOCAL=$B\n" } },
  { files: { ".env": "URL=http://${HOST}/api\nHOST=localhost\nOPT=${NOPE-fallback}\n" } },
  { files: { ".env": "URL=http://${HOST}/api\nHOST=localhost\n" }, shell: { HOST: "shellhost" } },
];

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** What `bun` added to `shell` when started in a directory holding `files`. */
function bunLoads(files: Record<string, string>, shell: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "tsgi-dotenv-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, "print.js"), "process.stdout.write(JSON.stringify(process.env))");
  const p = Bun.spawnSync({ cmd: [process.execPath, "print.js"], cwd: dir, env: shell, timeout: 10_000 });
  if (p.exitCode !== 0) throw new Error(`bun exited with ${p.exitCode}: ${p.stderr.toString()}`);
  const added: Record<string, string> = {};
  for (const [k, v] of Object.entries(JSON.parse(p.stdout.toString()) as Record<string, string>)) {
    if (shell[k] !== v) added[k] = v;
  }
  return added;
}

function ours(files: Record<string, string>, shell: Record<string, string>): Record<string, string> {
  const texts = dotenvFiles("", dotenvMode(shell)).flatMap((f) => (f in files ? [files[f]!] : []));
  return loadDotenv(texts, shell);
}

describe("dotenv: the same values as Bun's own loader", () => {
  test(
    `${CORPUS.length} cases, no difference`,
    () => {
      const differences: string[] = [];
      for (const c of CORPUS) {
        const shell = c.shell ?? {};
        const bun = bunLoads(c.files, shell);
        const tsgi = ours(c.files, shell);
        for (const k of new Set([...Object.keys(bun), ...Object.keys(tsgi)])) {
          if (bun[k] !== tsgi[k]) {
            differences.push(`${JSON.stringify(c.files).slice(0, 80)} ${JSON.stringify(shell)} ${k}: bun ${JSON.stringify(bun[k])}, tsgi ${JSON.stringify(tsgi[k])}`);
          }
        }
      }
      expect(differences).toEqual([]);
    },
    120_000,
  );
});

describe("dotenv: reloading", () => {
  /** A real Bun process started in a directory holding `.env`: the reloader, `.env` rewritten, a reload. */
  function reloadInBun(before: string, after: string, shell: Record<string, string> = {}, start = "startEnvironment()") {
    const dir = mkdtempSync(join(tmpdir(), "tsgi-dotenv-"));
    dirs.push(dir);
    writeFileSync(join(dir, ".env"), before);
    const src = join(import.meta.dir, "../src/dev/dotenv.ts");
    writeFileSync(
      join(dir, "probe.ts"),
      `import { DotenvReloader, startEnvironment } from ${JSON.stringify(src)};
import { writeFileSync } from "node:fs";
const keys = ["URL", "HOST", "OPT", "PLAIN"];
const pick = () => Object.fromEntries(keys.map((k) => [k, process.env[k] ?? null]));
const atStart = pick();
const r = new DotenvReloader(process.cwd(), ${start});
writeFileSync(".env", ${JSON.stringify(after)});
const changed = r.reload().sort();
process.stdout.write(JSON.stringify({ atStart, changed, after: pick() }));`,
    );
    const p = Bun.spawnSync({ cmd: [process.execPath, "probe.ts"], cwd: dir, env: shell, timeout: 10_000 });
    if (p.exitCode !== 0) throw new Error(`bun exited with ${p.exitCode}: ${p.stderr.toString()}`);
    return JSON.parse(p.stdout.toString());
  }

  const BEFORE = "URL=http://${HOST}/api\nHOST=localhost\nPLAIN=1\nOPT=${NOPE-fallback}\n";
  const AFTER = "URL=http://${HOST}/v2\nHOST=example.org\nPLAIN=2\nOPT=${NOPE-other}\n";

  for (const [how, start] of [
    ["the start environment read from /proc", "startEnvironment()"],
    ["the shell inferred from process.env", "null"],
  ]) {
    test(`a reference to a key defined below reloads when that key changes (${how})`, () => {
      const r = reloadInBun(BEFORE, AFTER, {}, start);
      expect(r.atStart).toEqual({ URL: "http://localhost/api", HOST: "localhost", OPT: "${NOPE-fallback}", PLAIN: "1" });
      expect(r.changed).toEqual(["HOST", "OPT", "PLAIN", "URL"]);
      expect(r.after).toEqual({ URL: "http://example.org/v2", HOST: "example.org", OPT: "${NOPE-other}", PLAIN: "2" });
    });

    test(`a key the shell sets stays, and references to it follow it (${how})`, () => {
      const r = reloadInBun(BEFORE, AFTER, { HOST: "shellhost" }, start);
      expect(r.atStart).toEqual({ URL: "http://shellhost/api", HOST: "shellhost", OPT: "${NOPE-fallback}", PLAIN: "1" });
      expect(r.changed).toEqual(["OPT", "PLAIN", "URL"]);
      expect(r.after).toEqual({ URL: "http://shellhost/v2", HOST: "shellhost", OPT: "${NOPE-other}", PLAIN: "2" });
    });
  }
});

describe("dotenv: where a variable came from (a busy PORT's message names the file)", () => {
  test("dotenvSource names the file Bun took the value from (the highest-precedence one that sets it), or nothing when the shell set it or no file gives that value", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsgi-dotenv-source-"));
    const key = "TSGI_DOTENV_SOURCE_TEST";
    // Off Linux the mode comes from process.env, "test" under bun test: a terminal's for this test.
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = "development";
    try {
      writeFileSync(join(dir, ".env"), `${key}=from-env\nOTHER=1\n`);
      writeFileSync(join(dir, ".env.local"), `${key}=from-local\n`);
      const shell = { PATH: "/usr/bin" }; // development mode: .env.local is read
      process.env[key] = "from-local";
      expect(dotenvSource(key, dir, shell)).toBe(".env.local");
      // Off Linux (start environment unknown): a file whose value is the one in process.env.
      expect(dotenvSource(key, dir, null)).toBe(".env.local");
      // The shell's (in the start environment), or a value no file gives: not a file's.
      expect(dotenvSource(key, dir, { ...shell, [key]: "from-local" })).toBeUndefined();
      process.env[key] = "from-elsewhere";
      expect(dotenvSource(key, dir, null)).toBeUndefined();
      // In test mode Bun reads no .env.local: .env's value, and .env named.
      process.env[key] = "from-env";
      expect(dotenvSource(key, dir, { ...shell, NODE_ENV: "test" })).toBe(".env");
      delete process.env[key];
      expect(dotenvSource(key, dir, shell)).toBeUndefined();
    } finally {
      delete process.env[key];
      if (nodeEnv === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = nodeEnv;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
