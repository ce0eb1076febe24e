package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestBarSlowAndAbusiveClients is check 36 of the security bar against the
// kmsd binary: while 1,000 idle keep-alive connections stay open, 100
// slowloris connections dribble their headers, and one client pipelines
// requests without ever reading the answers, a well-behaved client's
// requests all succeed, each well within a bound far above its normal
// latency; the slowloris connections are cut by the server's header
// timeout (10 s) rather than held forever. Throttling is tested with the
// quotas.
func TestBarSlowAndAbusiveClients(t *testing.T) {
	ctx := context.Background()
	p := startKMSD(t, "dev", "--data", t.TempDir())
	addr := strings.TrimPrefix(p.url, "http://")
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		return c
	}

	// 1,000 keep-alive connections, each idle after one answered request.
	for range 1000 {
		c := dial()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: kmsd\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("healthz on an idle connection: %v", err)
		}
		resp.Body.Close()
	}

	// 100 slowloris connections: a request line, then a header byte a second.
	var slow []net.Conn
	for range 100 {
		c := dial()
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: kmsd\r\nX-Amz-Target: TrentService.ListKeys\r\n"); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	stop := make(chan struct{})
	var helpers sync.WaitGroup
	t.Cleanup(func() { close(stop); helpers.Wait() })
	helpers.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range slow {
				_, _ = c.Write([]byte("X"))
			}
		}
	})

	// A client that sends and never reads.
	deaf := dial()
	helpers.Go(func() {
		req := []byte("GET /healthz HTTP/1.1\r\nHost: kmsd\r\n\r\n")
		for range 50000 {
			select {
			case <-stop:
				return
			default:
			}
			_ = deaf.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := deaf.Write(req); err != nil && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue // the server stopped reading: the point
				}
				return
			}
		}
	})

	// The well-behaved client.
	c := p.client("AKIAIOSFODNN7EXAMPLE", "any-secret-will-do")
	const bound = 5 * time.Second
	timed := func(what string, f func() error) {
		t.Helper()
		start := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if d := time.Since(start); d > bound {
			t.Fatalf("%s took %v with abusive clients connected (bound %v)", what, d, bound)
		}
	}
	var keyID string
	timed("CreateKey", func() error {
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		if err == nil {
			keyID = aws.ToString(out.KeyMetadata.KeyId)
		}
		return err
	})
	for range 40 {
		var blob []byte
		timed("Encrypt", func() error {
			out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("still served")})
			if err == nil {
				blob = out.CiphertextBlob
			}
			return err
		})
		timed("Decrypt", func() error {
			_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
			return err
		})
	}

	// The server cuts the slowloris connections: each read ends (EOF, a
	// reset, or a 408) well before its own deadline.
	deadline := time.Now().Add(60 * time.Second)
	for i, sc := range slow {
		_ = sc.SetReadDeadline(deadline)
		buf := make([]byte, 512)
		for {
			n, err := sc.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("slowloris connection %d still open after a minute", i)
				}
				break
			}
			if n > 0 && strings.Contains(string(buf[:n]), " 200 ") {
				t.Fatalf("slowloris connection %d was answered: %q", i, buf[:n])
			}
		}
	}
	if resp, err := http.Get(p.url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("kmsd after the abuse: %v", err)
	} else {
		resp.Body.Close()
	}
}
