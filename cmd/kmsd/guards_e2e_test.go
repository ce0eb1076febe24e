package main

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// burstCreateKey sends n CreateKey calls at once and counts the
// ThrottlingExceptions; any other error fails the test.
func burstCreateKey(t *testing.T, c *kms.Client, n int) (throttled int) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = c.CreateKey(context.Background(), &kms.CreateKeyInput{}) })
	}
	wg.Wait()
	for _, err := range errs {
		switch {
		case err == nil:
		case errCode(err) == "ThrottlingException" && strings.Contains(err.Error(), "Rate exceeded"):
			throttled++
		default:
			t.Fatalf("CreateKey: %v", err)
		}
	}
	return throttled
}

// TestQuotasOnInServeOffInDev: kmsd serve answers a burst of CreateKey
// above AWS's 5 per second with ThrottlingException; kmsd dev does not,
// unless started with --quotas aws, so applications can test their retries.
func TestQuotasOnInServeOffInDev(t *testing.T) {
	p := startKMSD(t, "serve", "--data", t.TempDir())
	m := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})\s+AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(waitFor(t, p.stdout, "AWS_SECRET_ACCESS_KEY"))
	if m == nil {
		t.Fatalf("serve printed no bootstrap access key:\n%s", p.stdout)
	}
	if n := burstCreateKey(t, p.client(m[1], m[2]), 15); n == 0 {
		t.Error("serve: 15 CreateKey at once, none throttled")
	}
	p.stop()

	dev := startKMSD(t, "dev", "--data", t.TempDir())
	if n := burstCreateKey(t, dev.client(docKey, docSecret), 15); n != 0 {
		t.Errorf("dev: %d of 15 CreateKey throttled with quotas off", n)
	}
	dev.stop()

	devAWS := startKMSD(t, "dev", "--data", t.TempDir(), "--quotas", "aws")
	if n := burstCreateKey(t, devAWS.client(docKey, docSecret), 15); n == 0 {
		t.Error("dev --quotas aws: 15 CreateKey at once, none throttled")
	}
	devAWS.stop()
}

// TestUnsafeListenersRefusedAtStart: the binary will not start serve on a
// network address without TLS, nor dev there in permissive mode, and says
// how to fix it.
func TestUnsafeListenersRefusedAtStart(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--listen", "0.0.0.0:0", "--data", t.TempDir()},
		{"dev", "--listen", "0.0.0.0:0", "--data", t.TempDir()},
	} {
		cmd := exec.Command(kmsdBin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(stderr.String(), "--insecure-allow-") {
				t.Errorf("kmsd %v: exit %v, stderr %q; want a refusal naming the override", args, err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("kmsd %v started on a network address", args)
		}
	}
}
