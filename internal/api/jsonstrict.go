package api

import (
	"errors"

	// The module mirrors encoding/json/v2, which is stable from Go 1.27 on
	// and which it aliases where the standard library has it.
	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/kmsd/kmsd/internal/kmserr"
)

// decodeBody reads a JSON 1.1 request body into v the way AWS does, so that
// kmsd and any proxy in front of it read one request the same way: member
// names match exactly (case-sensitively), a name given twice is refused, a
// string must be valid UTF-8 without lone surrogate escapes, and unknown
// members are ignored. encoding/json would instead match "keyid" to KeyId,
// keep the last of two KeyIds and turn bad bytes into U+FFFD.
func decodeBody(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return serializationError(err)
	}
	return nil
}

// serializationError turns a decoding failure into AWS's
// SerializationException. The message names at most the top-level member
// and a byte offset: it never echoes a value, a map key or an unknown name,
// all of which the caller chose and may be secret or huge.
func serializationError(err error) error {
	var (
		sem *json.SemanticError
		syn *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &syn):
		if errors.Is(syn.Err, jsontext.ErrDuplicateName) {
			return kmserr.New(kmserr.Serialization, "Duplicate member name at byte offset %d", syn.ByteOffset)
		}
		// Bad syntax, invalid UTF-8 or a lone surrogate escape.
		return kmserr.New(kmserr.Serialization, "Malformed JSON at byte offset %d", syn.ByteOffset)
	case errors.As(err, &sem):
		field := memberOf(sem.JSONPointer)
		switch {
		case field == "":
			return kmserr.New(kmserr.Serialization, "Start of %s found where the request structure was expected", kindName(sem.JSONKind))
		case sem.GoType != nil && sem.GoType.String() == "[]uint8" && sem.JSONKind == '"':
			return kmserr.New(kmserr.Serialization, "Invalid base64 value in field %s", field)
		}
		return kmserr.New(kmserr.Serialization, "Value of type %s cannot be converted to the type of field %s", kindName(sem.JSONKind), field)
	}
	return kmserr.New(kmserr.Serialization, "Malformed request body")
}

// memberOf returns the top-level member a JSON pointer is in, or "" for the
// top level itself. A semantic error happens only within a member of the
// input shape (unknown members are skipped), so the name is one of ours.
func memberOf(p jsontext.Pointer) string {
	for name := range p.Tokens() {
		return name
	}
	return ""
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}
