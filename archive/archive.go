// Package archive keeps the usage events that retention deletes from the
// store: one file per account and month, <dir>/<account>/<YYYY-MM>.ndjson.zst,
// holding the events as stored (their canonical JSON, ids included), one
// per line in time order, compressed with Zstandard. Read reads one back
// (livebill events restore); the files are also plain `zstd -d` away from
// the NDJSON that `livebill events push` and `livebill quote` take.
// billing.Service.RestoreArchives stores them back.
package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/livebill/livebill"
)

// Ext is the archive files' extension.
const Ext = ".ndjson.zst"

// Dir is an archive directory.
type Dir string

var _ livebill.EventArchive = Dir("")

// Path is where the events of the account's month are archived. The
// account id is escaped as a URL path segment.
func (d Dir) Path(accountID, month string) string {
	return filepath.Join(string(d), dirName(accountID), month+Ext)
}

// dirName is the directory of an account's archives: its id, escaped,
// and never "." or ".." (the archive directory itself or its parent).
func dirName(accountID string) string {
	n := url.PathEscape(accountID)
	if n == "." || n == ".." {
		n = strings.ReplaceAll(n, ".", "%2E")
	}
	return n
}

// Archive writes the account's events of month (YYYY-MM) to their file,
// replacing it whole (written to a temporary file, synced and renamed),
// so a retention run that stops half-way never leaves half a file, and
// one that runs again writes the same. The events come a page at a time
// from next, each written before the next is asked for; the file is the
// same however they are paged.
func (d Dir) Archive(accountID, month string, next func() ([]livebill.StoredEvent, error)) error {
	path := d.Path(accountID, month)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("cannot archive the events of account %s for %s: %w", accountID, month, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), month+".*.tmp")
	if err != nil {
		return fmt.Errorf("cannot archive the events of account %s for %s: %w", accountID, month, err)
	}
	defer os.Remove(tmp.Name())
	zw, err := zstd.NewWriter(tmp, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
	if err != nil {
		tmp.Close()
		return err
	}
	bw := bufio.NewWriterSize(zw, 256<<10)
	for {
		events, err := next()
		if err != nil {
			zw.Close()
			tmp.Close()
			return fmt.Errorf("cannot archive the events of account %s for %s: %w", accountID, month, err)
		}
		if len(events) == 0 {
			break
		}
		for _, e := range events {
			if bytes.IndexByte(e.Body, '\n') >= 0 {
				zw.Close()
				tmp.Close()
				return fmt.Errorf("cannot archive event %q of account %s: its body spans lines", e.ID, accountID)
			}
			bw.Write(e.Body)
			bw.WriteByte('\n')
		}
	}
	err = errors.Join(bw.Flush(), zw.Close(), tmp.Sync(), tmp.Close())
	if err != nil {
		return fmt.Errorf("cannot archive the events of account %s for %s: %w", accountID, month, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot archive the events of account %s for %s: %w", accountID, month, err)
	}
	return nil
}

// Name tells the account and month of an archive file from its path.
func Name(path string) (accountID, month string, err error) {
	base := filepath.Base(path)
	month, ok := strings.CutSuffix(base, Ext)
	if !ok || len(month) != 7 || month[4] != '-' {
		return "", "", fmt.Errorf("%s: not an archive file (<account>/<YYYY-MM>%s)", path, Ext)
	}
	dir := filepath.Base(filepath.Dir(path))
	accountID, err = url.PathUnescape(dir)
	if err != nil || accountID == "" || dir == "." || dir == ".." || dir == string(filepath.Separator) {
		return "", "", fmt.Errorf("%s: its directory does not name an account", path)
	}
	return accountID, month, nil
}

// Read calls f with each event line of an archive file, in order.
func Read(path string, f func(line []byte) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	zr, err := zstd.NewReader(file)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer zr.Close()
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := f(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// maxLine bounds an archived event's line (ingestion bounds events far
// below it).
const maxLine = 16 << 20
