// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb and
// postgres from the machine's PostgreSQL installation, in a temporary
// directory, listening only on a unix socket inside it. Tests that are given
// a server in KMSD_TEST_POSTGRES use that one instead (see Server).
//
// PostgreSQL refuses to run as root, so when the tests run as root the
// cluster's processes run as the unprivileged user "postgres" that Debian's
// postgresql package creates.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDSN names the environment variable that hands the tests an existing
// PostgreSQL server (a libpq DSN or URL) instead of starting one.
const EnvDSN = "KMSD_TEST_POSTGRES"

// BinDirEnv names the environment variable that overrides where initdb and
// postgres are looked for.
const BinDirEnv = "KMSD_TEST_PG_BINDIR"

// runAs is the unprivileged user the cluster runs as when the tests run as
// root; Debian's postgresql package creates it.
const runAs = "postgres"

// startTimeout bounds initdb and each start or stop of the server.
const startTimeout = 60 * time.Second

// Cluster is a PostgreSQL cluster in a temporary directory. It is not safe
// for concurrent use: one test drives its Stop and Start.
type Cluster struct {
	dir    string // holds data/, the socket and postgres.log
	bin    string // directory of initdb and postgres
	cred   *syscall.Credential
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	err    error         // cmd's exit status, once exited is closed
}

// Start makes a new cluster in a temporary directory and starts it. Close
// stops it and removes the directory.
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(baseDir(), "kmsd-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin}
	if err := c.init(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// init creates the cluster's files: trust authentication on the socket only
// (nothing listens on TCP), C locale, and no fsync, since the data is thrown
// away.
func (c *Cluster) init(ctx context.Context) error {
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return err
		}
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		c.cred = cred
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cmd := c.command(ctx, "initdb", "--pgdata", c.dataDir(), "--username", "postgres",
		"--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	conf := fmt.Sprintf(`
listen_addresses = ''
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
`, c.dir)
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgtest: write postgresql.conf: %w", err)
	}
	return nil
}

// Start starts the server of a stopped cluster and waits until it accepts
// connections.
func (c *Cluster) Start(ctx context.Context) error {
	if c.cmd != nil {
		return errors.New("pgtest: cluster already running")
	}
	logFile, err := os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	// Not exec.CommandContext: the server outlives ctx, and Stop ends it.
	cmd := c.command(context.Background(), "postgres", "-D", c.dataDir())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies (a test timeout, a kill), the server shuts
	// down instead of outliving it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	c.cmd, c.exited = cmd, exited
	go func() {
		c.err = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	if err := c.waitReady(ctx); err != nil {
		_ = c.Stop()
		return err
	}
	return nil
}

// waitReady polls until the server answers a connection.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		conn, err := pgconn.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("pgtest: postgres exited at start (%v):\n%s", c.err, c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres not ready: %w (last: %v)\n%s", ctx.Err(), err, c.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// waits for it to exit. Stopping a stopped cluster does nothing.
func (c *Cluster) Stop() error {
	if c.cmd == nil {
		return nil
	}
	defer func() { c.cmd = nil }()
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgtest: stop postgres: %w", err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(startTimeout):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("pgtest: postgres did not stop in %v; killed\n%s", startTimeout, c.logTail())
	}
}

// Close stops the server and removes the cluster's directory.
func (c *Cluster) Close() error {
	err := c.Stop()
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}

// DSN returns a connection string for database db of the cluster, as its
// superuser.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("host='%s' port=5432 user=postgres dbname='%s' sslmode=disable", c.dir, db)
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// command runs one of the PostgreSQL programs as the cluster's owner, with
// an environment that no PG* variable of the caller leaks into.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

// logTail returns the end of the server log, for failure messages.
func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// baseDir returns where to make clusters: the temporary directory, unless
// the tests run as root and the unprivileged user could not reach it (a
// TMPDIR under root's home), then /tmp.
func baseDir() string {
	d := os.TempDir()
	if os.Geteuid() != 0 {
		return d
	}
	for p := d; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if p == filepath.Dir(p) {
			return d
		}
	}
}

// unprivileged returns the credentials of runAs.
func unprivileged() (*syscall.Credential, error) {
	u, err := user.Lookup(runAs)
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, PostgreSQL needs the unprivileged user %q "+
			"(Debian's postgresql package creates it; scripts/ensure-tools.sh installs it): %w", runAs, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: uid of %s: %w", runAs, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: gid of %s: %w", runAs, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// findBinDir finds the directory holding initdb and postgres: BinDirEnv, then
// the newest /usr/lib/postgresql/N/bin (Debian's layout), then PATH.
func findBinDir() (string, error) {
	var candidates []string
	if d := os.Getenv(BinDirEnv); d != "" {
		candidates = append(candidates, d)
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(debian, func(a, b string) int { return majorOf(b) - majorOf(a) })
	candidates = append(candidates, debian...)
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			p = resolved
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, d := range candidates {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("pgtest: PostgreSQL server programs (initdb, postgres) not found in %s, "+
		"/usr/lib/postgresql/*/bin or PATH: install Debian's postgresql package (make deps does), "+
		"or set %s to a server's DSN", strings.Join(append([]string{"$" + BinDirEnv}, candidates...), ", "), EnvDSN)
}

// majorOf returns N of /usr/lib/postgresql/N/bin, 0 if it is not a number.
func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
