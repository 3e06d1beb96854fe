/**
 * HTTP/1.1 message syntax: the request parser and its errors (RFC 9112).
 * @module
 */
export { RequestParser, DEFAULT_PARSER_LIMITS } from "./parser.ts";
export type { ParserHandler, ParserLimits, RequestHead } from "./parser.ts";
export { HttpError } from "./errors.ts";
export { reasonPhrase, statusLine } from "./status.ts";
export { httpDate } from "./date.ts";
