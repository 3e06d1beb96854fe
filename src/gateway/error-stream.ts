/**
 * `tsgi.errors` (PEP 3333 "wsgi.errors"): the error stream every request's
 * environ carries, over the server's error log. Shared by the TCP server and
 * the fetch bridge.
 * @module
 */
import type { ErrorStream } from "../spec.ts";

/** `tsgi.errors` over a line writer (gevent passes `error_log`). */
export class ErrorLogStream implements ErrorStream {
  constructor(private readonly sink: ((text: string) => void) | null) {}
  write(s: string): void {
    if (typeof s !== "string") throw new TypeError(`tsgi.errors.write() takes a string, got ${typeof s}`);
    this.sink?.(s);
  }
  writelines(lines: Iterable<string>): void {
    for (const line of lines) this.write(line);
  }
  flush(): void {}
}
