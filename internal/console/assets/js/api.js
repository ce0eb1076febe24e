// Calls to kmsd's public APIs from the browser: KMS (JSON 1.1), IAM and STS
// (query protocol, XML answers) and CloudTrail LookupEvents. Requests are
// signed with the credentials typed at sign-in, which live only in this
// module's memory for the life of the tab.

import { sign } from "./sigv4.js";

// AwsError is a refused request: the AWS exception name and its message.
export class AwsError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
  toString() {
    return this.message && this.message !== this.code ? `${this.code}: ${this.message}` : this.code;
  }
}

// session is who the console acts as. mode is "open" when kmsd accepts
// unsigned requests (kmsd dev without --enforce), "signed" after sign-in.
export const session = { mode: "", creds: null, region: "us-east-1", identity: null };

export function signIn(creds, region) {
  session.creds = creds;
  session.region = region;
  session.mode = "signed";
}

export function signOut() {
  session.creds = null;
  session.identity = null;
  session.mode = "";
}

async function post(service, headers, body) {
  let h = headers;
  if (session.creds) {
    h = await sign({ host: location.host, path: "/", headers, body, creds: session.creds, region: session.region, service });
  }
  let resp;
  try {
    resp = await fetch("/", { method: "POST", headers: h, body, credentials: "omit", cache: "no-store" });
  } catch (e) {
    throw new AwsError("NetworkError", "kmsd could not be reached: " + e.message, 0);
  }
  return { resp, text: await resp.text() };
}

function jsonError(resp, text) {
  let code = "HTTP " + resp.status;
  let message = text.slice(0, 300);
  try {
    const d = JSON.parse(text);
    code = (d.__type || resp.headers.get("x-amzn-ErrorType") || code).split("#").pop().split(":")[0];
    message = d.message || d.Message || "";
  } catch {
    // not JSON: keep the status and text
  }
  return new AwsError(code, message, resp.status);
}

async function jsonCall(service, target, input) {
  const body = JSON.stringify(input || {});
  const { resp, text } = await post(service, { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target }, body);
  if (!resp.ok) throw jsonError(resp, text);
  return text ? JSON.parse(text) : {};
}

// kms calls a KMS operation (TrentService.<op>) and returns its output.
export function kms(op, input) {
  return jsonCall("kms", "TrentService." + op, input);
}

// lookupEvents calls CloudTrail LookupEvents.
export function lookupEvents(input) {
  return jsonCall("cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents", input);
}

// query calls an IAM or STS action and returns the answer's XML document.
export async function query(service, action, params = {}) {
  const form = new URLSearchParams({ Action: action, Version: service === "sts" ? "2011-06-15" : "2010-05-08" });
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") form.append(k, v);
  const { resp, text } = await post(service, { "Content-Type": "application/x-www-form-urlencoded; charset=utf-8" }, form.toString());
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (!resp.ok) {
    const code = doc.querySelector("Error > Code")?.textContent || "HTTP " + resp.status;
    throw new AwsError(code, doc.querySelector("Error > Message")?.textContent || "", resp.status);
  }
  return doc;
}

// members returns the text of each named child of every <member> under the
// first element called list, as objects.
export function members(doc, list, fields) {
  const root = doc.getElementsByTagName(list)[0];
  if (!root) return [];
  return Array.from(root.children).filter((m) => m.tagName === "member").map((m) => {
    const o = {};
    for (const f of fields) o[f] = m.getElementsByTagName(f)[0]?.textContent ?? "";
    return o;
  });
}

// all follows a paginated operation's marker until done or at most limit
// items, and returns the items.
export async function all(fetchPage, limit = 1000) {
  const items = [];
  let marker;
  do {
    const page = await fetchPage(marker);
    items.push(...page.items);
    marker = page.next;
  } while (marker && items.length < limit);
  items.truncated = Boolean(marker); // more exist than were fetched
  return items;
}

// probeOpen reports whether kmsd answers unsigned requests (kmsd dev
// without --enforce, where every caller is the account root).
export async function probeOpen() {
  const { resp } = await post("kms", { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys" }, '{"Limit":1}');
  return resp.ok;
}

// whoAmI asks STS who the current credentials belong to.
export async function whoAmI() {
  const doc = await query("sts", "GetCallerIdentity");
  const t = (n) => doc.getElementsByTagName(n)[0]?.textContent || "";
  session.identity = { arn: t("Arn"), account: t("Account"), userId: t("UserId") };
  return session.identity;
}
