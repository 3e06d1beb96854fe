#!/usr/bin/env sh
":" /*
# Run as a program (node_modules/.bin/tsgi-dev, a global install, a service's ExecStart), this
# file is a shell script first: it runs itself with the Bun on PATH, else the one tsgi's
# "bun" dependency installed (its .bin link beside this one, nested or beside tsgi), in the same process (exec).
# Bun reads it as TypeScript.
f=$0
case $f in *[/]*) ;; *) f=./$f ;; esac
while [ -L "$f" ]; do l=$(readlink "$f"); case $l in /*) f=$l ;; *) f=${f%/*}/$l ;; esac; done
for b in "$(command -v bun)" "${0%/*}/bun" "${f%/*}/../../node_modules/bun/bin/bun.exe" "${f%/*}/../../../bun/bin/bun.exe"; do
  if [ -n "$b" ] && [ -f "$b" ] && [ -x "$b" ]; then exec "$b" "$0" "$@"; fi
done
echo "tsgi-dev: Bun not found: tsgi runs on Bun, and there is no bun on PATH nor in tsgi's \"bun\" dependency (installed with --ignore-scripts?). Run npm install again with scripts, or install Bun (https://bun.sh)." >&2
exit 127
*/
/**
 * `tsgi-dev`: the dev server's entry point (package.json's `bin`, and the
 * compiled binary's entry).
 *
 * ```
 * tsgi-dev ./app.ts[:name] [options]     (tsgi-dev --help lists them)
 * ```
 *
 * It checks the Bun version first and says what to do on one tsgi does not
 * run on (src/cli/bun-version.ts); only then does it import the command,
 * dev-command.ts, so that a Bun too old to parse or link it never tries.
 * @module
 */
import { requireBun } from "./bun-version.ts";

requireBun("tsgi-dev", import.meta.url); // its URL, not import.meta.path, which Node (running this file by mistake) lacks
await (await import("./dev-command.ts")).run();
