package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, e *kmserr.Error) {
	w.Header().Set("x-amzn-ErrorType", e.Code)
	writeJSON(w, kmserr.HTTPStatus(e.Code), errorBody{Type: e.Code, Message: e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	var err error
	if o, ok := v.(kmsapi.Output); ok {
		// The generated encoder writes what encoding/json would, into a
		// reused buffer: no reflection and no allocation.
		buf := bodyBuffers.Get().(*[]byte)
		defer putBodyBuffer(buf)
		b = o.AppendJSON((*buf)[:0])
		*buf = b
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		// Only a programming error gets here; answer in AWS's shape regardless.
		status = http.StatusInternalServerError
		b = []byte(fmt.Sprintf(`{"__type":%q,"message":"An internal error occurred."}`, kmserr.Internal))
	}
	h := w.Header()
	h["Content-Type"] = contentTypeValue
	// An explicit length spares net/http the chunked encoding of bodies
	// over its 2 KiB buffer.
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// bodyBuffers holds response buffers; net/http copies a body when it is
// written, so a buffer is free again once Write returns.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// putBodyBuffer returns buf to the pool unless a large answer (ListGrants…)
// grew it: those are rare and would pin memory.
func putBodyBuffer(buf *[]byte) {
	if cap(*buf) <= 64<<10 {
		bodyBuffers.Put(buf)
	}
}

// Header values shared by every response; net/http only reads them.
var (
	contentTypeValue = []string{contentType}
	zeroLength       = []string{"0"}
)

// boundError cuts an error message that would make the record (and the
// answer) huge: validation messages quote the values they refuse.
func boundError(err error) error {
	var e *kmserr.Error
	if !errors.As(err, &e) {
		return err
	}
	msg, cut := audit.BoundMessage(e.Message)
	if !cut {
		return err
	}
	c := *e
	c.Message = msg
	return &c
}
