package hsm

import "errors"

// Sentinels that callers test with errors.Is. The wrapped error names the
// PKCS#11 function and its CKR_ return value.
var (
	// ErrModule: the module could not be loaded or initialised.
	ErrModule = errors.New("hsm: PKCS#11 module unavailable")
	// ErrTokenNotFound: no token with that label, or the token went away.
	ErrTokenNotFound = errors.New("hsm: token not found")
	// ErrTokenExists: InitToken was asked for a label a token already has.
	ErrTokenExists = errors.New("hsm: a token with that label already exists")
	// ErrPINIncorrect: the token refused the PIN.
	ErrPINIncorrect = errors.New("hsm: PIN incorrect")
	// ErrPINLocked: the token locked the user after too many wrong PINs.
	ErrPINLocked = errors.New("hsm: PIN locked")
	// ErrNotLoggedIn: the token no longer has this process logged in.
	ErrNotLoggedIn = errors.New("hsm: not logged in to the token")
	// ErrKeyNotFound: no AES key with that label in the token.
	ErrKeyNotFound = errors.New("hsm: key not found")
	// ErrKeyUnfit: the key of that label lacks an attribute a wrapping
	// key must have (AES-256, sensitive, not extractable).
	ErrKeyUnfit = errors.New("hsm: key unfit for wrapping")
	// ErrKeyExists: GenerateKey was asked for a label a key already has.
	ErrKeyExists = errors.New("hsm: a key with that label already exists")
	// ErrDecrypt: the sealed data is malformed or fails authentication
	// (wrong key, wrong AAD, altered bytes).
	ErrDecrypt = errors.New("hsm: decryption failed")
	// ErrClosed: the Token was used after Close.
	ErrClosed = errors.New("hsm: token closed")
)
