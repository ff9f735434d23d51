package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"encoding/json"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/archive"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/eventio"
	lbhttp "github.com/livebill/livebill/http"
)

const eventsSynopsis = `livebill events push FILE.ndjson|- [--server URL] [--key-file F] [--batch N] [--retry D] [--add-ids] [--import]

Pushes an NDJSON file of usage events (SPEC §7.1; one a line, each with
an id; a JSON array is refused: jq -c '.[]' makes NDJSON of it) to a
livebill server in batches, with progress on stderr and a final summary of
accepted, duplicate and rejected events; rejected events are listed with
their line in FILE. A line longer than 4194304 bytes (4 MiB, its newline
included) is rejected without being sent, and the push goes on.
Re-pushing is safe: events are idempotent on (account, id), so a batch
whose answer was lost (server restarted) is sent again until --retry
runs out. Exit status 0; 1 when some events were rejected; 2 when FILE
cannot be read (or is a JSON array). The API key comes from --key, --key-file or $LIVEBILL_KEY: an operator
key pushes for every account, an account's key for its own apps only.

--import sends the file as one bulk import: the server settles none of the
accounts it sends events for until the last batch is in (the import is
finished then), so history loaded over many minutes is billed once, not
billed early and then adjusted. Use it for backfills and migrations. If
the push stops half-way the import is left open and the server lets it
lapse after its timeout (serve --import-timeout) without a batch.`

func init() {
	register("events", command{synopsis: "push FILE.ndjson | restore ARCHIVE...  push usage events to a server, or restore archived ones", order: 11, run: cmdEvents})
}

const eventsRestoreSynopsis = `livebill events restore [--db DIR|postgres://…] FILE.ndjson.zst|DIR...

Stores the events of archive files back in the database: the files
'serve --events-archive DIR' wrote when retention deleted an account's
events of a month (DIR/<account>/<YYYY-MM>.ndjson.zst; a directory
argument is searched for them). Events already stored are left as they
are (ids are kept: restoring twice stores nothing more). An account's
archived months are restored all in one run, from its first event to its
purge boundary (a part alone is refused, nothing stored), and make it
whole again: late events before that boundary are taken again, and its
days can be metered again from its first event. Every line is checked
first: an event of another account's app or of another month than its
file's is refused, nothing stored. Bills do not change. The server may be running (SQLite: it waits for the write
lock).

` + dbHelp

func cmdEvents(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "restore" {
		return cmdEventsRestore(args[1:], stdout, stderr)
	}
	fs := newFlags("events", eventsSynopsis, stderr)
	rem := remoteFlags(fs)
	batch := fs.Int("batch", 1000, "events per request (at most 10000)")
	retry := fs.Duration("retry", 30*time.Second, "how long to keep retrying a batch the server did not answer")
	quiet := fs.Bool("quiet", false, "no progress bar")
	addIDs := fs.Bool("add-ids", false, "give events without an id the id FILE:LINE (FILE's base name), so re-pushing the same file stays idempotent")
	bulk := fs.Bool("import", false, "send the file as one bulk import: its accounts are not settled until the last batch is in")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "push" {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("usage: livebill events push FILE.ndjson")}
	}
	if *batch < 1 || *batch > lbhttp.MaxBatchEvents {
		return &exitError{code: 2, err: fmt.Errorf("--batch must be 1..%d", lbhttp.MaxBatchEvents)}
	}
	f := os.Stdin
	if pos[1] != "-" {
		if f, err = os.Open(pos[1]); err != nil {
			return &exitError{code: 2, err: err}
		}
		defer f.Close()
	}
	st, _ := f.Stat()
	if st != nil && !st.Mode().IsRegular() {
		st = nil // a pipe: no size to show progress against
	}
	r := bufio.NewReaderSize(f, 256<<10)
	var read int64
	line := 0
	// A JSON array is not cut into batches of lines (each a broken array):
	// refused before anything is sent. The blanks before the first event
	// are counted, so that lines keep their numbers.
	for {
		c, err := r.ReadByte()
		if err != nil {
			break // met again below
		}
		if c == '[' {
			how := "pipe it through jq -c '.[]'"
			if pos[1] != "-" {
				how = fmt.Sprintf("convert it with jq -c '.[]' %s > %s.ndjson", pos[1], strings.TrimSuffix(pos[1], ".json"))
			}
			return &exitError{code: 2, err: fmt.Errorf("%s: a JSON array, but events push reads NDJSON (one event per line): %s", pos[1], how)}
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			r.UnreadByte()
			break
		}
		read++
		if c == '\n' {
			line++
		}
	}
	c, err := rem.client()
	if err != nil {
		return err
	}
	push := c.PushEvents
	var imp *livebill.Import
	if *bulk {
		if imp, err = c.CreateImport(context.Background(), filepath.Base(pos[1])); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("cannot start an import: %w", err)}
		}
		push = func(ctx context.Context, body []byte) (*livebill.IngestResult, error) {
			return c.PushImportEvents(ctx, imp.ID, body)
		}
		if !*quiet {
			fmt.Fprintf(stderr, "import %s: accounts it sends events for are not settled until it finishes\n", imp.ID)
		}
	}
	var total livebill.IngestResult
	var raw []byte // the line read, reused
	var buf bytes.Buffer
	var lines []int // file line of each event in buf
	var last time.Time
	var shown [3]int
	progress := func(final bool) {
		if *quiet || (!final && time.Since(last) < 250*time.Millisecond) {
			return
		}
		last = time.Now()
		now := [3]int{total.Accepted, total.Duplicate, total.Rejected}
		if final && now == shown && read > 0 && !last.IsZero() && shown != [3]int{} {
			fmt.Fprintln(stderr)
			return
		}
		shown = now
		pct := 100.0
		if st != nil && st.Size() > 0 {
			pct = 100 * float64(read) / float64(st.Size())
		}
		const width = 30
		n := int(pct / 100 * width)
		bar := bytes.Repeat([]byte("#"), n)
		fmt.Fprintf(stderr, "\r[%-30s] %5.1f%%  %d accepted, %d duplicate, %d rejected", bar, pct, total.Accepted, total.Duplicate, total.Rejected)
		if final {
			fmt.Fprintln(stderr)
		}
	}
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		res, err := pushWithRetry(push, buf.Bytes(), *retry)
		if err != nil {
			if imp != nil {
				return fmt.Errorf("%w (import %s left open: the server lets it lapse after its timeout)", err, imp.ID)
			}
			return err
		}
		total.Accepted += res.Accepted
		total.Duplicate += res.Duplicate
		total.Rejected += res.Rejected
		for _, e := range res.Errors {
			total.Errors = append(total.Errors, inFile(e, lines))
		}
		buf.Reset()
		lines = lines[:0]
		progress(false)
		return nil
	}
	// tooLong rejects the current line here, as the server would reject
	// a batch holding it: its events are not sent
	tooLong := func(why string) {
		total.Rejected++
		total.Errors = append(total.Errors, livebill.IngestStatus{Index: -1, Line: line, Status: livebill.IngestRejected, Code: livebill.EINVALID,
			Error: fmt.Sprintf("line %d: longer than %d bytes%s", line, eventio.MaxLine, why)})
	}
	for {
		var n int64
		var long bool
		raw, n, long, err = readLine(r, raw, eventio.MaxLine)
		if err == io.EOF {
			break
		}
		if err != nil {
			err = fmt.Errorf("%s: line %d: %v", pos[1], line+1, err)
			if imp != nil {
				err = fmt.Errorf("%w (import %s left open: the server lets it lapse after its timeout)", err, imp.ID)
			}
			return &exitError{code: 2, err: err}
		}
		line++
		read += n
		if long {
			tooLong("")
			continue
		}
		b := bytes.TrimSpace(raw)
		if len(b) == 0 {
			continue
		}
		if *addIDs {
			if b = withID(b, filepath.Base(pos[1]), line); len(b)+1 > eventio.MaxLine {
				tooLong(" once --add-ids gives it an id")
				continue
			}
		}
		if buf.Len()+len(b)+1 > maxPushBody { // a batch of long lines: send it before it is too large
			if err := flush(); err != nil {
				return &exitError{code: 1, err: err}
			}
		}
		buf.Write(b)
		buf.WriteByte('\n')
		lines = append(lines, line)
		if len(lines) >= *batch {
			if err := flush(); err != nil {
				return &exitError{code: 1, err: err}
			}
		}
	}
	if err := flush(); err != nil {
		return &exitError{code: 1, err: err}
	}
	if imp != nil {
		// every batch is in (rejected events will not come back fixed):
		// the accounts may be settled again
		if _, err := c.FinishImport(context.Background(), imp.ID); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("cannot finish import %s: %w", imp.ID, err)}
		}
	}
	progress(true)
	// the lines rejected here came before those of their batch
	sort.SliceStable(total.Errors, func(i, j int) bool { return total.Errors[i].Line < total.Errors[j].Line })
	for i, e := range total.Errors {
		if i == 50 {
			fmt.Fprintf(stderr, "… and %d more rejected\n", len(total.Errors)-50)
			break
		}
		fmt.Fprintf(stderr, "%s: %s\n", pos[1], e.Error)
	}
	fmt.Fprintf(stdout, "accepted %d, duplicate %d, rejected %d\n", total.Accepted, total.Duplicate, total.Rejected)
	if total.Rejected > 0 {
		return &exitError{code: 1, err: errors.New("")}
	}
	return nil
}

// maxPushBody is the most a batch request holds: the server's limit
// (lbhttp.MaxBody). A var for tests.
var maxPushBody = lbhttp.MaxBody

// inFile returns e, a rejection of the batch whose events came from the
// file's lines, with its line in the file: the server counts lines (and
// indexes) from the start of the batch, and some of its reasons (an id
// already used by a different event) name no line. Its Error begins
// "line N" (the file's line), whatever the server's began with.
func inFile(e livebill.IngestStatus, lines []int) livebill.IngestStatus {
	i := e.Index
	if i < 0 || i >= len(lines) {
		i = e.Line - 1 // one event a line in the batch
	}
	if i < 0 || i >= len(lines) {
		return e // not an event of the batch: left as the server said it
	}
	msg := ": " + e.Error
	// the server's own "line N" at the start, if it wrote one, goes
	rest, ok := strings.CutPrefix(e.Error, fmt.Sprintf("line %d", e.Line))
	if e.Line > 0 && ok && (rest == "" || rest[0] == ' ' || rest[0] == ':') {
		msg = rest
	}
	e.Line = lines[i]
	e.Error = fmt.Sprintf("line %d%s", e.Line, msg)
	return e
}

// readLine reads the next line of r into buf's array: its bytes without
// the newline, and n, the bytes read with it. A line that would be longer
// than max bytes with its newline (a last line without one counts one, as
// it is sent with one) is read to its end and dropped, never held: long is
// true and line empty. err is io.EOF once nothing is left.
func readLine(r *bufio.Reader, buf []byte, max int) (line []byte, n int64, long bool, err error) {
	line = buf[:0]
	for {
		chunk, rerr := r.ReadSlice('\n')
		n += int64(len(chunk))
		if !long && len(line)+len(chunk) > max {
			long, line = true, line[:0]
		}
		if !long {
			line = append(line, chunk...)
		}
		switch {
		case rerr == bufio.ErrBufferFull:
			continue // the line goes on
		case rerr == io.EOF && n > 0:
			if !long && len(line)+1 > max {
				long, line = true, line[:0]
			}
			return line, n, long, nil
		case rerr != nil:
			return line, n, long, rerr
		}
		return bytes.TrimSuffix(line, []byte("\n")), n, long, nil
	}
}

// pushWithRetry sends one batch with push, retrying transport failures
// and 5xx answers with backoff for up to d (safe: ingestion is
// idempotent).
func pushWithRetry(push func(context.Context, []byte) (*livebill.IngestResult, error), body []byte, d time.Duration) (*livebill.IngestResult, error) {
	deadline := time.Now().Add(d)
	wait := 100 * time.Millisecond
	for {
		res, err := push(context.Background(), body)
		if err == nil {
			return res, nil
		}
		code := livebill.ErrorCode(err)
		if code != livebill.EINTERNAL || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(wait)
		if wait < 2*time.Second {
			wait *= 2
		}
	}
}

// withID adds "id": "base:line" to a JSON object that has no id.
func withID(b []byte, base string, line int) []byte {
	var v struct {
		ID *json.RawMessage `json:"id"`
	}
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &v) != nil || v.ID != nil {
		return b // left for the server to judge
	}
	id := strconv.Quote(base + ":" + strconv.Itoa(line))
	rest := bytes.TrimSpace(b[1:])
	out := append([]byte(`{"id":`), id...)
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

func cmdEventsRestore(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("events restore", eventsRestoreSynopsis, stderr)
	dbf := addDBFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("usage: livebill events restore FILE.ndjson.zst|DIR...")}
	}
	var files []string
	for _, p := range pos {
		st, err := os.Stat(p)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, archive.Ext) {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	db, err := dbf.value()
	if err != nil {
		return err
	}
	ctx := context.Background()
	store, err := openStore(ctx, db, livebill.SystemClock{})
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("cannot open the database (%s): %w", describeDB(db), err)}
	}
	defer store.Close()
	n, err := billing.New(store, livebill.SystemClock{}).RestoreArchives(ctx, files)
	fmt.Fprintf(stdout, "restored %d events from %d files\n", n, len(files))
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}
