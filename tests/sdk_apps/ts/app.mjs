// A real app built with the official TypeScript SDK (npm `inngest`), served by node's http server.
//
// Configured like any user's app, through the SDK's own environment variables (INNGEST_DEV,
// INNGEST_SIGNING_KEY, INNGEST_SIGNING_KEY_FALLBACK, INNGEST_BASE_URL, INNGEST_EVENT_KEY,
// INNGEST_ALLOW_IN_BAND_SYNC), plus APP_ID, PORT and APP_VARIANT (which functions to serve:
// "1"; "2" after a code change; "bad-cron", "bad-cel" and "bad-wildcard" declare an invalid
// cron / expression / wildcard event).
import http from "node:http";

import { Inngest } from "inngest";
import { serve } from "inngest/node";

const inngest = new Inngest({ id: process.env.APP_ID || "ts-app" });
const variant = process.env.APP_VARIANT || "1";

const hello = inngest.createFunction(
  {
    id: "hello",
    name: "Hello",
    triggers: [{ event: variant === "bad-wildcard" ? "test/*/hello" : "test/hello" }],
  },
  async ({ event, step }) => {
    const greeting = await step.run("greet", () => `hello ${event.data?.name ?? "world"}`);
    return { greeting };
  },
);

const crons = { 2: "TZ=Europe/Paris 0 4 * * *", "bad-cron": "61 3 * * *" };
const nightly = inngest.createFunction(
  {
    id: "nightly",
    name: "Nightly report",
    retries: 2,
    triggers: [{ cron: crons[variant] ?? "TZ=Europe/Paris 0 3 * * *" }],
  },
  async () => "done",
);

const flow = inngest.createFunction(
  {
    id: "flow",
    name: "Flow",
    triggers: [{ event: "test/flow", if: variant === "bad-cel" ? "event.data.ok ==" : "event.data.ok == true" }],
    concurrency: { limit: variant === "1" ? 5 : 2, key: "event.data.user" },
    cancelOn: [{ event: "test/cancel", if: "event.data.user == async.data.user", timeout: "1h" }],
    rateLimit: { limit: 10, period: "1m", key: "event.data.user" },
    onFailure: async () => "noted",
  },
  async () => 1,
);

const retired = inngest.createFunction(
  { id: "retired", triggers: [{ event: "test/retired" }] },
  async () => null,
);

const functions = [hello, nightly, flow];
if (variant === "1") functions.push(retired);

const handler = serve({ client: inngest, functions });
http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/inngest")) return handler(req, res);
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
