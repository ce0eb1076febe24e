package seal

// NewMemory returns a root keyring of one fresh AES-256 root key that
// lives only in this process, for a server that keeps nothing on disk
// (kmsd dev --ephemeral). What it seals cannot be unsealed once the
// process ends. It cannot be rotated: Rotate fails, as there is no file to
// keep the new key in.
func NewMemory() *FileSeal {
	s, err := newFileSeal("", nil, 1, []rootKey{newRootKey(1)})
	if err != nil {
		// aes.NewCipher refuses only a key of the wrong size, and a
		// fresh root key is always 32 bytes.
		panic("seal: " + err.Error())
	}
	return s
}
