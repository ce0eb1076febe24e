// The cryptographic configuration, public key and key rotation tabs.

import { kms, all } from "./api.js";
import { h, clear, run, dl, loading, errorBox, toast, field, table, fmtDate } from "./ui.js";

export function cryptoTab(panel, md) {
  const list = (v) => (v && v.length ? v.join(", ") : null);
  clear(panel, dl([
    ["Key spec", md.KeySpec],
    ["Key usage", md.KeyUsage],
    ["Origin", md.Origin],
    list(md.EncryptionAlgorithms) ? ["Encryption algorithms", list(md.EncryptionAlgorithms)] : null,
    list(md.SigningAlgorithms) ? ["Signing algorithms", list(md.SigningAlgorithms)] : null,
    list(md.MacAlgorithms) ? ["MAC algorithms", list(md.MacAlgorithms)] : null,
    list(md.KeyAgreementAlgorithms) ? ["Key agreement algorithms", list(md.KeyAgreementAlgorithms)] : null,
    md.CustomKeyStoreId ? ["Custom key store ID", md.CustomKeyStoreId] : null,
    md.ExpirationModel ? ["Expiration model", md.ExpirationModel] : null,
    md.ValidTo ? ["Key material expires", fmtDate(md.ValidTo)] : null,
  ]));
}

function pem(b64) {
  return "-----BEGIN PUBLIC KEY-----\n" + b64.match(/.{1,64}/g).join("\n") + "\n-----END PUBLIC KEY-----\n";
}

export function publicKeyTab(panel, md) {
  run(panel, "Load the public key", async () => {
    const out = await kms("GetPublicKey", { KeyId: md.KeyId });
    const text = pem(out.PublicKey);
    const url = URL.createObjectURL(new Blob([text], { type: "application/x-pem-file" }));
    return [h("pre", { class: "code", tabindex: "0", "aria-label": "Public key (PEM)" }, text),
      h("a", { class: "button", href: url, download: `${md.KeyId}.pem` }, "Download public key (PEM)")];
  });
}

export function rotationTab(panel, md) {
  run(panel, "Load the rotation status", async () => {
    const st = await kms("GetKeyRotationStatus", { KeyId: md.KeyId });
    const enabled = h("input", { type: "checkbox", id: "rotation-enabled", checked: st.KeyRotationEnabled });
    const period = h("input", { type: "number", min: "90", max: "2560", value: String(st.RotationPeriodInDays || 365) });
    const status = h("div", { "aria-live": "polite" });
    const redraw = () => rotationTab(panel, md);
    const act = (label, fn, done) => h("button", { type: "button", class: label === "Save" ? "primary" : "", onclick: async (e) => {
      e.target.disabled = true;
      clear(status, loading(label));
      try { await fn(); toast(done); redraw(); } catch (err) { clear(status, errorBox(err, `${label} failed`)); e.target.disabled = false; }
    } }, label);
    const history = h("div");
    run(history, "Load the rotation history", async () => {
      const rows = await all(async (marker) => {
        const out = await kms("ListKeyRotations", { KeyId: md.KeyId, Marker: marker });
        return { items: out.Rotations || [], next: out.Truncated ? out.NextMarker : null };
      });
      return table({
        caption: "Rotation history", rows, emptyText: "This key has not been rotated yet.",
        columns: [
          { label: "Date", value: (r) => r.RotationDate, cell: (r) => fmtDate(r.RotationDate) },
          { label: "Type", value: (r) => r.RotationType },
          { label: "Key material ID", value: (r) => r.KeyMaterialId || "" },
        ],
      });
    });
    return [
      h("h3", {}, "Automatic key rotation"),
      h("div", { class: "check" }, enabled, h("label", { for: "rotation-enabled" }, "Automatically rotate this KMS key")),
      field("Rotation period (in days)", period, "Between 90 and 2560 days."),
      st.NextRotationDate ? h("p", {}, "Next rotation: ", fmtDate(st.NextRotationDate)) : null,
      h("div", { class: "actions" },
        act("Save", () => (enabled.checked
          ? kms("EnableKeyRotation", { KeyId: md.KeyId, RotationPeriodInDays: Number(period.value) })
          : kms("DisableKeyRotation", { KeyId: md.KeyId })), "Rotation settings saved"),
        act("Rotate now", () => kms("RotateKeyOnDemand", { KeyId: md.KeyId }), "On-demand rotation started")),
      status,
      h("h3", {}, "Rotation history"), history,
    ];
  });
}
