// The console's entry point: sign-in, the header, and the router from the
// URL fragment (#/keys, #/keys/<id>, #/create, #/audit, #/access,
// #/identities) to the page that draws it.

import { session, signIn, signOut, probeOpen, whoAmI, kms } from "./api.js";
import { h, clear, field, errorBox, loading } from "./ui.js";
import { keysPage } from "./keys.js";
import { createPage } from "./create.js";
import { keyPage } from "./keydetail.js";
import { auditPage } from "./audit.js";
import { accessPage } from "./access.js";
import { identitiesPage } from "./identities.js";

const main = document.getElementById("main");

function route() {
  const [path, qs] = (location.hash.replace(/^#/, "") || "/keys").split("?");
  const params = new URLSearchParams(qs || "");
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "keys" && parts[1] && parts[1] !== "aws") {
    return { nav: "keys", draw: () => keyPage(main, decodeURIComponent(parts[1]), params) };
  }
  switch (parts[0]) {
    case "keys": return { nav: parts[1] === "aws" ? "aws" : "keys", draw: () => keysPage(main, parts[1] === "aws" ? "AWS" : "CUSTOMER") };
    case "create": return { nav: "create", draw: () => createPage(main) };
    case "audit": return { nav: "audit", draw: () => auditPage(main, params) };
    case "access": return { nav: "access", draw: () => accessPage(main, params) };
    case "identities": return { nav: "identities", draw: () => identitiesPage(main) };
  }
  return { nav: "", draw: () => clear(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/keys" }, "Go to your keys"))) };
}

function render() {
  if (!session.mode) return;
  const r = route();
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === r.nav) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  r.draw();
  main.focus({ preventScroll: true });
}

function drawWho() {
  const who = document.getElementById("who");
  if (session.mode === "open") {
    clear(who, h("span", { class: "badge warn", title: "kmsd dev accepts unsigned requests as the account root" }, "dev: no sign-in, acting as the account root"));
    return;
  }
  const id = session.identity;
  clear(who, h("span", { class: "identity" }, id ? id.arn : session.creds.accessKeyId), h("span", { class: "badge" }, session.region),
    h("button", { type: "button", class: "link", onclick: () => { signOut(); document.getElementById("nav").hidden = true; clear(who); signInPage(); } }, "Sign out"));
}

function canSign() {
  return window.isSecureContext && Boolean(globalThis.crypto && crypto.subtle);
}

function signInPage(problem) {
  const akid = h("input", { name: "accessKeyId", autocomplete: "off", required: true, spellcheck: "false" });
  const secret = h("input", { name: "secretAccessKey", type: "password", autocomplete: "off", required: true });
  const token = h("input", { name: "sessionToken", autocomplete: "off" });
  const region = h("input", { name: "region", value: session.region, required: true, pattern: "[a-z0-9-]+" });
  const status = h("div", { "aria-live": "polite" }, problem ? errorBox(problem, "Sign-in failed") : null);
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title", onsubmit: async (e) => {
    e.preventDefault();
    clear(status, loading("Signing in"));
    signIn({ accessKeyId: akid.value.trim(), secretAccessKey: secret.value, sessionToken: token.value.trim() }, region.value.trim());
    try {
      await kms("ListKeys", { Limit: 1 });
    } catch (err) {
      // A principal may lack ListKeys but still sign correctly; only a
      // refused signature or an unknown key stops the sign-in.
      if (["UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException", "MissingAuthenticationTokenException", "ExpiredTokenException", "NetworkError"].includes(err.code)) {
        signOut();
        clear(status, errorBox(err, "Sign-in failed"));
        secret.value = "";
        secret.focus();
        return;
      }
    }
    secret.value = "";
    await whoAmI().catch(() => null);
    started();
  } },
  h("h1", { id: "signin-title" }, "Sign in to kmsd"),
  h("p", {}, "Use an access key of this kmsd. It stays in this tab's memory only: it is not sent to kmsd or stored; requests are signed with it in your browser."),
  field("Access key ID", akid), field("Secret access key", secret), field("Session token (optional)", token), field("Region", region),
  h("button", { type: "submit", class: "primary", disabled: !canSign() }, "Sign in"), status);
  clear(main, form);
  if (!canSign()) {
    // Browsers give WebCrypto only to secure contexts: HTTPS, or
    // localhost and loopback addresses.
    clear(status, errorBox({ code: "InsecureContext", message: `This page was opened over plain HTTP at ${location.host}, where the browser withholds the WebCrypto API that signs requests. Open the console over HTTPS (kmsd --tls-cert and --tls-key) or at http://127.0.0.1 or http://localhost.` }, "Cannot sign requests here"));
  }
  akid.focus();
}

function started() {
  document.getElementById("nav").hidden = false;
  drawWho();
  if (!location.hash || location.hash === "#") location.hash = "#/keys";
  else render();
}

async function start() {
  window.addEventListener("hashchange", render);
  clear(main, loading("Connecting to kmsd"));
  let open = false;
  try {
    open = await probeOpen();
  } catch (e) {
    clear(main, errorBox(e, "kmsd could not be reached"));
    return;
  }
  if (open) {
    session.mode = "open";
    await whoAmI().catch(() => null);
    started();
  } else {
    signInPage();
  }
}

start();
