// Run by scripts/browser-check-security-keys: drives Chromium over the
// DevTools protocol with a virtual USB security key through twofold's pages.
"use strict";
const base = process.env.BASE;
const devtools = process.env.DEVTOOLS;
const username = process.env.USERNAME;
const withPin = process.env.KEY_UV === "pin";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function expect(condition, what) {
  if (!condition) throw new Error("expected " + what);
  console.log("ok:", what);
}

async function main() {
  const target = await (await fetch(devtools + "/json/new?about:blank", { method: "PUT" })).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r) => ws.addEventListener("open", r));
  let next = 1;
  const waiting = new Map();
  ws.addEventListener("message", (event) => {
    const msg = JSON.parse(event.data);
    if (msg.id && waiting.has(msg.id)) {
      const { resolve, reject } = waiting.get(msg.id);
      waiting.delete(msg.id);
      msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result);
    } else if (msg.method === "Runtime.exceptionThrown") {
      console.log("page exception:", JSON.stringify(msg.params.exceptionDetails));
    }
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  const evaluate = async (expression) => {
    const r = await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(JSON.stringify(r.exceptionDetails));
    return r.result.value;
  };
  const waitFor = async (expression, what) => {
    for (let i = 0; i < 150; i++) {
      try {
        if (await evaluate(expression)) return;
      } catch (e) {}
      await sleep(100);
    }
    const at = await evaluate("location.href + '\\n' + (document.body ? document.body.innerText : '')");
    throw new Error("timed out waiting for " + what + " at " + at);
  };
  const go = async (path) => {
    await send("Page.navigate", { url: base + path });
    await waitFor(`location.pathname === ${JSON.stringify(path)} && document.readyState === "complete"`, path);
  };
  const password = async () => {
    await go("/login");
    await evaluate(`document.getElementById("username").value = ${JSON.stringify(username)};
      document.getElementById("password").value = "correct horse battery staple";
      document.querySelector("form").submit(); true`);
    await waitFor(`document.readyState === "complete" && location.pathname !== "/login"`, "the page after the password");
    return evaluate("location.pathname");
  };
  const shownError = () => evaluate(`document.querySelector("[data-role=error]").textContent`);
  const signOut = () => evaluate(`fetch("/api/v1/logout", {method: "POST"}).then(r => r.status)`);
  const addKey = (uv) =>
    send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", ctap2Version: "ctap2_1", transport: "usb", hasResidentKey: true,
                 hasUserVerification: uv, isUserVerified: uv, automaticPresenceSimulation: true },
    });

  await send("Page.enable");
  await send("Runtime.enable");
  await send("WebAuthn.enable");
  await send("Network.enable");
  const { authenticatorId } = await addKey(withPin);

  expect((await password()) === "/enrol", "a first login is sent to enrolment");
  expect(await evaluate(`!!document.querySelector('a[href="/enrol/security-key"]')`), "enrolment links to the key page");
  await go("/enrol/security-key");
  await evaluate(`document.getElementById("name").value = "Virtual key";
    document.querySelector("#security-key-enrol button").click(); true`);
  await waitFor(`location.pathname === "/account"`, "the account page after enrolment");
  expect((await evaluate(`document.querySelector("table").innerText`)).includes("Virtual key"), "the key is listed");

  await go("/enrol/security-key");
  await evaluate(`document.querySelector("#security-key-enrol button").click(); true`);
  await waitFor(`document.querySelector("[data-role=error]").textContent.length > 0`, "an error for the same key");
  expect((await shownError()).includes("already registered"), "registering the same key again is explained");

  await signOut();
  expect((await password()) === "/login/second-factor", "the next login asks for the second factor");
  await evaluate(`document.querySelector("#security-key-login button").click(); true`);
  await waitFor(`location.pathname === "/account"`, "the account page after the key");
  const me = await evaluate(`fetch("/api/v1/me").then(r => r.json())`);
  expect(me.username === username && me.devices[0].kind === "security_key", "signed in with the key");
  const { credentials } = await send("WebAuthn.getCredentials", { authenticatorId });
  expect(credentials.length === 1 && credentials[0].signCount >= 1, "the key counted its signature");

  const sessionCookie = async () =>
    (await send("Network.getCookies", { urls: [base] })).cookies.find((c) => c.name === "twofold_session").value;
  const before = await sessionCookie();
  await send("Page.navigate", { url: base + "/reauthenticate?next=/account/password" });
  await waitFor(`location.pathname === "/reauthenticate" && document.readyState === "complete"`, "the step-up page");
  expect(!(await evaluate(`!!document.getElementById("code")`)), "step-up asks a key-only user for no app code");
  await evaluate(`document.querySelector("#security-key-step-up button").click(); true`);
  await waitFor(`location.pathname === "/account/password"`, "the password page after stepping up with the key");
  expect((await sessionCookie()) !== before, "stepping up gave the session a new cookie");

  await send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
  await addKey(false);
  await signOut();
  await password();
  await evaluate(`document.querySelector("#security-key-login button").click(); true`);
  await waitFor(`document.querySelector("[data-role=error]").textContent.length > 0`, "an error for another key");
  expect((await shownError()).includes("not registered"), "a key that is not registered is explained");

  ws.close();
  await fetch(devtools + "/json/close/" + target.id);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e.message);
    process.exit(1);
  },
);
