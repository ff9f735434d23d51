// Command livebill meters, rates and bills real-time interactive services.
//
//	livebill quote FILE [--format table|json]   price a scenario
//	livebill test FILE|DIR...                  check scenarios' expectations
//	livebill catalog [NAME]                    list or print built-in catalogs
//
// Exit status: 0 success, 1 expectations not met, 2 invalid input.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `livebill — usage metering, rating and billing for real-time services

Usage:
  livebill quote FILE [--format table|json]   price a scenario file (SPEC §7.2)
  livebill test FILE|DIR...                  quote scenario files and check their expect: blocks
  livebill catalog [NAME]                    list the built-in catalogs, or print one as YAML

Run 'livebill COMMAND --help' for a command's options.
Exit status: 0 ok, 1 expectations not met, 2 invalid input.
`

// exitError carries an exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "livebill:", ee.err)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "livebill:", err)
	os.Exit(2)
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: errors.New("")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "quote":
		return cmdQuote(rest, stdout, stderr)
	case "test":
		return cmdTest(rest, stdout, stderr)
	case "catalog":
		return cmdCatalog(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", cmd)}
}

// newFlags returns a flag set whose --help prints the command's usage.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nOptions:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses flags anywhere among the arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &exitError{code: 0, err: errors.New("")}
			}
			return nil, &exitError{code: 2, err: err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
