// The key detail page: general configuration, key actions (enable,
// disable, schedule and cancel deletion) and the tabs of the AWS KMS
// console, each drawn by its own module.

import { kms } from "./api.js";
import { h, clear, run, tabs, dl, fmtDate, dialog, field, toast, errorBox } from "./ui.js";
import { keyType, regionality, statusBadge, listAliases } from "./keys.js";
import { policyTab } from "./keypolicy.js";
import { cryptoTab, publicKeyTab, rotationTab } from "./keycrypto.js";
import { tagsTab, aliasesTab, replicasTab } from "./keymeta.js";
import { grantsTab } from "./keygrants.js";
import { eventList } from "./audit.js";

async function scheduleDeletion(md, redraw) {
  const days = h("input", { type: "number", min: "7", max: "30", value: "30", required: true });
  const confirm = h("input", { type: "checkbox", id: "confirm-delete" });
  const out = await dialog("Schedule key deletion", [
    h("p", {}, "After the waiting period ends, the key and all data encrypted under it become unrecoverable. During the waiting period the key cannot be used, and you can cancel the deletion."),
    field("Waiting period (in days)", days, "Between 7 and 30 days."),
    h("div", { class: "check" }, confirm, h("label", { for: "confirm-delete" }, "Confirm that you want to schedule this key for deletion after the waiting period.")),
  ], [{ label: "Schedule deletion", danger: true, run: async () => {
    if (!confirm.checked) throw Object.assign(new Error("Tick the confirmation first."), { code: "ConfirmationRequired" });
    return kms("ScheduleKeyDeletion", { KeyId: md.KeyId, PendingWindowInDays: Number(days.value) });
  } }]);
  if (out) { toast(`Key scheduled for deletion on ${fmtDate(out.DeletionDate)}`); redraw(); }
}

function actions(md, redraw, status) {
  const act = (label, op, done, cls = "") => h("button", { type: "button", class: cls, onclick: async () => {
    clear(status);
    try { await kms(op, { KeyId: md.KeyId }); toast(done); redraw(); } catch (e) { clear(status, errorBox(e, `${label} failed`)); }
  } }, label);
  if (md.KeyManager === "AWS") return null;
  const list = [];
  if (md.KeyState === "Enabled") list.push(act("Disable", "DisableKey", "Key disabled"));
  if (md.KeyState === "Disabled") list.push(act("Enable", "EnableKey", "Key enabled"));
  if (md.KeyState === "PendingDeletion" || md.KeyState === "PendingReplicaDeletion") list.push(act("Cancel key deletion", "CancelKeyDeletion", "Key deletion canceled; the key is disabled"));
  else list.push(h("button", { type: "button", class: "danger", onclick: () => scheduleDeletion(md, redraw).catch((e) => clear(status, errorBox(e))) }, "Schedule key deletion"));
  return h("div", { class: "actions", role: "group", "aria-label": "Key actions" }, list);
}

function general(md, aliases) {
  return dl([
    ["Alias", aliases.length ? aliases.join(", ") : "—"],
    ["ARN", h("code", {}, md.Arn)],
    ["Status", statusBadge(md.KeyState)],
    md.DeletionDate ? ["Deletion date", fmtDate(md.DeletionDate)] : null,
    ["Description", md.Description || "—"],
    ["Creation date", fmtDate(md.CreationDate)],
    ["Key type", keyType(md)],
    ["Regionality", regionality(md)],
    ["Key manager", md.KeyManager === "AWS" ? "AWS managed" : "Customer managed"],
    md.CustomKeyStoreId ? ["Custom key store", md.CustomKeyStoreId] : null,
  ]);
}

export function keyPage(main, keyId, params) {
  const head = h("div", { class: "page-head" });
  const status = h("div", { "aria-live": "polite" });
  const body = h("div");
  clear(main, h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/keys" }, "Keys"), " / ", keyId), head, status, body);
  const redraw = () => keyPage(main, keyId, params);
  run(body, "Load the key", async () => {
    const md = (await kms("DescribeKey", { KeyId: keyId })).KeyMetadata;
    const aliases = (await listAliases(md.KeyId).catch(() => [])).map((a) => a.AliasName);
    clear(head, h("h1", {}, aliases[0] || md.KeyId), actions(md, redraw, status));
    const symmetricEncrypt = md.KeySpec === "SYMMETRIC_DEFAULT" && md.KeyUsage === "ENCRYPT_DECRYPT";
    const list = [
      { id: "policy", label: "Key policy", render: (p) => policyTab(p, md) },
      { id: "crypto", label: "Cryptographic configuration", render: (p) => cryptoTab(p, md) },
      keyType(md) === "Asymmetric" ? { id: "publickey", label: "Public key", render: (p) => publicKeyTab(p, md) } : null,
      { id: "tags", label: "Tags", render: (p) => tagsTab(p, md) },
      symmetricEncrypt ? { id: "rotation", label: "Key rotation", render: (p) => rotationTab(p, md) } : null,
      { id: "aliases", label: "Aliases", render: (p) => aliasesTab(p, md, redraw) },
      { id: "grants", label: "Grants", render: (p) => grantsTab(p, md) },
      md.MultiRegion ? { id: "regionality", label: "Regionality", render: (p) => replicasTab(p, md) } : null,
      { id: "audit", label: "Who used this key", render: (p) => {
        const list = h("div");
        p.append(h("p", {}, h("a", { href: `#/audit?attr=ResourceName&value=${encodeURIComponent(md.Arn)}` }, "Open in event history (more filters)")), list);
        eventList(list, { AttributeKey: "ResourceName", AttributeValue: md.Arn });
      } },
    ].filter(Boolean);
    const want = list.findIndex((t) => t.id === params.get("tab"));
    return [h("section", { class: "card", "aria-labelledby": "general-title" }, h("h2", { id: "general-title" }, "General configuration"), general(md, aliases)),
      h("section", { class: "card" }, tabs(list, want))];
  });
}
