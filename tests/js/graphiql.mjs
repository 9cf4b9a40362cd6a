// Drives ChatTree's GraphiQL page in headless Chromium, with every other host unreachable.
//
//   node graphiql.mjs URL USERNAME ARTIFACTS_DIR
//
// Talks to the Python test (tests/test_graphiql_browser.py) by lines: it prints
// "first-event" once the subscription shows its first tokens and then waits for a line
// "release" on standard input (the test holds the model until then), so seeing tokens
// arrive after the first event never depends on timing. It prints "ok" at the end and
// exits non-zero on any failure.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [url, username, artifacts] = process.argv.slice(2);
const origin = new URL(url).origin;
const STEP_TIMEOUT = 60_000;
const PASSWORD = "a long passphrase";
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const elsewhere = []; // requests to any other origin: there must be none
const problems = []; // page errors and security-policy violations

function say(line) {
  process.stdout.write(line + "\n");
}

async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "chattree-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ],
    viewport: { width: 1400, height: 900 },
  });
  await context.route("**/*", (route) => {
    const target = route.request().url();
    if (new URL(target).origin === origin || target.startsWith("data:")) {
      return route.continue();
    }
    elsewhere.push(target);
    return route.abort("blockedbyclient");
  });
  return { context, profile };
}

async function setEditor(page, selector, text) {
  await page.locator(selector).first().waitFor({ timeout: STEP_TIMEOUT });
  await page.evaluate(
    ([css, value]) => document.querySelector(css).CodeMirror.setValue(value),
    [selector, text],
  );
}

function response(page) {
  return page.evaluate(() => {
    const editor = document.querySelector(".result-window .CodeMirror");
    return editor ? editor.CodeMirror.getValue() : "";
  });
}

async function until(page, what, test) {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    const text = await response(page);
    if (test(text)) {
      return text;
    }
    if (Date.now() > deadline) {
      throw new Error(`no response ${what} within ${STEP_TIMEOUT} ms; last: ${text}`);
    }
    await page.waitForTimeout(25);
  }
}

async function run(page, query, variables = "{}") {
  await setEditor(page, ".graphiql-query-editor .CodeMirror", query);
  await page.getByText("Variables", { exact: true }).click();
  await setEditor(page, ".graphiql-editor-tool .CodeMirror", variables);
  await setResponse(page, "");
  await page.locator(".graphiql-execute-button").click();
}

function setResponse(page, text) {
  return page.evaluate(
    (value) => document.querySelector(".result-window .CodeMirror").CodeMirror.setValue(value),
    text,
  );
}

function parsed(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function main() {
  const { context, profile } = await launch();
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (/Content.Security.Policy|Refused to/i.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });
    page.on("websocket", (socket) => {
      if (new URL(socket.url()).host !== new URL(origin).host) {
        elsewhere.push(socket.url());
      }
    });

    await page.goto(`${url}/graphql`, { waitUntil: "load" });
    await page.locator(".graphiql-query-editor .CodeMirror").waitFor({ timeout: STEP_TIMEOUT });
    await page.getByText("Not signed in").waitFor({ timeout: STEP_TIMEOUT });
    const explorer = page.getByRole("button", { name: "Show GraphiQL Explorer" });
    await explorer.click();
    await page.getByText("Add new").waitFor({ timeout: STEP_TIMEOUT });
    await page.getByRole("button", { name: "Hide GraphiQL Explorer" }).click();
    say("rendered");

    await run(
      page,
      // Aliased: the page finds the token whatever the field is called in the answer.
      `mutation { signUp: register(username: "${username}", password: "${PASSWORD}") { token } }`,
    );
    await until(page, "with a token", (text) => text.includes('"token"'));
    const shown = page.locator("#account-username");
    await shown.waitFor({ timeout: STEP_TIMEOUT });
    if ((await shown.textContent()) !== username) {
      throw new Error(`the bar shows ${await shown.textContent()}, not ${username}`);
    }
    say("signed-in");

    // Only a request that carries the token can read `me`.
    await run(page, "query { me { username } }");
    await until(page, "from me", (text) => text.includes(`"username": "${username}"`));
    say("query");

    await run(
      page,
      'mutation { createConversation(content: "Hello from a browser") { assistantMessage { id } } }',
    );
    const created = await until(page, "with the reply's id", (text) =>
      Boolean(parsed(text)?.data?.createConversation),
    );
    const messageId = parsed(created).data.createConversation.assistantMessage.id;

    await run(
      page,
      "subscription ($id: ID!) { messageStream(messageId: $id) { delta reasoningDelta status done } }",
      JSON.stringify({ id: messageId }),
    );
    const isEvent = (text) => Boolean(parsed(text)?.data?.messageStream);
    const first = await until(page, "from the subscription", isEvent);
    if (parsed(first).data.messageStream.done) {
      throw new Error(`the first event was already the last: ${first}`);
    }
    say("first-event");
    await lines.next(); // "release": the model goes on
    const seen = new Set([first]);
    await until(page, "with more text", (text) => {
      if (isEvent(text)) {
        seen.add(text);
      }
      return seen.size > 1;
    });
    const streaming = join(artifacts, "graphiql-streaming.png");
    await page.screenshot({ path: streaming });
    say(`screenshot ${streaming}`);
    const last = await until(page, "with done: true", (text) => {
      if (isEvent(text)) {
        seen.add(text);
      }
      return isEvent(text) && parsed(text).data.messageStream.done;
    });
    if (seen.size < 3) {
      throw new Error(`saw ${seen.size} events; expected tokens to arrive one event at a time`);
    }
    if (parsed(last).data.messageStream.status !== "COMPLETE") {
      throw new Error(`the reply ended ${last}`);
    }
    const screenshot = join(artifacts, "graphiql.png");
    await page.screenshot({ path: screenshot });
    say(`screenshot ${screenshot}`);
    say(`streamed ${seen.size} events`);

    await page.locator("#sign-out").click();
    await page.getByText("Not signed in").waitFor({ timeout: STEP_TIMEOUT });
    await run(page, "query { me { username } }");
    await until(page, "refusing me", (text) => text.includes("UNAUTHENTICATED"));
    say("signed-out");

    await run(
      page,
      `mutation { login(username: "${username}", password: "${PASSWORD}") { token } }`,
    );
    await page.locator("#account-username").waitFor({ timeout: STEP_TIMEOUT });
    say("logged-in");

    await run(page, `mutation { deleteMe(password: "${PASSWORD}") }`);
    await page.getByText("The account was deleted.").waitFor({ timeout: STEP_TIMEOUT });
    await page.getByText("Not signed in").waitFor({ timeout: STEP_TIMEOUT });
    say("deleted");

    if (elsewhere.length) {
      throw new Error(`the page asked other origins: ${elsewhere.join(", ")}`);
    }
    if (problems.length) {
      throw new Error(problems.join("\n"));
    }
    say("ok");
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  },
);
