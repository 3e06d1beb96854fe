/**
 * The validator's `tsgi.errors` wrapper (wsgiref `ErrorWrapper`): checks the
 * application's arguments to `write` and `writelines` and that it never
 * closes the stream (PEP 3333 §Input and Error Streams).
 *
 * @module
 */
import type { ErrorStream } from "../../spec.ts";
import { fail, show } from "./rules.ts";

/** A checking wrapper of `errors` (the server's `tsgi.errors`), which the validator puts in the environ in its place. */
export function wrapErrors(errors: ErrorStream): ErrorStream {
  const wrapper: ErrorStream = {
    write(s: string) {
      if (typeof s !== "string") fail("errors-write", `tsgi.errors.write() must be given a string, got ${show(s)}`);
      errors.write(s);
    },
    writelines(lines: Iterable<string>) {
      if (lines === null || typeof (lines as Iterable<string>)?.[Symbol.iterator] !== "function" || typeof lines === "string") {
        fail("errors-writelines", `tsgi.errors.writelines() must be given an iterable of strings, got ${show(lines)}`);
      }
      const all = [...lines];
      for (const l of all) if (typeof l !== "string") fail("errors-writelines", `tsgi.errors.writelines() got a non-string ${show(l)}`);
      errors.writelines(all);
    },
    flush() {
      errors.flush();
    },
  };
  Object.defineProperty(wrapper, "close", {
    value: () => fail("errors-close", "tsgi.errors.close() must not be called"),
    enumerable: false,
  });
  return wrapper;
}
