/**
 * A connection's output: the bytes of its responses on their way to the
 * socket. One {@link OutputQueue} per connection, created with it.
 *
 * What it guarantees:
 * - **order**: bytes reach the socket in the order they were queued; what
 *   the socket did not take (the backlog) goes out before anything queued
 *   after it;
 * - **one syscall per batch**: what is queued while the connection handles
 *   one read ({@link OutputQueue.cork} to {@link OutputQueue.uncork}: all the
 *   synchronous responses to a pipelined batch), or while it holds a
 *   pipelined batch behind an async response ({@link OutputQueue.hold} to
 *   {@link OutputQueue.release}, at most until the next turn of the event
 *   loop), or else within one
 *   microtask or up to a response's last part ({@link OutputQueue.outLast}),
 *   is written together: parts under {@link COALESCE_LIMIT} are
 *   copied into one shared scratch buffer and sent with one `write`, larger
 *   ones as they are, unless everything queued fits in the buffer (a header
 *   section with a body of up to about 128 KiB, a chunked body's chunk with
 *   its size line and CRLF: {@link OutputQueue.outChunk}), which is then
 *   all copied and written at once;
 * - **backpressure**: a producer is told to wait ({@link OutputQueue.needsDrain},
 *   {@link OutputQueue.drain}) while a backlog waits or {@link OUTPUT_HIGH_WATER}
 *   bytes are queued, which are then written at once;
 * - **backlog**: what the socket does not take is kept (copied when it is in
 *   the shared scratch buffer, which the next write reuses, or is the
 *   application's) and written on the socket's `drain`, before the rest of
 *   the queue. The connection is told when a backlog forms or shrinks (to
 *   time the client, `sendTimeout`), when a write fails, and when everything
 *   is written ({@link OutputOwner});
 * - **the application's bytes are taken before it runs again** (spec.md "The
 *   body"): an application may refill the buffer it yielded or passed to
 *   `write()` as soon as the server asks for the next chunk or `write()`
 *   returns. {@link OutputQueue.outBorrowed} takes them before it returns: a
 *   part under {@link COALESCE_LIMIT} is copied (into a fresh buffer of its
 *   size: nothing is kept per idle connection), a larger one is written at
 *   once, as it would be at the flush anyway (one syscall of its own), and
 *   what the socket does not take of it is copied to the backlog. An array
 *   body's chunks are lent ({@link OutputQueue.outLent}): the application
 *   runs no code before the response's end writes them, except in a
 *   pipelined batch (corked), where the connection calls
 *   {@link OutputQueue.takeLent} before it runs application code again:
 *   everything queued is copied into a shared staging buffer (no allocation
 *   per part), where the batch's later responses are copied too and the
 *   flush writes from (one corked queue at a time; others copy as before). The
 *   server's own bytes (strings, cached header sections, file blocks) are
 *   never changed and queued as they are.
 *
 * Bun's sockets are unbuffered: `write` sends what the kernel takes now and
 * returns how much that was, so the scratch buffer is free again when it
 * returns.
 * @module
 */
import type { Socket } from "bun";
import type { ChunkOwner } from "../gateway/run.ts";

/** Parts at least this large are written as they are, not copied into a coalesced buffer (bytes). */
const COALESCE_LIMIT = 16 * 1024;
/** The end of a chunk's data in a chunked body (RFC 9112 section 7.1). */
const CRLF = "\r\n";
/** Output bytes buffered before the producer is asked to wait for `drain` (bytes). */
const OUTPUT_HIGH_WATER = 64 * 1024;

/** What an {@link OutputQueue} tells its connection (the connection implements it). */
export interface OutputOwner {
  /**
   * Output waits for the client: the socket took less than it was given (a
   * backlog formed), or took more of the backlog but not all of it.
   */
  onBacklog(): void;
  /** A write failed: the socket is gone. What was queued is dropped. */
  onWriteError(): void;
  /** Everything queued is written (no backlog); producers waiting for drain were let go. */
  onFlushed(): void;
}

/** A connection's queued output; see the module documentation. */
export class OutputQueue {
  /** Queued parts not yet written (strings are latin-1), and their bytes. */
  private parts: Array<Uint8Array | string> = [];
  private partsBytes = 0;
  /**
   * The index in {@link parts} of the first of the application's parts
   * queued as they are ({@link outLent}, and a large {@link outBorrowed} part
   * while it is written), -1 for none, and those of the others (`null` for
   * none; most flushes have one at most, so that costs no allocation): what
   * goes to the backlog of them is copied, and {@link takeLent} copies them.
   */
  private lentAt = -1;
  private lentMore: number[] | null = null;
  /**
   * Bytes of this queue in the shared staging buffer (`staging[0, staged)`),
   * queued before everything in {@link parts}: {@link takeLent} copies the
   * queue there. 0 unless this queue is {@link stagingOwner}.
   */
  private staged = 0;
  /** Bytes the socket did not take, oldest first, or `null` when none wait. */
  private backlog: Uint8Array[] | null = null;
  /**
   * Corks in place ({@link cork} while the connection handles a read, and
   * {@link hold}): queued parts are written when the last is taken off.
   */
  private corks = 0;
  /** {@link hold} holds one of {@link corks}. */
  private holding = false;
  /** A macrotask that calls {@link release} is pending. */
  private releaseScheduled = false;
  private flushScheduled = false;
  /** Producers waiting in {@link drain}, or `null` when none (most connections never wait). */
  private drainWaiters: Array<() => void> | null = null;
  /** The connection sent its FIN or closed: nothing more is written. */
  private closed = false;

  constructor(
    private readonly socket: Pick<Socket<unknown>, "write">,
    private readonly owner: OutputOwner,
  ) {}

  /** Output waits for the client to take it (a backlog). */
  get blocked(): boolean {
    return this.backlog !== null;
  }

  /** Nothing is queued or waiting: everything was written. */
  get empty(): boolean {
    return this.backlog === null && this.parts.length === 0 && this.staged === 0;
  }

  /** A producer should wait for {@link drain}: a backlog waits, or the queue reached the high-water mark. */
  get needsDrain(): boolean {
    return this.backlog !== null || this.partsBytes >= OUTPUT_HIGH_WATER;
  }

  /**
   * Queue the server's own `part` (never changed after: a string, a cached
   * header section, a file's block): written at the high-water mark, at
   * {@link uncork}, or in a microtask.
   */
  out(part: Uint8Array | string): void {
    // Closing: the last response is written in full; anything later is an abandoned app's.
    if (this.closed) return;
    this.parts.push(part);
    this.partsBytes += part.length;
    if (this.partsBytes >= OUTPUT_HIGH_WATER) this.flush();
    else this.scheduleFlush();
  }

  /**
   * Queue the application's `part`, which it may change once this returns
   * (a reused buffer): taken now, a part under {@link COALESCE_LIMIT} copied
   * and queued as {@link out} queues it, a larger one written at once after
   * what is queued (even when corked: it is a write of its own anyway), what
   * the socket does not take of it copied to the backlog.
   */
  outBorrowed(part: Uint8Array): void {
    if (this.closed) return;
    if (part.length < COALESCE_LIMIT) return this.out(new Uint8Array(part));
    this.markLent(this.parts.length);
    this.parts.push(part);
    this.partsBytes += part.length;
    this.flush();
  }

  /**
   * Queue a chunk of a chunked body (RFC 9112 section 7.1): `sizeLine` (its
   * size in hex and CRLF), `part` as {@link outBorrowed}, {@link outLent} or
   * {@link out} queue it, as `owner` says, and the CRLF that ends it. A part
   * of at least {@link COALESCE_LIMIT} that fits in the shared scratch
   * buffer with them and what is queued is copied there and everything is
   * written now, in one write and one TCP segment burst, not three (copying
   * 64 KiB takes about 1.5 µs, a write of its own several), unless corked or
   * a backlog waits; a larger part goes out as {@link outBorrowed} writes it.
   */
  outChunk(sizeLine: string, part: Uint8Array, owner: ChunkOwner): void {
    if (this.closed) return;
    const len = part.length;
    if (len < COALESCE_LIMIT || this.corks > 0 || this.backlog !== null || this.staged > 0 || this.partsBytes + sizeLine.length + len + 2 > SCRATCH_BYTES) {
      this.out(sizeLine);
      if (owner === "borrowed") this.outBorrowed(part);
      else if (owner === "lent") this.outLent(part);
      else this.out(part);
      this.out(CRLF);
      return;
    }
    if (owner !== "given") this.markLent(this.parts.length + 1);
    this.parts.push(sizeLine, part, CRLF);
    this.partsBytes += sizeLine.length + len + 2;
    this.flush();
  }

  /**
   * Queue the application's `part` that it leaves unchanged until it runs
   * again (an array body's chunk): as {@link out}, by reference. The
   * response's end writes it unless corked; when corked, the connection
   * calls {@link takeLent} before it runs application code again.
   */
  outLent(part: Uint8Array): void {
    if (this.closed) return;
    this.markLent(this.parts.length);
    this.out(part);
  }

  /**
   * Queue a response's last part (with `head`, its header section, when that
   * has not gone out): as {@link outBorrowed}, {@link outLent} or {@link out}
   * queue it, as `owner` says, and then written at once unless corked, with
   * no flush scheduled in a microtask (the response's end would write it
   * anyway: an async app's response ends in one promise reaction).
   * @returns whether the producer may go on, as {@link needsDrain} says after {@link out}.
   */
  outLast(head: Uint8Array | string | null, part: Uint8Array, owner: ChunkOwner): boolean {
    if (this.closed) return true;
    // Behind staged bytes (a pipelined batch's later responses): copied there too, whoever owns them.
    if (this.staged > 0 && this.corks > 0 && part.length < COALESCE_LIMIT && this.stageLast(head, part)) {
      if (this.partsBytes >= OUTPUT_HIGH_WATER) {
        this.flush();
        return !this.needsDrain;
      }
      return this.backlog === null;
    }
    if (head !== null) {
      this.parts.push(head);
      this.partsBytes += head.length;
    }
    let now = false;
    if (owner === "lent") this.markLent(this.parts.length);
    else if (owner === "given") {
      // The server's own bytes: queued as they are.
    } else if (part.length < COALESCE_LIMIT) {
      // Not corked, the flush below takes it before this returns (into the scratch buffer, or the
      // backlog's copy): no copy of its own. Corked, it waits for uncork while the app may run.
      if (this.corks > 0) part = new Uint8Array(part);
      else this.markLent(this.parts.length);
    } else {
      this.markLent(this.parts.length);
      now = true;
    }
    this.parts.push(part);
    this.partsBytes += part.length;
    if (now || this.partsBytes >= OUTPUT_HIGH_WATER) {
      this.flush();
      return !this.needsDrain;
    }
    // What out() would have told the producer: the flush it schedules comes later.
    const ok = this.backlog === null;
    if (this.corks === 0) this.flush();
    return ok;
  }

  /**
   * The application is about to run again while its lent parts ({@link outLent})
   * wait to be written (corked): copy them, so that it may change its buffers.
   */
  takeLent(): void {
    const at = this.lentAt;
    if (at < 0 || this.stage()) return;
    const parts = this.parts;
    parts[at] = new Uint8Array(parts[at] as Uint8Array);
    const more = this.lentMore;
    if (more !== null) for (let k = 0; k < more.length; k++) parts[more[k]!] = new Uint8Array(parts[more[k]!] as Uint8Array);
    this.lentAt = -1;
    this.lentMore = null;
  }

  /**
   * {@link takeLent}'s usual way: copy everything queued, in order, after
   * what is staged already, into the staging buffer, which the flush then
   * writes from (no allocation per lent part). Not when another queue's
   * bytes are staged (they wait for its flush) or they would not fit (only
   * when the queue holds more than {@link OUTPUT_HIGH_WATER}, which it
   * flushes at).
   * @returns whether the parts were staged; if not, nothing changed.
   */
  private stage(): boolean {
    if ((stagingOwner !== null && stagingOwner !== this) || this.partsBytes > SCRATCH_BYTES) return false;
    stagingOwner = this;
    const parts = this.parts;
    const buf = staging;
    let o = this.staged;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (typeof p === "string") o += writeLatin1(buf, p, o);
      else {
        buf.set(p, o);
        o += p.length;
      }
    }
    parts.length = 0;
    this.staged = o;
    this.lentAt = -1;
    this.lentMore = null;
    return true;
  }

  /**
   * {@link outLast} while corked behind staged bytes (this queue owns the
   * staging buffer): `head` (unless `null`) and `part` copied there after
   * what is queued (staged first when parts wait), so that neither a lent
   * nor a borrowed part needs a copy of its own and the flush finds them
   * coalesced. Not when {@link stage} cannot.
   * @returns whether they were staged; if not, nothing changed.
   */
  private stageLast(head: Uint8Array | string | null, part: Uint8Array): boolean {
    const bytes = (head === null ? 0 : head.length) + part.length;
    if (this.partsBytes + bytes > SCRATCH_BYTES) return false;
    if (this.parts.length > 0 && !this.stage()) return false;
    let o = this.staged;
    if (typeof head === "string") o += writeLatin1(staging, head, o);
    else if (head !== null) {
      staging.set(head, o);
      o += head.length;
    }
    staging.set(part, o);
    this.staged = o + part.length;
    this.partsBytes += bytes;
    return true;
  }

  /** `parts[i]` is the application's, queued as it is (see {@link lentAt}). */
  private markLent(i: number): void {
    if (this.lentAt < 0) this.lentAt = i;
    else (this.lentMore ??= []).push(i);
  }

  /** The connection handles a read: what it queues is written together at {@link uncork}. */
  cork(): void {
    this.corks++;
  }

  /** The read is handled: write what it queued, unless still corked ({@link hold}, a read within a read). */
  uncork(): void {
    if (--this.corks === 0) this.flush();
  }

  /** The queue is {@link hold}ing its output. */
  get held(): boolean {
    return this.holding;
  }

  /**
   * Keep what is queued past the read being handled: pipelined requests wait
   * behind a response still running (an async application's), whose answers,
   * and theirs, should go out together as a synchronous batch's do. Released
   * by {@link release} (the connection calls it once a response ends with
   * nothing pipelined behind it) or, at the latest, in a macrotask
   * (`setImmediate`: the next turn of the event loop, so a response never
   * waits for an `await` of one behind it; it does wait for the synchronous
   * start of the next request, its application's code up to its first
   * `await`, as in a synchronous batch). Corked meanwhile: lent parts are the
   * connection's to {@link takeLent} before other code runs.
   */
  hold(): void {
    if (this.holding || this.closed) return;
    this.holding = true;
    this.corks++;
    if (!this.releaseScheduled) {
      this.releaseScheduled = true;
      setImmediate((this.releaseTask ??= () => {
        this.releaseScheduled = false;
        this.release();
      }));
    }
  }

  /** Stop {@link hold}ing: what is queued is written unless the connection is still handling a read. */
  release(): void {
    if (!this.holding) return;
    this.holding = false;
    this.uncork();
  }

  /** {@link hold}'s macrotask, made on the first hold. */
  private releaseTask: (() => void) | null = null;

  /** Flush in a microtask, unless corked (then {@link uncork} flushes). */
  scheduleFlush(): void {
    if (!this.flushScheduled && this.corks === 0) {
      this.flushScheduled = true;
      // Made on the first scheduled flush: a connection that answers array bodies (one write per response) never schedules one.
      queueMicrotask((this.flushTask ??= () => {
        this.flushScheduled = false;
        this.flush();
      }));
    }
  }

  /** Write what is queued now, unless corked (then {@link uncork} writes it): a response's end. */
  flushUnlessCorked(): void {
    if (this.corks === 0) this.flush();
  }

  /** {@link scheduleFlush}'s microtask: clears `flushScheduled` and flushes. */
  private flushTask: (() => void) | null = null;

  /**
   * Write queued parts: small ones copied into one shared scratch buffer and
   * sent with one write (one syscall for everything produced while handling
   * one read, e.g. all the responses to a pipelined batch), large ones as
   * they are. The socket is unbuffered, so the scratch buffer is free again
   * when `write` returns; bytes it could not take are copied to the backlog.
   * Behind a backlog, parts join it. When everything queued fits in the
   * scratch buffer, large parts are copied too, so that it all goes out in
   * one write and one TCP segment burst (a response's header section and
   * its 50 KiB body: copying up to 128 KiB costs a few µs, less than a
   * write of its own).
   */
  flush(): void {
    const parts = this.parts;
    const count = parts.length;
    const staged = this.staged;
    if ((count === 0 && staged === 0) || this.closed) return;
    const fitLarge = this.partsBytes <= SCRATCH_BYTES;
    this.partsBytes = 0;
    // Taken here: what send() leaves to the backlog of the lent parts is copied.
    const at = this.lentAt;
    const more = this.lentMore;
    this.lentAt = -1;
    this.lentMore = null;
    // The staged bytes come first; the staging buffer is free again once written or copied.
    if (staged > 0) {
      this.staged = 0;
      stagingOwner = null;
    }
    if (this.backlog !== null) {
      if (staged > 0) this.backlog.push(copyOf(staging.subarray(0, staged)));
      for (let i = 0; i < count; i++) this.backlog.push(isLent(i, at, more) ? copyOf(parts[i] as Uint8Array) : bytesOf(parts[i]!));
      parts.length = 0;
      return;
    }
    if (count === 1 && staged === 0 && typeof parts[0] !== "string") {
      const p = parts[0] as Uint8Array;
      parts.length = 0;
      if (this.send(p, 0, p.length, parts, 1, at === 0, -1, null)) this.written();
      return;
    }
    // Staged bytes are coalesced with the rest where they are.
    const buf = staged > 0 ? staging : scratch;
    let o = staged;
    for (let i = 0; i < count; i++) {
      const p = parts[i]!;
      const len = p.length;
      if ((len >= COALESCE_LIMIT && !fitLarge) || o + len > SCRATCH_BYTES) {
        if (o > 0) {
          if (!this.send(buf, 0, o, parts, i, true, at, more)) return;
          o = 0;
        }
        if (len >= COALESCE_LIMIT) {
          const b = bytesOf(p);
          if (!this.send(b, 0, len, parts, i + 1, isLent(i, at, more), at, more)) return;
          continue;
        }
      }
      if (typeof p === "string") o += writeLatin1(buf, p, o);
      else {
        buf.set(p, o);
        o += len;
      }
    }
    parts.length = 0;
    if (o > 0 && !this.send(buf, 0, o, parts, count, true, at, more)) return;
    this.written();
  }

  /**
   * Write `buf[start, end)`. When the socket takes less, the rest (copied if
   * `copy`: the scratch buffer, or the application's bytes) and
   * `parts[next..]` (copied when lent: their index is `lentAt` or in
   * `lentMore`) become the backlog.
   * @returns whether everything was written.
   */
  private send(
    buf: Uint8Array,
    start: number,
    end: number,
    parts: Array<Uint8Array | string>,
    next: number,
    copy: boolean,
    lentAt: number,
    lentMore: number[] | null,
  ): boolean {
    const n = this.socket.write(buf, start, end - start);
    if (n === end - start) return true;
    if (n < 0) {
      parts.length = 0;
      this.owner.onWriteError();
      return false;
    }
    const rest = copy ? copyOf(buf.subarray(start + n, end)) : buf.subarray(start + n, end);
    const backlog: Uint8Array[] = [rest];
    for (let i = next; i < parts.length; i++) backlog.push(isLent(i, lentAt, lentMore) ? copyOf(parts[i] as Uint8Array) : bytesOf(parts[i]!));
    parts.length = 0;
    this.backlog = backlog;
    this.owner.onBacklog();
    return false;
  }

  /**
   * The socket can take more (its `drain`): write the backlog, then what was
   * queued behind it. Backlog entries under {@link COALESCE_LIMIT} that
   * follow one another (an unawaited `write()` each, a chunk's size line,
   * data and CRLF) are copied into the shared scratch buffer, at most its
   * size, and written together, as a flush would have; what the socket does
   * not take of them is copied back as one entry. The owner hears
   * {@link OutputOwner.onFlushed} once nothing waits.
   */
  onDrain(): void {
    const backlog = this.backlog;
    if (backlog) {
      let i = 0;
      while (i < backlog.length) {
        let buf = backlog[i]!;
        let next = i + 1;
        let gathered = false;
        if (buf.length < COALESCE_LIMIT && next < backlog.length && backlog[next]!.length < COALESCE_LIMIT) {
          scratch.set(buf, 0);
          let o = buf.length;
          for (; next < backlog.length; next++) {
            const b = backlog[next]!;
            if (b.length >= COALESCE_LIMIT || o + b.length > SCRATCH_BYTES) break;
            scratch.set(b, o);
            o += b.length;
          }
          buf = scratch.subarray(0, o);
          gathered = true;
        }
        const n = this.socket.write(buf);
        if (n < 0) return this.owner.onWriteError();
        if (n < buf.length) {
          // Entries i..next-1 become what the socket left of them.
          backlog.splice(0, next, gathered ? copyOf(buf.subarray(n)) : buf.subarray(n));
          if (i > 0 || n > 0) this.owner.onBacklog();
          return;
        }
        i = next;
      }
      this.backlog = null;
    }
    if (this.parts.length > 0 || this.staged > 0) this.flush();
    if (this.backlog === null) this.written();
  }

  /** Resolves once the producer may go on writing (at once unless {@link needsDrain}). */
  drain(): Promise<void> {
    if (this.closed || (this.backlog === null && this.partsBytes < OUTPUT_HIGH_WATER)) return Promise.resolve();
    return new Promise((resolve) => (this.drainWaiters ??= []).push(resolve));
  }

  /** Everything is written: producers waiting in {@link drain} go on, and the owner hears of it. */
  private written(): void {
    this.wakeDrainWaiters();
    this.owner.onFlushed();
  }

  /** Let producers waiting in {@link drain} go on. */
  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    if (waiters === null) return;
    this.drainWaiters = null;
    for (const w of waiters) w();
  }

  /**
   * No more output: the connection sent its FIN (nothing is queued then) or
   * closed. Whatever is queued or waiting is dropped and producers waiting
   * for drain go on.
   */
  close(): void {
    this.closed = true;
    this.holding = false;
    this.parts.length = 0;
    this.lentAt = -1;
    this.lentMore = null;
    if (stagingOwner === this) stagingOwner = null;
    this.staged = 0;
    this.partsBytes = 0;
    this.backlog = null;
    this.wakeDrainWaiters();
  }
}

/** Bytes of the shared buffer output is coalesced into (one connection at a time, synchronously). */
const SCRATCH_BYTES = 128 * 1024;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
/**
 * Where {@link OutputQueue.takeLent} copies a corked queue's parts until its
 * flush writes them from there (the size of {@link scratch}, which the flush
 * would otherwise coalesce into): one queue's at a time, {@link stagingOwner}
 * (only the connection handling a read, or holding a pipelined batch, is
 * corked; a queue that is not corked, or holds a batch past a response's end,
 * holds no lent parts when application code runs), others copy as before.
 */
const staging = Buffer.allocUnsafe(SCRATCH_BYTES);
/** The queue whose bytes are in {@link staging}, `null` for none. */
let stagingOwner: OutputQueue | null = null;

type Latin1Write = (this: Buffer, s: string, offset: number, length: number) => number;
const nativeLatin1Write = (Buffer.prototype as unknown as { latin1Write?: Latin1Write }).latin1Write;

/** Write `s` (latin-1 chars) into `buf` at `offset`, one byte per char; returns the bytes written. */
const writeLatin1: (buf: Buffer, s: string, offset: number) => number =
  typeof nativeLatin1Write === "function"
    ? (buf, s, offset) => nativeLatin1Write.call(buf, s, offset, s.length)
    : (buf, s, offset) => buf.write(s, offset, "latin1");

/**
 * Whether part `i` is lent: `at` or one of `more` (see {@link OutputQueue}'s
 * `lentAt`). `more` is ascending (indices are marked as parts are pushed):
 * a binary search, since the backlog paths ask for every part of a flush
 * (an array body of many small chunks has as many lent parts).
 */
function isLent(i: number, at: number, more: number[] | null): boolean {
  if (i === at) return true;
  if (more === null) return false;
  let lo = 0;
  let hi = more.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = more[mid]!;
    if (v === i) return true;
    if (v < i) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** A copy of `bytes` the application cannot change. */
function copyOf(bytes: Uint8Array): Uint8Array {
  return Buffer.from(bytes);
}

/** A queued part as bytes (strings are latin-1). */
function bytesOf(part: Uint8Array | string): Uint8Array {
  return typeof part === "string" ? Buffer.from(part, "latin1") : part;
}
