// The default key policy the AWS KMS console writes for a new key: the
// account may delegate with IAM, key administrators manage it, key users
// use it, and (for keys AWS services may use through grants) key users may
// make grants for AWS resources.

const ADMIN_ACTIONS = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
  "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"];

// usageActions are the cryptographic operations a key of this usage allows.
export function usageActions(usage, symmetric) {
  switch (usage) {
    case "ENCRYPT_DECRYPT":
      return symmetric
        ? ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        : ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey", "kms:GetPublicKey"];
    case "SIGN_VERIFY": return ["kms:Sign", "kms:Verify", "kms:DescribeKey", "kms:GetPublicKey"];
    case "GENERATE_VERIFY_MAC": return ["kms:GenerateMac", "kms:VerifyMac", "kms:DescribeKey"];
    case "KEY_AGREEMENT": return ["kms:DeriveSharedSecret", "kms:DescribeKey", "kms:GetPublicKey"];
    case "KEY_ENCAPSULATION": return ["kms:Decapsulate", "kms:DescribeKey", "kms:GetPublicKey"];
  }
  return ["kms:DescribeKey"];
}

// defaultPolicy builds the policy document for account, administrators and
// users (principal ARNs).
export function defaultPolicy({ account, admins, users, usage, symmetric, adminsMayDelete }) {
  const statements = [{
    Sid: "Enable IAM User Permissions",
    Effect: "Allow",
    Principal: { AWS: `arn:aws:iam::${account}:root` },
    Action: "kms:*",
    Resource: "*",
  }];
  if (admins.length) {
    statements.push({
      Sid: "Allow access for Key Administrators",
      Effect: "Allow",
      Principal: { AWS: admins },
      Action: adminsMayDelete ? ADMIN_ACTIONS : ADMIN_ACTIONS.filter((a) => a !== "kms:ScheduleKeyDeletion"),
      Resource: "*",
    });
  }
  if (users.length) {
    statements.push({ Sid: "Allow use of the key", Effect: "Allow", Principal: { AWS: users }, Action: usageActions(usage, symmetric), Resource: "*" });
    if (symmetric && usage === "ENCRYPT_DECRYPT") {
      statements.push({
        Sid: "Allow attachment of persistent resources",
        Effect: "Allow",
        Principal: { AWS: users },
        Action: ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
        Resource: "*",
        Condition: { Bool: { "kms:GrantIsForAWSResource": "true" } },
      });
    }
  }
  return { Version: "2012-10-17", Id: "key-consolepolicy-3", Statement: statements };
}

// statementSummary describes a statement in a line for the policy's
// default view.
export function statementSummary(st) {
  const list = (v) => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
  let principals = "";
  if (st.Principal === "*") principals = "Everyone (*)";
  else if (st.Principal) principals = Object.entries(st.Principal).map(([k, v]) => `${k}: ${list(v).join(", ")}`).join("; ");
  else if (st.NotPrincipal) principals = "Everyone except " + JSON.stringify(st.NotPrincipal);
  return {
    sid: st.Sid || "(no Sid)",
    effect: st.Effect,
    principals,
    actions: st.Action ? list(st.Action).join(", ") : "All except " + list(st.NotAction).join(", "),
    condition: st.Condition ? JSON.stringify(st.Condition) : "",
  };
}
