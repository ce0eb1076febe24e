package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// terraformMirror finds the Terraform filesystem mirror that holds the
// hashicorp/aws provider: $KMSD_TERRAFORM_MIRROR, or where the machine
// image keeps it. A machine without Terraform or the provider fails the
// test: it is part of what kmsd promises.
func terraformMirror(t *testing.T) (terraform, mirror string) {
	t.Helper()
	terraform, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatalf("terraform is required for the Terraform test (Terraform 1.11 with hashicorp/aws 5.100.0 in a filesystem mirror): %v", err)
	}
	candidates := []string{os.Getenv("KMSD_TERRAFORM_MIRROR"), "/opt/tf-plugins", "/usr/share/terraform/plugins",
		filepath.Join(os.Getenv("HOME"), ".terraform.d", "plugins")}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(c, "registry.terraform.io", "hashicorp", "aws", "5.100.0")); err == nil {
			return terraform, c
		}
	}
	t.Fatalf("no Terraform filesystem mirror with registry.terraform.io/hashicorp/aws/5.100.0 in %v; set KMSD_TERRAFORM_MIRROR", candidates)
	return "", ""
}

// terraformConfig is what a user writes to manage kmsd keys with the
// hashicorp/aws provider; endpoint is kmsd's URL.
const terraformConfig = `
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}

variable "endpoint" { type = string }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "AKIAIOSFODNN7EXAMPLE"
  secret_key                  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    kms = var.endpoint
    sts = var.endpoint
    iam = var.endpoint
  }
}

provider "aws" {
  alias                       = "west"
  region                      = "us-west-2"
  access_key                  = "AKIAIOSFODNN7EXAMPLE"
  secret_key                  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    kms = var.endpoint
    sts = var.endpoint
    iam = var.endpoint
  }
}

data "aws_caller_identity" "me" {}

resource "aws_kms_key" "app" {
  description             = "orders service"
  deletion_window_in_days = 7
  enable_key_rotation     = true
  rotation_period_in_days = 90
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Account"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.me.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = { team = "orders" }
}

resource "aws_kms_alias" "app" {
  name          = "alias/orders"
  target_key_id = aws_kms_key.app.key_id
}

resource "aws_kms_key" "signing" {
  description              = "release signing"
  customer_master_key_spec = "ECC_NIST_P256"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = 7
}

resource "aws_kms_key" "global" {
  description             = "multi-Region primary"
  multi_region            = true
  deletion_window_in_days = 7
}

resource "aws_kms_replica_key" "global_west" {
  provider                = aws.west
  description             = "multi-Region replica"
  primary_key_arn         = aws_kms_key.global.arn
  deletion_window_in_days = 7
}

resource "aws_kms_grant" "worker" {
  name              = "worker"
  key_id            = aws_kms_key.app.key_id
  grantee_principal = "arn:aws:iam::${data.aws_caller_identity.me.account_id}:role/worker"
  operations        = ["Encrypt", "Decrypt", "GenerateDataKey"]
  constraints {
    encryption_context_subset = { app = "orders" }
  }
}

resource "aws_kms_ciphertext" "db_password" {
  key_id    = aws_kms_alias.app.target_key_id
  plaintext = "correct horse battery staple"
  context   = { app = "orders" }
}

data "aws_kms_secrets" "db" {
  secret {
    name    = "password"
    payload = aws_kms_ciphertext.db_password.ciphertext_blob
    context = { app = "orders" }
  }
}

output "password" {
  value     = data.aws_kms_secrets.db.plaintext["password"]
  sensitive = true
}

output "key_ids" {
  value = [aws_kms_key.app.key_id, aws_kms_key.signing.key_id, aws_kms_key.global.key_id]
}
`

// TestTerraform applies a configuration of the hashicorp/aws provider
// against kmsd, plans again and expects no changes (no drift), reads a
// secret back through aws_kms_secrets, and destroys everything.
func TestTerraform(t *testing.T) {
	t.Parallel()
	terraform, mirror := terraformMirror(t)
	p := startKMSD(t, "dev", "--data", t.TempDir())
	dir := t.TempDir()
	cliConfig := filepath.Join(dir, "terraformrc")
	rc := `provider_installation {
  filesystem_mirror {
    path    = "` + mirror + `"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
`
	if err := os.WriteFile(cliConfig, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(terraformConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tf := func(args ...string) (string, error) {
		cmd := exec.Command(terraform, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
			"TF_VAR_endpoint="+p.url, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := tf("init", "-input=false", "-no-color"); err != nil {
		t.Fatalf("terraform init: %v\n%s", err, out)
	}
	if out, err := tf("apply", "-auto-approve", "-input=false", "-no-color"); err != nil {
		t.Fatalf("terraform apply: %v\n%s\nkmsd stderr:\n%s", err, out, p.stderr)
	}
	// A second plan must find nothing to change: what kmsd returns is what
	// the provider wrote.
	out, err := tf("plan", "-detailed-exitcode", "-input=false", "-no-color")
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 2 {
		t.Fatalf("terraform plan after apply shows drift:\n%s", out)
	} else if err != nil {
		t.Fatalf("terraform plan: %v\n%s", err, out)
	}
	out, err = tf("output", "-json")
	if err != nil {
		t.Fatalf("terraform output: %v\n%s", err, out)
	}
	var outputs struct {
		Password struct{ Value string }   `json:"password"`
		KeyIDs   struct{ Value []string } `json:"key_ids"`
	}
	if err := json.Unmarshal([]byte(out), &outputs); err != nil {
		t.Fatalf("terraform output: %v\n%s", err, out)
	}
	if outputs.Password.Value != "correct horse battery staple" {
		t.Errorf("aws_kms_secrets decrypted %q", outputs.Password.Value)
	}
	if len(outputs.KeyIDs.Value) != 3 || !strings.HasPrefix(outputs.KeyIDs.Value[2], "mrk-") {
		t.Errorf("key ids %v; the multi-Region key's should start with mrk-", outputs.KeyIDs.Value)
	}

	if out, err := tf("destroy", "-auto-approve", "-input=false", "-no-color"); err != nil {
		t.Fatalf("terraform destroy: %v\n%s\nkmsd stderr:\n%s", err, out, p.stderr)
	}
	// Destroying a key schedules its deletion, as in AWS.
	c := p.client(docKey, docSecret)
	for _, id := range outputs.KeyIDs.Value {
		d, err := c.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if err != nil {
			t.Fatalf("describe %s after destroy: %v", id, err)
		}
		if state := string(d.KeyMetadata.KeyState); state != "PendingDeletion" && state != "PendingReplicaDeletion" {
			t.Errorf("key %s is %s after terraform destroy, want PendingDeletion", id, state)
		}
	}
}
