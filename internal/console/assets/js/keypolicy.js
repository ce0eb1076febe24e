// The key policy tab: a default view of who may do what, and a policy view
// whose JSON editor saves with PutKeyPolicy and shows kmsd's refusal
// (MalformedPolicyDocumentException and its message) inline.

import { kms } from "./api.js";
import { h, clear, loading, errorBox, toast, table } from "./ui.js";
import { statementSummary } from "./policydoc.js";

export async function policyTab(panel, md) {
  clear(panel, loading("Loading the key policy"));
  let policy;
  try {
    policy = (await kms("GetKeyPolicy", { KeyId: md.KeyId, PolicyName: "default" })).Policy;
  } catch (e) {
    clear(panel, errorBox(e, "Could not load the key policy"));
    return;
  }
  const view = { mode: "default" };
  const draw = () => clear(panel, view.mode === "default" ? defaultView() : editor());

  function switcher() {
    return h("div", { class: "actions" },
      h("button", { type: "button", "aria-pressed": String(view.mode === "default"), onclick: () => { view.mode = "default"; draw(); } }, "Switch to default view"),
      h("button", { type: "button", "aria-pressed": String(view.mode !== "default"), onclick: () => { view.mode = "policy"; draw(); } }, "Switch to policy view"));
  }

  function defaultView() {
    let doc;
    try {
      doc = JSON.parse(policy);
    } catch {
      return [switcher(), h("pre", { class: "code" }, policy)];
    }
    const statements = (Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]).map(statementSummary);
    return [switcher(), table({
      caption: "Statements of the key policy", rows: statements, pageSize: 20, filterLabel: "Filter statements",
      columns: [
        { label: "Sid", value: (s) => s.sid },
        { label: "Effect", value: (s) => s.effect },
        { label: "Principals", value: (s) => s.principals },
        { label: "Actions", value: (s) => s.actions },
        { label: "Condition", value: (s) => s.condition, cell: (s) => (s.condition ? h("code", {}, s.condition) : "—") },
      ],
    })];
  }

  function editor() {
    let pretty = policy;
    try { pretty = JSON.stringify(JSON.parse(policy), null, 2); } catch { /* show as stored */ }
    const area = h("textarea", { class: "code policy-editor", rows: "22", spellcheck: "false", "aria-label": "Key policy JSON", "aria-describedby": "policy-error" }, pretty);
    const err = h("div", { id: "policy-error", class: "policy-error", "aria-live": "assertive" });
    const save = h("button", { type: "button", class: "primary", onclick: async () => {
      save.disabled = true;
      clear(err, loading("Saving the key policy"));
      try {
        await kms("PutKeyPolicy", { KeyId: md.KeyId, PolicyName: "default", Policy: area.value });
        policy = area.value;
        view.mode = "default";
        toast("Key policy saved");
        draw();
      } catch (e) {
        clear(err, errorBox(e, "The key policy was not saved"));
        area.setAttribute("aria-invalid", "true");
      } finally {
        save.disabled = false;
      }
    } }, "Save changes");
    return [switcher(), md.KeyManager === "AWS" ? h("p", { class: "muted" }, "The policy of an AWS managed key cannot be changed.") : null,
      area, err, md.KeyManager === "AWS" ? null : h("div", { class: "actions" }, save)];
  }
  draw();
}
