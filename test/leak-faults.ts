/**
 * Faulty clients for test/leaks.test.ts: each opens a real connection to
 * 127.0.0.1 (TCP or TLS), gets the server to a given point and resets it.
 * Every one is bounded in time (2 s).
 */
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface Probe {
  fds: string[];
  timers: string[];
  listeners: Record<string, number>;
  rss: number;
  heap: number;
}

/** The probe fixture's own view of itself (its `/__probe` route; with `gc`, after a full garbage collection). */
export async function probe(port: number, tls = false, gc = false): Promise<Probe> {
  const res = await fetch(`${tls ? "https" : "http"}://127.0.0.1:${port}/__probe${gc ? "?gc" : ""}`, tls ? ({ tls: { rejectUnauthorized: false } } as RequestInit) : {});
  return (await res.json()) as Probe;
}

/** Descriptor targets with their numbers dropped and sockets reduced to "socket", sorted. */
export function fdKinds(fds: string[]): string[] {
  return fds.map((l) => l.slice(l.indexOf(" ") + 1).replace(/^socket:\[\d+\]$/, "socket").replace(/^pipe:\[\d+\]$/, "pipe").replace(/^anon_inode:\[?([a-z_]+)\]?$/, "anon:$1")).sort();
}

export interface FaultOptions {
  port: number;
  tls?: boolean;
  /** Bytes to send first. */
  send: string | Uint8Array;
  /** Reset once the received text includes this (or `bytes` were received); reset after `afterMs` when not given. */
  until?: string;
  bytes?: number;
  afterMs?: number;
  /** Close with FIN instead of resetting. */
  fin?: boolean;
}

/** One faulty client: send, wait for its point, reset. Resolves with what it received (latin1, first 64 bytes). */
export function fault(o: FaultOptions): Promise<string> {
  return new Promise((resolve) => {
    const sock: Socket = o.tls
      ? tlsConnect({ host: "127.0.0.1", port: o.port, rejectUnauthorized: false })
      : connect({ host: "127.0.0.1", port: o.port });
    const got: Buffer[] = [];
    let bytes = 0;
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      clearTimeout(cap);
      if (o.fin) sock.end();
      else if (o.tls) sock.destroy();
      else sock.resetAndDestroy();
      resolve(Buffer.concat(got).toString("latin1", 0, 64));
    };
    const cap = setTimeout(end, o.afterMs ?? 2000);
    sock.on(o.tls ? "secureConnect" : "connect", () => sock.write(o.send));
    sock.on("data", (d: Buffer) => {
      got.push(d);
      bytes += d.length;
      if ((o.until !== undefined && Buffer.concat(got).toString("latin1").includes(o.until)) || (o.bytes !== undefined && bytes >= o.bytes)) end();
    });
    sock.on("error", () => end());
    sock.on("close", () => end());
  });
}

/** A TLS client that resets its TCP connection after sending only the first bytes of its ClientHello. */
export function tlsHalfHandshake(port: number): Promise<void> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    sock.on("connect", () => {
      // A TLS 1.2 record header for a 512-byte handshake message and its first bytes.
      sock.write(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
      setTimeout(() => {
        sock.resetAndDestroy();
        resolve();
      }, 20);
    });
    sock.on("error", () => resolve());
  });
}
