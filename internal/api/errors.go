package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kmsd/kmsd/internal/audit"
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
	b, err := json.Marshal(v)
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
