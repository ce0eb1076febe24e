package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/kmsd/kmsd/internal/store"
)

// SQLSTATEs that decide what a failed statement means.
const (
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
)

// unavailableStates are the SQLSTATEs of a server that cannot serve now but
// may later: lost connections (class 08), a shutdown or crash in progress,
// a server still starting or in recovery, and no connection slot left.
var unavailableStates = map[string]bool{
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now
	"53300": true, // too_many_connections
}

// isConflict reports whether err is a lost serialization race, which
// running the transaction again resolves.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == serializationFailure || pgErr.Code == deadlockDetected)
}

// isUnavailable reports whether err says the server cannot be reached or
// cannot serve for now.
func isUnavailable(err error) bool {
	if errors.Is(err, store.ErrUnavailable) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" || unavailableStates[pgErr.Code]
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed)
}

// unavailable wraps err with store.ErrUnavailable, once.
func unavailable(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// classify wraps an error of op that happened outside a transaction: the
// caller's context ending, the server being unreachable, or anything else.
func classify(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case isUnavailable(err):
		return fmt.Errorf("store/postgres: %s: %w", op, unavailable(err))
	default:
		return fmt.Errorf("store/postgres: %s: %w", op, err)
	}
}
