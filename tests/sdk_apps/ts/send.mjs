// Send events with the official TypeScript SDK, configured like a user's app through
// INNGEST_DEV=0, INNGEST_EVENT_KEY and INNGEST_BASE_URL. argv[2]: the JSON payload for
// inngest.send(). Prints {"ok": true, "result": {...}} or {"ok": false, "error": "..."}.
import { Inngest } from "inngest";

const inngest = new Inngest({ id: "ts-sender" });
try {
  const result = await inngest.send(JSON.parse(process.argv[2]));
  console.log(JSON.stringify({ ok: true, result }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error?.message ?? error) }));
}
