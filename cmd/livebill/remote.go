package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	lbhttp "github.com/livebill/livebill/http"
)

// remote is the server a command talks to and the API key it sends.
type remote struct {
	server, key, keyFile *string
}

// remoteFlags adds --server, --key and --key-file to a command's flags.
func remoteFlags(fs *flag.FlagSet) *remote {
	return &remote{
		server:  fs.String("server", serverURL(), "server URL ($LIVEBILL_SERVER)"),
		key:     fs.String("key", "", "API key (prefer $LIVEBILL_KEY or --key-file: a flag shows in the process list)"),
		keyFile: fs.String("key-file", "", "file holding the API key"),
	}
}

// client returns a client of the server with the key from --key,
// --key-file or $LIVEBILL_KEY, in that order.
func (r *remote) client() (*lbhttp.Client, error) {
	key, err := apiKey(*r.key, *r.keyFile, os.Getenv("LIVEBILL_KEY"))
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	c := lbhttp.NewClient(*r.server)
	c.Key = key
	return c, nil
}

// apiKey picks the key: the flag, else the file's (trimmed), else the
// environment's.
func apiKey(flagKey, file, env string) (string, error) {
	if flagKey != "" && file != "" {
		return "", errors.New("give --key or --key-file, not both")
	}
	if flagKey != "" {
		return strings.TrimSpace(flagKey), nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--key-file: %w", err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("--key-file %s: empty", file)
		}
		return key, nil
	}
	return strings.TrimSpace(env), nil
}
