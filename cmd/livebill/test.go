package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/livebill/livebill/scenario"
)

const testSynopsis = `livebill test FILE|DIR... [-v]

Quotes each scenario file (a directory: every *.yaml, *.yml and *.json in
it, recursively; a directory holding none is an error) and compares every value under its expect: block
numerically ("2848.5" equals "2848.50"). Prints one line per file and a
diff per mismatch; exits 1 when any value differs, 2 when a file is invalid.`

func init() {
	register("test", command{synopsis: "FILE|DIR...  quote scenario files and check their expect: blocks", order: 2, run: cmdTest})
}

func cmdTest(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("test", testSynopsis, stderr)
	verbose := fs.Bool("v", false, "print the quote total of passing files too")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("test needs at least one file or directory")}
	}
	files, err := scenarioFiles(pos)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	var pass, fail, invalid int
	for _, path := range files {
		res, err := quoteFile(path)
		if err == nil && len(res.Rejected) > 0 {
			msgs := make([]string, 0, len(res.Rejected))
			for _, e := range res.Rejected {
				msgs = append(msgs, "    "+e.Error())
			}
			if res.Unlisted > 0 {
				msgs = append(msgs, fmt.Sprintf("    … and %d more", res.Unlisted))
			}
			err = fmt.Errorf("%d events rejected:\n%s", res.RejectedCount(), strings.Join(msgs, "\n"))
		}
		if err != nil {
			invalid++
			fmt.Fprintf(stdout, "INVALID %s\n    %v\n", path, err)
			continue
		}
		f, _ := scenario.Load(path)
		mm := scenario.Compare(f.Expect, res.Quote)
		if len(mm) == 0 {
			pass++
			if *verbose {
				fmt.Fprintf(stdout, "ok      %s (total %s %s)\n", path, res.Quote.Total, res.Quote.Currency)
			} else {
				fmt.Fprintf(stdout, "ok      %s\n", path)
			}
			continue
		}
		fail++
		fmt.Fprintf(stdout, "FAIL    %s\n", path)
		for _, m := range mm {
			fmt.Fprintf(stdout, "    %s\n", m)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", pass, fail+invalid)
	switch {
	case invalid > 0:
		return &exitError{code: 2, err: fmt.Errorf("%d scenario files invalid", invalid)}
	case fail > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d scenario files do not match their expectations", fail)}
	}
	return nil
}

func scenarioFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					found = append(found, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("no scenario files in %s (*.yaml, *.yml or *.json, in it or below)", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
