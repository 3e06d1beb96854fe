/**
 * The fixed bounds a connection (connection.ts) holds a client to besides
 * the server's options: how much of an unread request body it drains and
 * how many pipelined bytes it holds (bytes), and how long a lingering close
 * (RFC 9112 §9.6; nginx `lingering_timeout` and `lingering_time`), the
 * cleanup of a request the server stopped, and a request head due during a
 * graceful shutdown may take (ms).
 * @module
 */
import { BODY_RETURN_GRACE_MS } from "../gateway/run.ts";

/** Unread request-body bytes the server reads and discards after a response, before it closes instead (bytes). */
export const MAX_DRAIN = 1024 * 1024;
/**
 * Pipelined bytes held while a response is in progress before the socket is
 * paused (bytes): what one client can make the server hold beyond the request
 * being answered (gevent and cheroot read nothing ahead; nginx holds at most
 * its header buffers, about 33 KiB).
 */
export const MAX_STASH = 64 * 1024;
/**
 * A closing connection reads on (and discards) while the client still sends:
 * until this long passes with no bytes (ms; nginx `lingering_timeout`)...
 */
export const LINGER_MS = 2000;
/** ...or this long in all (ms; nginx `lingering_time`). Then it is cut. */
export const LINGER_MAX_MS = 30_000;
/**
 * After the server ends a response itself (requestTimeout, a failed body
 * read, a shutdown), how long posthooks wait for the abandoned body's
 * `return()` and `close()` to settle (ms): the gateway's wait for `return()`,
 * then up to 1 s for `close()`.
 */
export const POSTHOOK_CLOSE_GRACE_MS = BODY_RETURN_GRACE_MS + 1000;
/**
 * How long the work left by a request the server stopped may take, in all
 * (ms): its body's `return()` and `close()` (up to 1 s each), then its
 * posthooks, up to 1 s: 3000. `server.close()` waits this long at most,
 * past its timeout, for the requests it cut.
 */
export const CUT_REQUEST_CLEANUP_MS = POSTHOOK_CLOSE_GRACE_MS + 1000;
/**
 * On graceful shutdown, how long a connection whose request head is due may
 * still deliver it (ms). Over TLS it counts from the end of the handshake: a
 * connection still in its handshake keeps `headerTimeout` (see
 * `Connection.inHandshake`).
 */
export const SHUTDOWN_HEAD_GRACE_MS = 1000;
