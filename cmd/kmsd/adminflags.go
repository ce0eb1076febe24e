package main

import (
	"flag"
	"fmt"
	"io"
)

// parseStoreFlags reads the options every admin command on a data
// directory's store takes (backup, restore, check): the server's config
// file and environment, --config, --data (described by dataUsage) and the
// seal, which alone may open the root keyring, plus those more binds; it
// refuses stray arguments.
func parseStoreFlags(name, dataUsage string, args []string, stderr io.Writer, getenv func(string) string, more func(fs *flag.FlagSet, cfg *Config)) (Config, error) {
	cfg, err := fileAndEnvConfig(args, getenv)
	if err != nil {
		return cfg, err
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	setHelp(fs)
	fs.String("config", "", "YAML config file of the server (or set KMSD_CONFIG)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, dataUsage)
	cfg.Seal.bindFlags(fs)
	more(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, nil
}
