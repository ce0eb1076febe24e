package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Server is the PostgreSQL server a test package uses: the one named by
// EnvDSN when it is set, else a Cluster started for the package.
type Server struct {
	// DSN connects to the server's database for tests, as a user that may
	// create schemas in it.
	DSN string
	// Cluster is the cluster started for the tests, nil when the server was
	// given in EnvDSN (and so cannot be stopped or restarted by them).
	Cluster *Cluster
}

// StartServer returns the server named by EnvDSN, or starts a cluster.
// Close releases it.
func StartServer(ctx context.Context) (*Server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return &Server{DSN: dsn}, nil
	}
	c, err := Start(ctx)
	if err != nil {
		return nil, err
	}
	return &Server{DSN: c.DSN("postgres"), Cluster: c}, nil
}

// Close stops and removes the cluster started for the tests, if any.
func (s *Server) Close() error {
	if s.Cluster == nil {
		return nil
	}
	return s.Cluster.Close()
}

// NewSchema creates an empty schema with a random name in the server's
// database and returns a DSN whose connections use it (search_path), so
// tests sharing one database do not see each other's tables. drop removes
// the schema and everything in it.
func (s *Server) NewSchema(ctx context.Context) (dsn string, drop func(context.Context) error, err error) {
	name := "kmsd_test_" + strings.ToLower(rand.Text()[:16])
	if err := s.exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", nil, err
	}
	drop = func(ctx context.Context) error { return s.exec(ctx, "DROP SCHEMA "+name+" CASCADE") }
	return WithParam(s.DSN, "search_path", name), drop, nil
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

// WithParam returns dsn (a URL or a keyword/value string) with the
// connection parameter key set to value, which must need no quoting.
func WithParam(dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	// Later keywords win in a keyword/value string.
	return dsn + " " + key + "=" + value
}
