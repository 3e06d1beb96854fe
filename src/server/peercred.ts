/**
 * Environ keys for Unix-socket connections: the empty peer address keys
 * (gevent and cheroot leave them empty, a Unix socket has no port) and, when asked,
 * the peer's credentials as cheroot sets them (`peercreds_enabled`,
 * `peercreds_resolve_enabled`), read once per connection with
 * `getsockopt(SO_PEERCRED)` through `bun:ffi` on the socket's file
 * descriptor.
 * @module
 */
import { groupName, peerCredentials, userName } from "./sys.ts";

/**
 * The keys a Unix-socket connection sets on each of its requests' environ.
 *
 * Always: `REMOTE_ADDR` and `REMOTE_PORT` are `""` (cheroot; the peer has
 * no address or port). `SERVER_PORT` is not here: PEP 3333 wants it
 * non-empty, and the server gives the scheme's default port. With `mode` true or `"resolve"`:
 * `X_REMOTE_PID`, `X_REMOTE_UID`, `X_REMOTE_GID` (decimal); with `"resolve"`
 * also `X_REMOTE_USER`, `X_REMOTE_GROUP` and `REMOTE_USER` (names through the
 * system's name service; a key is left out when the id has no name). When the
 * credentials cannot be read (not Linux, no `bun:ffi`, the socket exposes no
 * file descriptor) the credential keys are absent, never guessed.
 *
 * @param socket the connected socket; Bun exposes its descriptor as `fd` at run time.
 * @param mode `false`, `true` (ids) or `"resolve"` (ids and names).
 */
export function peerEnviron(socket: object, mode: boolean | "resolve"): Record<string, string> {
  const env: Record<string, string> = { REMOTE_ADDR: "", REMOTE_PORT: "" };
  if (!mode) return env;
  const fd = (socket as { fd?: unknown }).fd;
  if (typeof fd !== "number") return env;
  const cred = peerCredentials(fd);
  if (!cred) return env;
  env["X_REMOTE_PID"] = String(cred.pid);
  env["X_REMOTE_UID"] = String(cred.uid);
  env["X_REMOTE_GID"] = String(cred.gid);
  if (mode === "resolve") {
    const user = userName(cred.uid);
    const group = groupName(cred.gid);
    if (user !== null) {
      env["X_REMOTE_USER"] = user;
      env["REMOTE_USER"] = user;
    }
    if (group !== null) env["X_REMOTE_GROUP"] = group;
  }
  return env;
}
