// "Can this principal do this?": IAM SimulatePrincipalPolicy on a kmsd
// key, which decides as a real request would (key policy, grants, identity
// policies), showing the decision and the statement or grant that made it.

import { query, kms } from "./api.js";
import { h, clear, field, select, loading, errorBox, uid } from "./ui.js";
import { principals } from "./principals.js";
import { loadKeys } from "./keys.js";

const ACTIONS = ["Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
  "Sign", "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret", "GetPublicKey", "DescribeKey", "GetKeyPolicy", "PutKeyPolicy", "CreateGrant",
  "ListGrants", "RevokeGrant", "RetireGrant", "EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "EnableKeyRotation",
  "RotateKeyOnDemand", "TagResource", "UntagResource", "CreateAlias", "DeleteAlias", "ListResourceTags"].map((a) => "kms:" + a);

const WORDS = { allowed: "Allowed", explicitDeny: "Denied explicitly", implicitDeny: "Denied (nothing allows it)" };

// excerpt cuts the statement between two 1-based line/column positions.
function excerpt(text, startEl, endEl) {
  if (!startEl || !endEl) return "";
  const pos = (el) => ({ line: Number(el.getElementsByTagName("Line")[0]?.textContent), col: Number(el.getElementsByTagName("Column")[0]?.textContent) });
  const lines = text.split("\n");
  const offset = (p) => lines.slice(0, p.line - 1).reduce((n, l) => n + l.length + 1, 0) + p.col - 1;
  const start = pos(startEl);
  // Indent the first line as in the document, then take the common
  // indentation off every line.
  const lines2 = (" ".repeat(start.col - 1) + text.slice(offset(start), offset(pos(endEl)) + 1).replace(/,\s*$/, "")).split("\n");
  const indent = Math.min(...lines2.filter((l) => l.trim()).map((l) => l.match(/^ */)[0].length));
  return lines2.map((l) => l.slice(indent)).join("\n");
}

async function explain(doc, keyArn) {
  const res = doc.getElementsByTagName("EvaluationResults")[0]?.getElementsByTagName("member")[0];
  if (!res) return h("p", {}, "No result.");
  const decision = res.getElementsByTagName("EvalDecision")[0]?.textContent;
  const matched = Array.from(res.getElementsByTagName("MatchedStatements")[0]?.children || []);
  let policy = null;
  const items = [];
  for (const m of matched) {
    const id = m.getElementsByTagName("SourcePolicyId")[0]?.textContent || "";
    const type = m.getElementsByTagName("SourcePolicyType")[0]?.textContent || "";
    const start = m.getElementsByTagName("StartPosition")[0];
    const end = m.getElementsByTagName("EndPosition")[0];
    let text = "";
    if (id === "default" && type === "resource" && start) {
      policy ??= await kms("GetKeyPolicy", { KeyId: keyArn, PolicyName: "default" }).then((o) => o.Policy, () => "");
      text = excerpt(policy, start, end);
    }
    const what = type === "resource" && id !== "default" ? `Grant ${id}` : id === "default" ? "Key policy statement" : `Identity policy ${id} (${type})`;
    items.push(h("li", {}, h("strong", {}, what), text ? h("pre", { class: "code" }, text) : null));
  }
  const missing = Array.from(res.getElementsByTagName("MissingContextValues")[0]?.children || []).map((m) => m.textContent);
  return [
    h("p", { class: `decision ${decision}`, role: "status" }, h("strong", {}, WORDS[decision] || decision), ` — ${res.getElementsByTagName("EvalActionName")[0]?.textContent} on ${res.getElementsByTagName("EvalResourceName")[0]?.textContent}`),
    items.length ? [h("h3", {}, "Decided by"), h("ul", { class: "matched" }, items)] : h("p", { class: "muted" }, "No statement or grant allows this; by default everything is denied."),
    missing.length ? h("p", {}, "Condition keys the check could not supply: ", missing.join(", ")) : null,
  ];
}

export function accessPage(main, params) {
  const principal = h("input", { required: true, list: uid("principals"), placeholder: "arn:aws:iam::111122223333:user/alice", value: params.get("principal") || "" });
  const plist = h("datalist", { id: principal.getAttribute("list") });
  const action = select(ACTIONS, params.get("action") || "kms:Encrypt");
  const key = h("input", { required: true, list: uid("keys"), placeholder: "Key ARN", value: params.get("key") || "" });
  const klist = h("datalist", { id: key.getAttribute("list") });
  const ctx = h("textarea", { rows: "3", placeholder: "purpose=backup\nteam=data" });
  const out = h("div", { "aria-live": "polite" });
  principals().then((ps) => plist.append(...ps.map((p) => h("option", { value: p.arn }, `${p.name} (${p.kind})`))), () => null);
  loadKeys().then((ks) => klist.append(...ks.map((k) => h("option", { value: k.Arn }, k.aliases[0] || k.KeyId))), () => null);
  const form = h("form", { class: "card", "aria-label": "Access check", onsubmit: async (e) => {
    e.preventDefault();
    clear(out, loading("Checking"));
    const p = { PolicySourceArn: principal.value.trim(), "ActionNames.member.1": action.value, "ResourceArns.member.1": key.value.trim() };
    ctx.value.split("\n").map((l) => l.trim()).filter(Boolean).forEach((line, i) => {
      const [k, ...v] = line.split("=");
      const n = `ContextEntries.member.${i + 1}.`;
      p[n + "ContextKeyName"] = "kms:EncryptionContext:" + k.trim();
      p[n + "ContextKeyValues.member.1"] = v.join("=").trim();
      p[n + "ContextKeyType"] = "string";
    });
    try {
      clear(out, await explain(await query("iam", "SimulatePrincipalPolicy", p), key.value.trim()));
    } catch (err) {
      clear(out, errorBox(err, "The check failed"));
    }
  } }, plist, klist, field("Principal ARN", principal, "An IAM user, role or the account root."), field("Action", action),
  field("KMS key ARN", key), field("Encryption context (optional)", ctx, "One key=value pair per line."),
  h("button", { type: "submit", class: "primary" }, "Check access"));
  clear(main, h("h1", {}, "Access check"), h("p", { class: "muted" }, "Can this principal do this? kmsd decides as it would for a real request, with the key policy, grants and identity policies, and shows the statement or grant that decided."), form, out);
}
