package sdkhttp

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Doer is what the SDK's clients send requests with (their HTTPClient
// option).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client sends requests through next with each body read into memory
// first.
type Client struct {
	next Doer
}

// New returns a Client over the SDK's default HTTP client.
func New() *Client { return Wrap(awshttp.NewBuildableClient()) }

// Wrap returns a Client over next (a client with other transport options).
func Wrap(next Doer) *Client { return &Client{next: next} }

// Do reads req's body into memory, closes it, and sends req with the
// copy, which net/http can also replay on a fresh connection.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.next.Do(req)
	}
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return c.next.Do(req)
}
