package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// serveBaseline answers every POST with a small JSON body and does nothing
// else: what a request costs in net/http alone, on this machine.
func serveBaseline(addr string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","CiphertextBlob":"AAAA"}`))
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, h))
}

// startNull starts the do-nothing server as a child process, so its CPU
// time is read from /proc as kmsd's is.
func startNull() (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-baseline", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &server{cmd: cmd, url: "http://" + addr}
	if err := srv.waitHealthy(); err != nil {
		srv.stop()
		return nil, err
	}
	return srv, nil
}

func runBaseline(dur time.Duration, levels string) error {
	srv, err := startNull()
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("baseline: a do-nothing Go net/http JSON server, %d CPUs, %s per scenario\n", runtime.NumCPU(), dur)
	header()
	sc := scenario{"Encrypt 32B", func(ctx context.Context, c *kms.Client) error {
		_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("k"), Plaintext: make([]byte, 32)})
		return err
	}}
	for _, conc := range parseLevels(levels) {
		if err := measure(context.Background(), srv, sc, conc, dur); err != nil {
			return err
		}
	}
	fmt.Println()
	return nil
}
