/**
 * Reason phrases for the status codes the server itself produces
 * (RFC 9110 §15). Applications supply their own reason phrase.
 * @module
 */

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  417: "Expectation Failed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** The RFC 9110 reason phrase for `code`, or `"Unknown"`. */
export function reasonPhrase(code: number): string {
  return REASONS[code] ?? "Unknown";
}

/** `"400 Bad Request"` for 400. */
export function statusLine(code: number): string {
  return `${code} ${reasonPhrase(code)}`;
}
