/**
 * Entry point of a worker process started by the supervisor
 * (`src/deploy/supervisor.ts`): waits for its {@link WorkerConfig}, the
 * supervisor's first IPC message, and runs it.
 * @module
 */
import { runWorker, type SupervisorMessage, type WorkerConfig } from "./worker.ts";

/** How long a worker waits for its configuration before giving up (ms). */
const CONFIG_TIMEOUT_MS = 10_000;

// Signals sent to the supervisor's whole process group (`kill -USR1 -PGID`, a terminal's hangup)
// reach the workers too, booting or serving; the supervisor acts on them. Their default action
// would end the worker. (runWorker stops on SIGQUIT once it serves.)
for (const signal of ["SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGHUP"] as const) process.on(signal, () => {});

if (typeof process.send !== "function") {
  console.error("worker-main.ts is started by the tsgi supervisor (tsgi serve --workers N), not by hand");
  process.exit(2);
}
// The supervisor died (its IPC channel closed) before this worker serves: nothing is lost, exit
// now. runWorker installs its own handler once it serves (a graceful stop), and checks that the
// channel is still there: a "disconnect" emitted during the import would not come again.
let serving = false;
process.on("disconnect", () => {
  if (!serving) process.exit(0);
});
const config = await new Promise<WorkerConfig>((resolve) => {
  const timer = setTimeout(() => {
    console.error("tsgi worker: no configuration from the supervisor within 10 s; exiting");
    process.exit(2);
  }, CONFIG_TIMEOUT_MS);
  process.once("message", (message: SupervisorMessage) => {
    clearTimeout(timer);
    resolve(message.config);
  });
});
await runWorker(config);
serving = true;
