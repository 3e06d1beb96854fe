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
