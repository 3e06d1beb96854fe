/**
 * The incremental HTTP/1.1 request parser (RFC 9112).
 *
 * CONTRACT (implementation in progress): see the TSDoc on each export.
 * @module
 */
import { HttpError } from "./errors.ts";

/** Size limits, all in bytes or counts. */
export interface ParserLimits {
  /** Longest request-target; over it → 414 (eventlet `url_length_limit`). Default 8192. */
  maxRequestTarget: number;
  /** Largest header section (request line + field lines); over it → 431. Default 65536. */
  maxHeaderBytes: number;
  /** Most field lines in a header section; over it → 431. Default 100. */
  maxHeaderCount: number;
  /** Largest chunk-ext on one chunk-size line; over it → 400. Default 4096. */
  maxChunkExtBytes: number;
  /** Largest trailer section; over it → 400 (gevent 23.9: strict trailers). Default 16384. */
  maxTrailerBytes: number;
}

/** The defaults of {@link ParserLimits}. */
export const DEFAULT_PARSER_LIMITS: Readonly<ParserLimits> = {
  maxRequestTarget: 8192,
  maxHeaderBytes: 65536,
  maxHeaderCount: 100,
  maxChunkExtBytes: 4096,
  maxTrailerBytes: 16384,
};

/** A parsed request head (request line and header section). */
export interface RequestHead {
  /** The method token, case preserved. */
  method: string;
  /** The request-target, raw, latin-1. */
  target: string;
  /** `"HTTP/1.0"` or `"HTTP/1.1"` (1.2+ is answered as 1.1, RFC 9110 §6.2). */
  version: "HTTP/1.0" | "HTTP/1.1";
  /** Field lines in order, flat: `[name0, value0, name1, value1, ...]`, names as sent, values OWS-trimmed, latin-1. */
  fields: string[];
  /** The Content-Length, or -1 when absent (and for chunked). */
  contentLength: number;
  /** `true` when the body is chunked. */
  chunked: boolean;
  /** Persistence per RFC 9112 §9.3 (version default and `Connection` close / keep-alive tokens). */
  keepAlive: boolean;
  /** `true` for HTTP/1.1 with `Expect: 100-continue`. */
  expectContinue: boolean;
}

/** Receives what the parser recognises. */
export interface ParserHandler {
  /** A complete head; called before any of its body. */
  onHead(head: RequestHead): void;
  /** Body bytes, decoded from chunked framing; a view into the fed buffer. */
  onBody(chunk: Uint8Array): void;
  /** The message's body (and trailer section) ended. */
  onMessageComplete(): void;
}

export class RequestParser {
  constructor(handler: ParserHandler, limits?: Partial<ParserLimits>) {
    void handler;
    void limits;
    throw new HttpError(500, "not implemented");
  }
  /**
   * Parse `data`. Stops right after a message completes.
   * @returns the number of bytes consumed.
   * @throws HttpError on malformed input.
   */
  execute(data: Uint8Array): number {
    void data;
    return 0;
  }
}
