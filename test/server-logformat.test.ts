/**
 * The access-log format: the default format's written-out formatter gives
 * exactly what the generic `%(name)s` compilation gives.
 */
import { expect, test } from "bun:test";
import { compileLogFormat, DEFAULT_LOG_FORMAT } from "../src/server/log.ts";
import type { AccessLogFields } from "../src/server/options.ts";

test("default log format: same lines as the generic compilation", () => {
  const fast = compileLogFormat(DEFAULT_LOG_FORMAT);
  // A suffix forces the generic path; its output must be the default line plus the suffix.
  const generic = compileLogFormat(`${DEFAULT_LOG_FORMAT}|`);
  const cases: AccessLogFields[] = [
    { client_ip: "127.0.0.1", date_time: "23/Nov/2026:09:00:00 +0000", request_line: "GET / HTTP/1.1", status_code: 200, body_length: 14, wall_seconds: 0.000123456789 },
    { client_ip: "10.0.0.1,::1", date_time: "01/Jan/2027:00:00:00 +0000", request_line: "POST /a?b=c HTTP/1.0", status_code: 500, body_length: 0, wall_seconds: 12.5 },
    { client_ip: "-", date_time: "x", request_line: "- (rejected: bad)", status_code: 400, body_length: 0, wall_seconds: 0 },
    { client_ip: "1.2.3.4", date_time: "y", request_line: "GET /%ff HTTP/1.1", status_code: 304, body_length: 1e15, wall_seconds: 0.0000005 },
  ];
  for (const f of cases) expect(`${fast(f)}|`).toBe(generic(f));
  expect(fast(cases[0]!)).toBe('127.0.0.1 - - [23/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 14 0.000123');
});
