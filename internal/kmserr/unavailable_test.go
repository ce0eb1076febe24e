package kmserr

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
)

// TestUnavailableStoreIsDependencyTimeout: an internal failure whose cause
// is an unreachable store reaches the client as AWS's dependency failure,
// a server fault that SDKs retry; other errors keep their exception.
func TestUnavailableStoreIsDependencyTimeout(t *testing.T) {
	down := fmt.Errorf("store/postgres: connect: %w: dial unix: no such file", store.ErrUnavailable)
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"bare", down, DependencyTimeout},
		{"wrapped as internal", Internalf("load key: %w", down), DependencyTimeout},
		{"wrapped twice", fmt.Errorf("encrypt: %w", Internalf("load key: %w", down)), DependencyTimeout},
		{"a client error keeps its code", &Error{Code: NotFound, Message: "x", Cause: down}, NotFound},
		{"another internal error", Internalf("boom"), Internal},
		{"a conflict", Internalf("commit: %w", store.ErrConflict), Internal},
	} {
		e := As(c.err)
		if e.Code != c.want || CodeOf(c.err) != c.want {
			t.Errorf("%s: As = %s, CodeOf = %s; want %s", c.name, e.Code, CodeOf(c.err), c.want)
		}
		if c.want == DependencyTimeout {
			if e.Message != "The system timed out while trying to fulfill the request. You can retry the request." {
				t.Errorf("%s: message %q", c.name, e.Message)
			}
			if HTTPStatus(e.Code) != http.StatusInternalServerError {
				t.Errorf("%s: status %d, want 500", c.name, HTTPStatus(e.Code))
			}
		}
	}
}
