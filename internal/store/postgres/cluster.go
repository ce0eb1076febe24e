package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// What several kmsd nodes on one database need beyond store.Store:
// notifications that PostgreSQL delivers exactly when a transaction
// commits (LISTEN/NOTIFY), and advisory locks held by a connection, which
// PostgreSQL releases when that connection ends however it ends.
//
// Channel and lock names are scoped to the store's schema (the first
// schema of the DSN's search_path), so stores sharing one database do not
// hear each other's notifications or contend for each other's locks.

// scopedName is the SQL expression naming $1 within the store's schema,
// as a channel or a lock key: an identifier of 28 characters, well within
// PostgreSQL's 63, whatever the schema's name.
const scopedName = `'kmsd_' || left(md5(current_schema() || '/' || $1), 23)`

// Notify queues payload on the store's channel name; PostgreSQL delivers
// it to every Listener of that name once the transaction commits, and
// never if it does not. It is not part of store.Tx: the cluster layer
// finds it by assertion.
func (t *tx) Notify(name, payload string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if _, err := t.ptx.Exec(t.ctx, "SELECT pg_notify("+scopedName+", $2)", name, payload); err != nil {
		return t.fail("notify", nil, err)
	}
	return nil
}

// Application names of the dedicated sessions, as pg_stat_activity shows
// them.
const (
	ListenerApplication = "kmsd listener"
	LockApplication     = "kmsd lock"
)

// dedicated opens a connection of its own, outside the pool, named app,
// that calls on for every notification it reads. Its server session
// notices a dead peer within about ten seconds on TCP (keepalives and a
// user timeout), so the locks it holds do not outlive a vanished node for
// long.
func (s *Store) dedicated(ctx context.Context, app string, on func(payload string)) (*pgconn.PgConn, error) {
	cfg := s.pool.Config().ConnConfig.Config.Copy()
	cfg.RuntimeParams["application_name"] = app
	if on != nil {
		cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) { on(n.Payload) }
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, classify(ctx, "connect", err)
	}
	// Ignored on unix sockets, where the kernel reports a dead peer at once.
	err = conn.Exec(ctx, "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 1; "+
		"SET tcp_keepalives_count = 3; SET tcp_user_timeout = 8000").Close()
	if err != nil {
		conn.Close(context.Background())
		return nil, classify(ctx, "configure session", err)
	}
	return conn, nil
}

// Listener is a connection that LISTENs on one of the store's channels.
// It is not safe for concurrent use: one goroutine waits and pings.
type Listener struct {
	conn *pgconn.PgConn
}

// Listen opens a connection of its own that listens on the store's
// channel name and calls on, from inside Wait or Ping, with the payload of
// every notification. If the database cannot be reached, the error wraps
// store.ErrUnavailable.
func (s *Store) Listen(ctx context.Context, name string, on func(payload string)) (*Listener, error) {
	conn, err := s.dedicated(ctx, ListenerApplication, on)
	if err != nil {
		return nil, err
	}
	l := &Listener{conn: conn}
	channel, err := l.scalar(ctx, "SELECT "+scopedName, name)
	if err == nil {
		// channel is kmsd_ and hex digits: nothing to quote.
		err = conn.Exec(ctx, "LISTEN "+channel).Close()
	}
	if err != nil {
		l.Close()
		return nil, classify(ctx, "listen", err)
	}
	return l, nil
}

// scalar runs a one-parameter query that returns one text value.
func (l *Listener) scalar(ctx context.Context, sql, arg string) (string, error) {
	res := l.conn.ExecParams(ctx, sql, [][]byte{[]byte(arg)}, nil, nil, nil).Read()
	if res.Err != nil {
		return "", res.Err
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		return "", errors.New("store/postgres: expected one value")
	}
	return string(res.Rows[0][0]), nil
}

// Wait reads notifications, handing each to the Listen callback, until
// ctx ends (it then returns nil) or the connection fails.
func (l *Listener) Wait(ctx context.Context) error {
	for {
		err := l.conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			if l.conn.IsClosed() {
				return classify(context.Background(), "wait for notifications", pgconn.ErrConnClosed)
			}
			return nil
		}
		if err != nil {
			return classify(ctx, "wait for notifications", err)
		}
	}
}

// Ping makes a round trip on the connection. PostgreSQL sends a listening
// session the notifications of the transactions that committed before
// it, before it reads the next command; those that reach the connection
// before the answer are handed to the callback before Ping returns.
func (l *Listener) Ping(ctx context.Context) error {
	if err := l.conn.Exec(ctx, "SELECT 1").Close(); err != nil {
		return classify(ctx, "ping", err)
	}
	return nil
}

// Close ends the connection, and with it the LISTEN.
func (l *Listener) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
}

// Session is a connection of its own for session advisory locks: the
// locks it takes are held exactly as long as it lives. It is not safe for
// concurrent use.
type Session struct {
	conn *pgconn.PgConn
}

// Session opens a connection for advisory locks. If the database cannot be
// reached, the error wraps store.ErrUnavailable.
func (s *Store) Session(ctx context.Context) (*Session, error) {
	conn, err := s.dedicated(ctx, LockApplication, nil)
	if err != nil {
		return nil, err
	}
	return &Session{conn: conn}, nil
}

// TryLock takes the store's advisory lock name for the session without
// waiting, and reports whether it got it (false: another session holds
// it). Taking a lock the session holds again succeeds. If the connection
// fails, the error wraps store.ErrUnavailable and the session is useless.
func (s *Session) TryLock(ctx context.Context, name string) (bool, error) {
	res := s.conn.ExecParams(ctx, "SELECT pg_try_advisory_lock(hashtextextended("+scopedName+", 0))",
		[][]byte{[]byte(name)}, nil, nil, nil).Read()
	if res.Err == nil && (len(res.Rows) != 1 || len(res.Rows[0]) != 1) {
		res.Err = errors.New("store/postgres: pg_try_advisory_lock returned no value")
	}
	if res.Err != nil {
		return false, classify(ctx, "try advisory lock", res.Err)
	}
	return string(res.Rows[0][0]) == "t", nil
}

// Check makes a round trip on the session: nil means it, and so the locks
// it holds, are still alive.
func (s *Session) Check(ctx context.Context) error {
	if err := s.conn.Exec(ctx, "SELECT 1").Close(); err != nil {
		return fmt.Errorf("store/postgres: advisory lock session: %w", unavailable(err))
	}
	return nil
}

// Close ends the session, which releases its locks.
func (s *Session) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.conn.Close(ctx)
}
