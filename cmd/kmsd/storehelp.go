package main

// storeCommandHelp describes the commands that back up, restore and check
// a store.
func storeCommandHelp(name string) command {
	switch name {
	case "kmsd admin backup":
		return command{
			synopsis: "write a verified copy of the store, while the server runs or not",
			usage:    []string{"kmsd admin backup [--config FILE] [--data DIR] --out FILE"},
			about: `Copies the store as one transaction sees it (bbolt's Tx.WriteTo). A running
server holds the store's lock, so the copy comes from the server itself, through
the Unix socket kmsd.sock in its data directory; with the server stopped it is
read from the file. The copy is checked as kmsd admin check does, against the
data directory's root.key, before it is kept; it names the root keys that
sealed it. Keep root.key apart from it: without it the backup is useless.`,
			examples: []string{
				"kmsd admin backup --data /var/lib/kmsd --out /backups/kmsd-$(date +%F).db",
			},
		}
	case "kmsd admin restore":
		return command{
			synopsis: "put a backup in place of a stopped server's store",
			usage:    []string{"kmsd admin restore [--config FILE] [--data DIR] --in FILE"},
			about: `Refuses, changing nothing, a backup that is damaged or truncated, one sealed by
another root keyring than the data directory's root.key (naming the
fingerprints of both), one with a record that fails authentication, or one
written by a newer kmsd. The store it replaces is kept beside it as
kmsd.db.before-restore-TIME.`,
			examples: []string{
				"kmsd admin restore --data /var/lib/kmsd --in /backups/kmsd-2025-01-31.db",
			},
		}
	case "kmsd admin check":
		return command{
			synopsis: "verify a store's integrity, changing nothing",
			usage:    []string{"kmsd admin check [--config FILE] [--data DIR] [--in FILE]"},
			about: `Runs bbolt's consistency check, matches the store's root keyring check value
against root.key, authenticates every record (an altered one is named by bucket
and key, never by its value) and reads the schema version. On a running server
it checks a snapshot taken through the admin socket. Exits 0 only when all is
well.`,
			examples: []string{
				"kmsd admin check --data /var/lib/kmsd",
				"kmsd admin check --data /var/lib/kmsd --in /backups/kmsd-2025-01-31.db",
			},
		}
	}
	return command{}
}
