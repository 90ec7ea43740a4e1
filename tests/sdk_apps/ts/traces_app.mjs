// A function whose step code makes its own OpenTelemetry spans, with the TypeScript SDK's
// extended traces (`extendedTracesMiddleware`): the SDK exports them (OTLP/JSON) to
// /v1/traces/userland, stamped with the run and the step they ran in. Configured by the SDK's
// environment variables plus APP_ID and PORT.
import http from "node:http";

import { trace } from "@opentelemetry/api";
import { Inngest } from "inngest";
import { extendedTracesMiddleware } from "inngest/experimental";
import { serve } from "inngest/node";

const inngest = new Inngest({
  id: process.env.APP_ID || "ts-traces",
  middleware: [extendedTracesMiddleware()],
});
const tracer = trace.getTracer("orders");

const traced = inngest.createFunction(
  { id: "traced", triggers: [{ event: "tstr/order" }] },
  async ({ event, step }) => {
    const rows = await step.run("load", () =>
      tracer.startActiveSpan("db.query", async (query) => {
        query.setAttribute("db.rows", event.data.rows);
        await tracer.startActiveSpan("db.decode", async (decode) => decode.end());
        query.end();
        return event.data.rows;
      }),
    );
    await step.run("charge", () =>
      tracer.startActiveSpan("payment", (span) => {
        span.setStatus({ code: 2, message: "declined once" });
        span.end();
        return "ok";
      }),
    );
    return { rows };
  },
);

http
  .createServer(serve({ client: inngest, functions: [traced] }))
  .listen(Number(process.env.PORT || 3000), "127.0.0.1");
