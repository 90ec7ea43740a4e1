// Functions that write run metadata and scores with the TypeScript SDK's experimental
// `inngest.metadata`, `inngest.score`, `step.score` and a scorer (a `createScorer` defer).
// Inside a step the SDK sends them on the step's op; outside one, to
// POST /v1/runs/{run}/metadata. Configured by the SDK's environment variables plus APP_ID
// and PORT.
import http from "node:http";

import { Inngest } from "inngest";
import { createScorer, metadataMiddleware, scoreMiddleware } from "inngest/experimental";
import { serve } from "inngest/node";

const inngest = new Inngest({
  id: process.env.APP_ID || "ts-metadata",
  middleware: [metadataMiddleware(), scoreMiddleware()],
});
const fn = (id, event, handler, options = {}) =>
  inngest.createFunction({ id, triggers: [{ event }], ...options }, handler);

const annotate = async ({ event, step }) => {
  const rows = await step.run("fetch", async () => {
    await inngest.metadata.set({ source: "db", rows: 3 });
    await inngest.score({ name: "quality", value: 0.75 });
    return 3;
  });
  await step.score("approve", { name: "approved", value: true });
  await inngest.score({ name: "latency", value: event.data.latency ?? 12 });
  await inngest.metadata.step("fetch").set({ checked: true }, "audit");
  await inngest.metadata.run().set({ customer: event.data.customer ?? "acme" }, "account");
  return { rows };
};
// Checkpointed (the SDK's default: step ops come in a checkpoint) and classic (in an answer).
const annotated = fn("annotated", "tsmd/annotate", annotate);
const annotatedClassic = fn("annotated-classic", "tsmd/annotate-classic", annotate, {
  checkpointing: false,
});

const judge = createScorer(inngest, { id: "judge" }, async ({ event }) => ({
  name: "judged",
  value: event.data.good ? 1 : 0,
}));
const judged = fn("judged", "tsmd/judge", async ({ event, defer, step }) => {
  defer("judge", { function: judge, data: { good: event.data.good } });
  return await step.run("answer", () => "42");
});

const handler = serve({ client: inngest, functions: [annotated, annotatedClassic, judge, judged] });
http
  .createServer((req, res) => {
    if (req.url.startsWith("/api/inngest")) return handler(req, res);
    res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
  })
  .listen(Number(process.env.PORT), "127.0.0.1");
