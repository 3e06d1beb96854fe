/**
 * Entry point of a worker process started by the supervisor
 * (`src/server/workers.ts`): reads its {@link WorkerConfig} from the
 * `TSGI_WORKER` environment variable and runs it.
 * @module
 */
import { runWorker, type WorkerConfig } from "./deploy.ts";

const raw = process.env.TSGI_WORKER;
if (!raw) {
  console.error("worker-main.ts is started by the tsgi supervisor (tsgi serve --workers N), not by hand");
  process.exit(2);
}
await runWorker(JSON.parse(raw) as WorkerConfig);
