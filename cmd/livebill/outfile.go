package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// writeOut writes a command's output file (--out) with write: into a new
// file beside it, renamed to path once write and the close succeeded, so
// that a command that fails (a request refused, a full disk) leaves the
// file already at path as it was, and no partial file. A path that exists
// and is not a regular file (/dev/null, a pipe) is written in place. Not
// creating the file is exit 2; write's error is returned as it is.
func writeOut(path string, write func(io.Writer) error) error {
	target := path // the file written: a link's target, as os.Create writes through a link
	if p, err := filepath.EvalSymlinks(path); err == nil {
		target = p
	}
	fi, err := os.Stat(target)
	switch {
	case err == nil && fi.IsDir():
		return &exitError{code: 2, err: fmt.Errorf("cannot write %s: it is a directory", path)}
	case err == nil && !fi.Mode().IsRegular():
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("cannot write %s: %w", path, pathErr(err))}
		}
		if err := write(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("cannot write %s: %w", path, pathErr(err))
		}
		return nil
	}
	f, err := createBeside(target)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("cannot create %s: %w", path, pathErr(err))}
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if fi != nil { // the mode of the file replaced, as os.Create kept it
		if err := f.Chmod(fi.Mode().Perm()); err != nil {
			return fail(fmt.Errorf("cannot write %s: %w", path, pathErr(err)))
		}
	}
	if err := write(f); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(fmt.Errorf("cannot write %s: %w", path, pathErr(err)))
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot write %s: %w", path, pathErr(err))
	}
	return nil
}

// createBeside creates a new file in path's directory, named after path,
// with the mode os.Create gives (0666 less the umask; os.CreateTemp would
// give 0600).
func createBeside(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for range 100 {
		name := filepath.Join(dir, base+"."+strconv.FormatUint(rand.Uint64N(1e12), 10)+".tmp")
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("no unused temporary name beside it")
}

// pathErr is err without the path an *fs.PathError or *os.LinkError
// adds: the messages name the output file, not its temporary name.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
