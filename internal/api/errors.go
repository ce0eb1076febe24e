package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kmsd/kmsd/internal/kmserr"
)

// serializationError turns a JSON decoding failure into AWS's
// SerializationException, naming the field but never echoing its value.
func serializationError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		b64 base64.CorruptInputError
	)
	switch {
	case errors.As(err, &typ):
		if typ.Field != "" {
			return kmserr.New(kmserr.Serialization, "Value of type %s cannot be converted to the type of field %s (%s)", typ.Value, typ.Field, typ.Type.String())
		}
		return kmserr.New(kmserr.Serialization, "Start of %s found where the request structure was expected", typ.Value)
	case errors.As(err, &b64):
		return kmserr.New(kmserr.Serialization, "Invalid base64 value at byte %d", int64(b64))
	case errors.As(err, &syn):
		return kmserr.New(kmserr.Serialization, "Malformed JSON at byte offset %d", syn.Offset)
	default:
		return kmserr.New(kmserr.Serialization, "Malformed request body")
	}
}

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
