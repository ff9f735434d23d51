// Command livebill meters, rates and bills real-time interactive services:
// it quotes scenario files, tests catalogs, runs the service (livebill
// serve) and talks to it. 'livebill help' lists the commands and
// 'livebill COMMAND --help' gives a command's options; docs/cli.md has
// them all.
//
// Exit status: 0 success, 1 expectations not met, 2 invalid input.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/livebill/livebill"
)

// command is a subcommand; each file registers its own in init.
type command struct {
	synopsis string // one line for the command list
	order    int
	run      func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

func usageText() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := commands[names[i]], commands[names[j]]
		if a.order != b.order {
			return a.order < b.order
		}
		return names[i] < names[j]
	})
	var b strings.Builder
	b.WriteString("livebill — usage metering, rating and billing for real-time services\n\nUsage:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  livebill %-10s %s\n", n, commands[n].synopsis)
	}
	b.WriteString("\nRun 'livebill COMMAND --help' for a command's options.\n")
	b.WriteString("Exit status: 0 ok, 1 expectations not met, 2 invalid input.\n")
	return b.String()
}

// exitError carries an exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func (e *exitError) Unwrap() error { return e.err }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 2
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "livebill:", ee.err)
		}
	} else {
		fmt.Fprintln(os.Stderr, "livebill:", err)
	}
	if livebill.ErrorCode(err) == livebill.EUNAUTHORIZED {
		fmt.Fprintln(os.Stderr, "livebill: give the server's API key with $LIVEBILL_KEY, --key-file FILE or --key KEY")
	}
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText())
		return &exitError{code: 2, err: errors.New("")}
	}
	cmd, rest := args[0], args[1:]
	if c, ok := commands[cmd]; ok {
		return c.run(rest, stdout, stderr)
	}
	if cmd == "--version" {
		return cmdVersion(rest, stdout, stderr)
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usageText())
		return nil
	}
	fmt.Fprint(stderr, usageText())
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
