/**
 * The package version, read from package.json at build time (so the compiled
 * binary knows it too).
 * @module
 */
import pkg from "../package.json" with { type: "json" };

/** tsgi's version, e.g. `"0.1.0"`. */
export const VERSION: string = pkg.version;

/** The default `SERVER_SOFTWARE` and `Server` field value, e.g. `"tsgi/0.1.0"`. */
export const SERVER_SOFTWARE = `tsgi/${VERSION}`;

/**
 * The Bun versions tsgi runs on: package.json's `engines.bun`, a semver
 * range such as `">=1.4.3"`. `tsgi` and `tsgi-dev` refuse to start on any
 * other (src/cli/bun-version.ts).
 */
export const BUN_RANGE: string = pkg.engines.bun;
