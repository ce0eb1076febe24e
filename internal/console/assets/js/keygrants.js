// The grants tab: list a key's grants, create one, retire or revoke it.

import { kms, all } from "./api.js";
import { h, clear, run, table, field, dialog, toast, errorBox, fmtDate, uid, select } from "./ui.js";
import { principals } from "./principals.js";

const OPS = {
  ENCRYPT_DECRYPT: ["Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"],
  SIGN_VERIFY: ["Sign", "Verify", "GetPublicKey"],
  GENERATE_VERIFY_MAC: ["GenerateMac", "VerifyMac"],
  KEY_AGREEMENT: ["DeriveSharedSecret", "GetPublicKey"],
};
const COMMON = ["DescribeKey", "CreateGrant", "RetireGrant"];

async function createGrant(md) {
  const people = await principals().catch(() => []);
  const grantee = h("input", { required: true, list: "grantee-options", placeholder: "arn:aws:iam::111122223333:role/app" });
  const options = h("datalist", { id: "grantee-options" }, people.map((p) => h("option", { value: p.arn }, `${p.name} (${p.kind})`)));
  const retiring = h("input", { list: "grantee-options" });
  const name = h("input");
  const ctxKey = h("input");
  const ctxVal = h("input");
  const ctxKind = select([["EncryptionContextSubset", "Encryption context subset"], ["EncryptionContextEquals", "Encryption context equals"]], "EncryptionContextSubset");
  const ops = [...(OPS[md.KeyUsage] || []), ...COMMON].map((op) => ({ op, box: h("input", { type: "checkbox", id: uid("op"), value: op }) }));
  const out = await dialog("Create grant", [
    options, field("Grantee principal", grantee, "The user, role or service that gets the permissions."),
    h("fieldset", { class: "checks" }, h("legend", {}, "Operations"), ops.map((o) => h("div", { class: "check" }, o.box, h("label", { for: o.box.id }, o.op)))),
    field("Retiring principal (optional)", retiring), field("Grant name (optional)", name),
    h("details", {}, h("summary", {}, "Grant constraint (optional)"), field("Condition", ctxKind), field("Encryption context key", ctxKey), field("Encryption context value", ctxVal)),
  ], [{ label: "Create grant", primary: true, run: () => {
    const input = { KeyId: md.KeyId, GranteePrincipal: grantee.value.trim(), Operations: ops.filter((o) => o.box.checked).map((o) => o.op) };
    if (retiring.value.trim()) input.RetiringPrincipal = retiring.value.trim();
    if (name.value.trim()) input.Name = name.value.trim();
    if (ctxKey.value.trim()) input.Constraints = { [ctxKind.value]: { [ctxKey.value.trim()]: ctxVal.value } };
    return kms("CreateGrant", input);
  } }]);
  if (out) {
    await dialog("Grant created", [h("p", {}, "Grant ID: ", h("code", { class: "grant-id" }, out.GrantId)),
      h("p", {}, "Grant token (give it to the grantee to use the grant before it is consistent everywhere):"), h("pre", { class: "code" }, out.GrantToken)],
    [{ label: "Close", primary: true, value: true }]);
  }
  return out;
}

export function grantsTab(panel, md) {
  const status = h("div", { "aria-live": "polite" });
  const redraw = () => grantsTab(panel, md);
  run(panel, "Load grants", async () => {
    const grants = await all(async (marker) => {
      const out = await kms("ListGrants", { KeyId: md.KeyId, Marker: marker, Limit: 100 });
      return { items: out.Grants || [], next: out.Truncated ? out.NextMarker : null };
    });
    const act = (label, op, g) => h("button", { type: "button", "aria-label": `${label} grant ${g.GrantId}`, onclick: async () => {
      const ok = await dialog(`${label} grant`, [h("p", {}, `${label} grant ${g.GrantId}? The grantee loses the permissions it gives.`)],
        [{ label, danger: true, run: () => kms(op, { KeyId: md.KeyId, GrantId: g.GrantId }).then(() => true) }]);
      if (ok) { toast(`Grant ${label === "Revoke" ? "revoked" : "retired"}`); redraw(); }
    } }, label);
    const create = h("button", { type: "button", class: "primary", onclick: async () => {
      try { if (await createGrant(md)) redraw(); } catch (e) { clear(status, errorBox(e, "The grant was not created")); }
    } }, "Create grant");
    return [h("div", { class: "actions" }, create), status, table({
      caption: "Grants", rows: grants, emptyText: "This key has no grants.",
      columns: [
        { label: "Grant ID", value: (g) => g.GrantId, cell: (g) => h("code", {}, g.GrantId) },
        { label: "Name", value: (g) => g.Name || "" },
        { label: "Grantee principal", value: (g) => g.GranteePrincipal },
        { label: "Operations", value: (g) => (g.Operations || []).join(", ") },
        { label: "Retiring principal", value: (g) => g.RetiringPrincipal || "" },
        { label: "Constraints", value: (g) => (g.Constraints ? JSON.stringify(g.Constraints) : "") },
        { label: "Created", value: (g) => g.CreationDate, cell: (g) => fmtDate(g.CreationDate) },
        { label: "Actions", cell: (g) => h("div", { class: "row-actions" }, act("Retire", "RetireGrant", g), act("Revoke", "RevokeGrant", g)) },
      ],
    })];
  });
}
