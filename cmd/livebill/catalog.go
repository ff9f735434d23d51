package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/livebill/livebill/catalog"
)

const catalogSynopsis = `livebill catalog [NAME|FILE]

Without an argument, lists the built-in catalogs. With a name, prints that
catalog's YAML (a starting point for an override file: write
"extends: NAME" and the items whose price you change). With a file,
validates it and reports every problem.`

func init() {
	register("catalog", command{synopsis: "[NAME|FILE]  list, print or validate catalogs", order: 3, run: cmdCatalog})
}

func cmdCatalog(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("catalog", catalogSynopsis, stderr)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
		for _, n := range catalog.Builtin() {
			c, err := catalog.Load(n)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%-12s %-4s %-14s %s\n", n, c.Currency, c.Timezone, c.Title)
		}
		return nil
	case 1:
		if b, err := catalog.BuiltinYAML(pos[0]); err == nil {
			_, err = stdout.Write(b)
			return err
		}
		st, err := os.Stat(pos[0])
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("no built-in catalog or file %q", pos[0])}
		}
		if st.IsDir() {
			return &exitError{code: 2, err: fmt.Errorf("%s is a directory, not a catalog file", pos[0])}
		}
		c, err := catalog.Load(pos[0])
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		fmt.Fprintf(stdout, "%s: valid (%d items, %d plans)\n", pos[0], len(c.Items), len(c.Plans))
		return nil
	}
	return &exitError{code: 2, err: errors.New("catalog takes at most one argument")}
}
